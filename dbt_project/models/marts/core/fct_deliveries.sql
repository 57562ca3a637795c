with

deliveries as (

    select * from {{ ref('stg_deliveries') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        ---------- ids
        deliveries.delivery_id,
        deliveries.order_id,
        orders.customer_id,
        orders.rep_id,
        orders.team_id,

        ---------- strings
        deliveries.status,

        ---------- numerics
        {{ duration_days('orders.signed_at', 'deliveries.delivered_at') }} as days_since_signing,

        ---------- booleans
        deliveries.status = 'delivered' as is_delivered,
        deliveries.status = 'delivered'
            and deliveries.delivered_at = orders.latest_delivered_at as is_latest_delivered,
        coalesce(orders.is_live, false) as is_order_live,

        ---------- timestamps and local dates
        deliveries.delivered_at,
        deliveries.delivered_at_local,
        deliveries.delivered_on,
        orders.signed_at as order_signed_at

    from deliveries
    left join orders
        on deliveries.order_id = orders.order_id

)

select * from final
