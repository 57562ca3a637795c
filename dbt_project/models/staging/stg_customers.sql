with

source as (

    select * from {{ ref('base_customers') }}

),

current_customers as (

    select * from source
    where not coalesce(is_deleted, false)
        and created_at < {{ as_of_cutoff() }}

),

renamed as (

    select
        ---------- ids
        cast(customer_id as {{ type_string() }}) as customer_id,
        cast(referred_by_customer_id as {{ type_string() }}) as referred_by_customer_id,
        cast(owner_rep_id as {{ type_string() }}) as owner_rep_id,

        ---------- strings
        cast(customer_name as {{ type_string() }}) as customer_name,
        {{ clean_code('segment') }} as segment,
        cast(industry as {{ type_string() }}) as industry,
        cast(region as {{ type_string() }}) as region,
        cast(country as {{ type_string() }}) as country,
        {{ clean_code('acquisition_channel') }} as acquisition_channel,
        cast(email as {{ type_string() }}) as email,  -- PII: staging only
        cast(phone as {{ type_string() }}) as phone,  -- PII: staging only

        ---------- timestamps (churned_at after the as-of cutoff is not known yet)
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        {{ to_local_timestamp('created_at') }} as created_at_local,
        {{ to_local_date('created_at') }} as created_on,
        {{ as_of_milestone('cast(churned_at as ' ~ type_timestamptz() ~ ')') }} as churned_at,
        {{ to_local_timestamp(as_of_milestone('cast(churned_at as ' ~ type_timestamptz() ~ ')')) }} as churned_at_local,
        {{ to_local_date(as_of_milestone('cast(churned_at as ' ~ type_timestamptz() ~ ')')) }} as churned_on,
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from current_customers

)

select * from renamed
