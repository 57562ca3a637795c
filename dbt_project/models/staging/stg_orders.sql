with

source as (

    select * from {{ ref('base_orders') }}

),

current_orders as (

    select * from source
    where not coalesce(is_deleted, false)
        and signed_at < {{ as_of_cutoff() }}

),

renamed as (

    select
        ---------- ids
        cast(order_id as {{ type_string() }}) as order_id,
        cast(customer_id as {{ type_string() }}) as customer_id,
        cast(opportunity_id as {{ type_string() }}) as opportunity_id,
        cast(rep_id as {{ type_string() }}) as rep_id,

        ---------- strings
        {{ clean_code('status') }} as status,
        upper(trim(currency)) as currency,

        ---------- numerics (original currency)
        cast(amount as decimal(18, 4)) as amount,
        cast(cost as decimal(18, 4)) as cost,

        ---------- booleans
        {{ clean_code('status') }} = 'active' as is_live,

        ---------- timestamps
        cast(signed_at as {{ type_timestamptz() }}) as signed_at,
        {{ to_local_timestamp('signed_at') }} as signed_at_local,
        {{ to_local_date('signed_at') }} as signed_on,
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from current_orders

)

select * from renamed
