with

source as (

    select * from {{ ref('base_leads') }}

),

current_leads as (

    select
        *,
        -- milestones after the as-of cutoff had not happened yet
        {{ as_of_milestone('cast(first_contacted_at as ' ~ type_timestamptz() ~ ')') }} as first_contacted_at_asof,
        {{ as_of_milestone('cast(qualified_at as ' ~ type_timestamptz() ~ ')') }} as qualified_at_asof,
        {{ as_of_milestone('cast(disqualified_at as ' ~ type_timestamptz() ~ ')') }} as disqualified_at_asof
    from source
    where not coalesce(is_deleted, false)
        and created_at < {{ as_of_cutoff() }}

),

renamed as (

    select
        ---------- ids
        cast(lead_id as {{ type_string() }}) as lead_id,
        cast(campaign_id as {{ type_string() }}) as campaign_id,
        cast(owner_rep_id as {{ type_string() }}) as owner_rep_id,
        cast(converted_customer_id as {{ type_string() }}) as converted_customer_id,
        cast(converted_opportunity_id as {{ type_string() }}) as converted_opportunity_id,

        ---------- strings
        {{ clean_code('channel') }} as channel,
        cast(email as {{ type_string() }}) as email,  -- PII: staging only

        ---------- timestamps
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        {{ to_local_timestamp('created_at') }} as created_at_local,
        {{ to_local_date('created_at') }} as created_on,
        first_contacted_at_asof as first_contacted_at,
        {{ to_local_timestamp('first_contacted_at_asof') }} as first_contacted_at_local,
        {{ to_local_date('first_contacted_at_asof') }} as first_contacted_on,
        qualified_at_asof as qualified_at,
        {{ to_local_timestamp('qualified_at_asof') }} as qualified_at_local,
        {{ to_local_date('qualified_at_asof') }} as qualified_on,
        disqualified_at_asof as disqualified_at,
        {{ to_local_timestamp('disqualified_at_asof') }} as disqualified_at_local,
        {{ to_local_date('disqualified_at_asof') }} as disqualified_on,
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from current_leads

)

select * from renamed
