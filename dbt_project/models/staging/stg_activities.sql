with

source as (

    select * from {{ ref('base_activities') }}

),

renamed as (

    select
        ---------- ids
        cast(activity_id as {{ type_string() }}) as activity_id,
        cast(rep_id as {{ type_string() }}) as rep_id,
        cast(lead_id as {{ type_string() }}) as lead_id,
        cast(opportunity_id as {{ type_string() }}) as opportunity_id,
        cast(customer_id as {{ type_string() }}) as customer_id,

        ---------- strings
        {{ clean_code('activity_type') }} as activity_type,
        {{ clean_code('direction') }} as direction,

        ---------- timestamps
        cast(occurred_at as {{ type_timestamptz() }}) as occurred_at,
        {{ to_local_timestamp('occurred_at') }} as occurred_at_local,
        {{ to_local_date('occurred_at') }} as occurred_on,
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where occurred_at < {{ as_of_cutoff() }}

)

select * from renamed
