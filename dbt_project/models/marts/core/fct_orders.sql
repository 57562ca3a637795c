{#- One row per order (all statuses; filter is_live for KPIs), with amounts in the original and
    the reporting currency, the rep's team and the customer's attributes at the as-of date. -#}
-- depends_on: {{ ref('base_orders') }}
{{ incremental_fact_config(['order_id']) }}

with

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
{%- if is_incremental() %}

-- orders rewritten (new, corrected, deleted) or signed since the previous build, and stored
-- rows whose team, customer attributes, exchange rate or latest delivery changed
changed_orders as (

    select order_id from {{ ref('base_orders') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select order_id from {{ ref('stg_orders') }}
    where signed_at >= {{ previous_build_cutoff() }}

    union

    select facts.order_id
    from {{ this }} as facts
    left join reps
        on facts.rep_id = reps.rep_id
    left join customers
        on facts.customer_id = customers.customer_id
    left join deliveries
        on facts.order_id = deliveries.order_id
    {{ join_fx_rate('fx', 'facts.currency', 'facts.signed_on') }}
    where facts.team_id is distinct from reps.team_id
        or facts.team_name is distinct from reps.team_name
        or facts.rep_region is distinct from reps.region
        or facts.customer_region is distinct from customers.region
        or facts.customer_acquisition_channel is distinct from customers.acquisition_channel
        or facts.customer_segment is distinct from customers.segment
        or facts.fx_rate is distinct from fx.rate_to_reporting
        or facts.latest_delivered_at is distinct from deliveries.latest_delivered_at

),

-- their customers, before and after: every live order of each is numbered again
changed_customers as (

    select customer_id from {{ ref('stg_orders') }}
    where order_id in (select order_id from changed_orders)

    union

    select customer_id from {{ this }}
    where order_id in (select order_id from changed_orders)

),

changed_keys as (

    select order_id from changed_orders

    union

    select order_id from {{ ref('stg_orders') }}
    where customer_id in (select customer_id from changed_customers)

),
{%- endif %}

orders as (

    select * from {{ ref('stg_orders') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_keys)
    {%- endif %}

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

{{ incremental_fact_rows('order_id') }}
