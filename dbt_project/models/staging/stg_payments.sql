with

source as (

    select * from {{ ref('base_payments') }}

),

renamed as (

    select
        ---------- ids
        cast(payment_id as {{ type_string() }}) as payment_id,
        cast(order_id as {{ type_string() }}) as order_id,

        ---------- strings
        upper(trim(currency)) as currency,

        ---------- numerics (original currency)
        cast(amount as decimal(18, 4)) as amount,

        ---------- timestamps
        cast(paid_at as {{ type_timestamptz() }}) as paid_at,
        {{ to_local_timestamp('paid_at') }} as paid_at_local,
        {{ to_local_date('paid_at') }} as paid_on,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where paid_at < {{ as_of_cutoff() }}

)

select * from renamed
