{#- One row per order (all statuses; filter is_live for KPIs), with amounts in the original and
    the reporting currency, the rep's team and the customer's attributes at the as-of date. -#}
-- depends_on: {{ ref('base_orders') }}
-- depends_on: {{ ref('base_customers') }}
-- depends_on: {{ ref('base_deliveries') }}
-- depends_on: {{ ref('stg_customers') }}
-- depends_on: {{ source('raw', 'deliveries') }}
{{ incremental_fact_config(['order_id']) }}

with

reps as (

    select * from {{ ref('dim_rep') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),
{%- if is_incremental() %}

-- orders rewritten (new, corrected, deleted) or signed since the previous build
changed_orders as (

    select order_id from {{ ref('base_orders') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select order_id from {{ ref('stg_orders') }}
    where signed_at >= {{ previous_build_cutoff() }}

    union

    -- orders whose latest delivery can have changed: every order named by any version of a
    -- rewritten delivery (before and after a change of order), and those of newly visible ones
    select order_id from {{ source('raw', 'deliveries') }}
    where delivery_id in (
        select delivery_id from {{ ref('base_deliveries') }}
        where {{ written_since_last_build('_cutoff') }}
    )

    union

    select order_id from {{ ref('stg_deliveries') }}
    where delivered_at >= {{ previous_build_cutoff() }}

    union

    -- stored rows whose rep's team changed
    select facts.order_id
    from {{ this }} as facts
    left join reps
        on facts.rep_id = reps.rep_id
    where facts.team_id is distinct from reps.team_id
        or facts.team_name is distinct from reps.team_name
        or facts.rep_region is distinct from reps.region

    union

    -- stored rows whose exchange rate changed (the reporting currency is always 1)
    select facts.order_id
    from (
        select * from {{ this }}
        where currency <> {{ reporting_currency() }}
    ) as facts
    {{ join_fx_rate('fx', 'facts.currency', 'facts.signed_on') }}
    where facts.fx_rate is distinct from fx.rate_to_reporting

),

-- customers whose orders are all computed again: those whose attributes changed (rewritten or
-- newly visible), and those of changed orders, before and after (their live-order sequence)
changed_customers as (

    select customer_id from {{ ref('base_customers') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select customer_id from {{ ref('stg_customers') }}
    where created_at >= {{ previous_build_cutoff() }}

    union

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

deliveries as (

    select
        order_id,
        max(delivered_at) as latest_delivered_at
    from {{ ref('stg_deliveries') }}
    where status = 'delivered'
    {%- if is_incremental() %}
        and order_id in (select order_id from changed_keys)
    {%- endif %}
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

{{ incremental_fact_rows('order_id') }}
