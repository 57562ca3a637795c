with

source as (

    select * from {{ ref('base_deliveries') }}

),

renamed as (

    select
        ---------- ids
        cast(delivery_id as {{ type_string() }}) as delivery_id,
        cast(order_id as {{ type_string() }}) as order_id,

        ---------- strings
        {{ clean_code('status') }} as status,

        ---------- timestamps
        cast(delivered_at as {{ type_timestamptz() }}) as delivered_at,
        {{ to_local_timestamp('delivered_at') }} as delivered_at_local,
        {{ to_local_date('delivered_at') }} as delivered_on,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where delivered_at < {{ as_of_cutoff() }}

)

select * from renamed
