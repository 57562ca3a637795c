{#- Historical customer lifetime value (metrics.md "Customer lifetime value": clv_historical),
    one row per acquired customer (dim_customer with at least one live order): Σ amount and
    Σ gross profit of its live orders to the as-of date, in the reporting currency. Gross profit
    is NULL when any of its live orders lacks cost and no default_gross_margin is configured.
    Lean and PII-free: no name, email or phone. -#}
with

customers as (

    select * from {{ ref('dim_customer') }}
    where is_acquired

),

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live

),

active_at_as_of as (

    select customer_id
    from {{ ref('int_customer_active_on_boundaries') }}
    where active_on = {{ as_of_date() }}

),

order_totals as (

    select
        customer_id,
        count(*) as live_orders,
        sum(amount_rpt) as amount_rpt,
        sum(gross_profit_rpt) as known_gross_profit_rpt,
        count(*) filter (where gross_profit_rpt is null) as orders_missing_gross_profit,
        max(signed_on) as last_order_on
    from live_orders
    group by customer_id

),

final as (

    select
        ---------- ids
        customers.customer_id,

        ---------- strings
        customers.segment,
        customers.region,
        customers.acquisition_channel,

        ---------- numerics
        cast(order_totals.live_orders as bigint) as live_orders,
        cast(order_totals.amount_rpt as decimal(18, 4)) as clv_historical_amount,
        case when order_totals.orders_missing_gross_profit = 0
            then cast(order_totals.known_gross_profit_rpt as decimal(18, 4))
        end as clv_historical_gross_profit,

        ---------- booleans
        active_at_as_of.customer_id is not null as is_active_at_as_of,

        ---------- dates
        customers.acquired_on,
        order_totals.last_order_on

    from customers
    inner join order_totals
        on customers.customer_id = order_totals.customer_id
    left join active_at_as_of
        on customers.customer_id = active_at_as_of.customer_id

)

select * from final
