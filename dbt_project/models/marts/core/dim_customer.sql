with

customers as (

    select * from {{ ref('stg_customers') }}

),

reps as (

    select * from {{ ref('stg_reps') }}

),

live_orders as (

    select
        customer_id,
        order_id,
        signed_at,
        signed_at_local,
        signed_on,
        row_number() over (partition by customer_id order by signed_at, order_id) as order_number
    from {{ ref('stg_orders') }}
    where is_live

),

order_summary as (

    select
        customer_id,
        count(*) as live_orders_count,
        max(signed_at) as last_order_at,
        max(signed_on) as last_order_on
    from live_orders
    group by customer_id

),

first_orders as (

    select * from live_orders
    where order_number = 1

),

final as (

    select
        ---------- ids
        customers.customer_id,
        customers.referred_by_customer_id,
        customers.owner_rep_id,
        reps.team_id as owner_team_id,
        first_orders.order_id as first_order_id,

        ---------- strings (no PII: email and phone stay in staging)
        customers.customer_name,
        customers.segment,
        customers.industry,
        customers.region,
        customers.country,
        customers.acquisition_channel,

        ---------- numerics
        coalesce(order_summary.live_orders_count, 0) as live_orders_count,

        ---------- booleans
        customers.referred_by_customer_id is not null as is_referred,
        first_orders.order_id is not null as is_acquired,

        ---------- timestamps and local dates
        customers.created_at,
        customers.created_at_local,
        customers.created_on,
        first_orders.signed_at as acquired_at,
        first_orders.signed_at_local as acquired_at_local,
        first_orders.signed_on as acquired_on,
        order_summary.last_order_at,
        order_summary.last_order_on,
        customers.churned_at,
        customers.churned_at_local,
        customers.churned_on

    from customers
    left join reps
        on customers.owner_rep_id = reps.rep_id
    left join first_orders
        on customers.customer_id = first_orders.customer_id
    left join order_summary
        on customers.customer_id = order_summary.customer_id

)

select * from final
