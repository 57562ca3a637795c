{#- One row per order (all statuses; filter is_live for KPIs), with amounts in the original and
    the reporting currency, the rep's team and the customer's attributes at the as-of date. -#}
with

orders as (

    select * from {{ ref('stg_orders') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

deliveries as (

    select
        order_id,
        max(delivered_at) as latest_delivered_at
    from {{ ref('stg_deliveries') }}
    where status = 'delivered'
    group by order_id

),

converted as (

    select
        orders.*,
        fx.rate_to_reporting as fx_rate,
        {{ to_reporting_currency('orders.amount', 'fx.rate_to_reporting') }} as amount_rpt,
        {{ to_reporting_currency('orders.cost', 'fx.rate_to_reporting') }} as known_cost_rpt
    from orders
    {{ join_fx_rate('fx', 'orders.currency', 'orders.signed_on') }}

),

costed as (

    select
        *,
        -- missing cost: estimated from the configured default margin, else unknown (NULL)
        coalesce(
            known_cost_rpt,
            {{ to_reporting_currency('amount_rpt', '(1 - ' ~ default_gross_margin() ~ ')') }}
        ) as cost_rpt,
        cost is null and {{ default_gross_margin() }} is not null as is_cost_estimated,
        case when is_live then
            row_number() over (
                partition by customer_id, is_live
                order by signed_at, order_id
            )
        end as customer_order_number
    from converted

),

final as (

    select
        ---------- ids
        costed.order_id,
        costed.customer_id,
        costed.opportunity_id,
        costed.rep_id,
        reps.team_id,

        ---------- strings
        costed.status,
        costed.currency,
        reps.team_name,
        reps.region as rep_region,
        customers.region as customer_region,
        customers.acquisition_channel as customer_acquisition_channel,
        customers.segment as customer_segment,

        ---------- numerics: original currency
        costed.amount,
        costed.cost,

        ---------- numerics: reporting currency
        costed.fx_rate,
        costed.amount_rpt,
        costed.cost_rpt,
        cast(costed.amount_rpt - costed.cost_rpt as decimal(19, 4)) as gross_profit_rpt,
        costed.customer_order_number,

        ---------- booleans
        costed.is_live,
        coalesce(costed.customer_order_number = 1, false) as is_first_order,
        costed.cost is not null as has_cost,
        costed.is_cost_estimated,

        ---------- timestamps and local dates
        costed.signed_at,
        costed.signed_at_local,
        costed.signed_on,
        deliveries.latest_delivered_at,
        {{ to_local_timestamp('deliveries.latest_delivered_at') }} as latest_delivered_at_local,
        {{ to_local_date('deliveries.latest_delivered_at') }} as latest_delivered_on,
        {{ duration_days('costed.signed_at', 'deliveries.latest_delivered_at') }} as delivery_time_days

    from costed
    left join reps
        on costed.rep_id = reps.rep_id
    left join customers
        on costed.customer_id = customers.customer_id
    left join deliveries
        on costed.order_id = deliveries.order_id

)

select * from final
