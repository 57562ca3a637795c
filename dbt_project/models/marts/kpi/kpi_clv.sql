{#- Trailing-12-month CLV (metrics.md "Customer lifetime value") at the end of each month m, over
    the 12 calendar months ending with m: the window runs from the first day of month m - 11
    through period_end (the month end, or the as-of date for the partial as-of month).
    Slices: company, and the customer's segment and acquisition channel (CAC measures: company
    rows only, compensation and most spend are not attributable to a segment).
    Set-based throughout: sums over a dense month spine with 12-row window frames; distinct
    ordering customers over the window from per-customer coverage intervals (each customer-month
    with orders covers months k .. k+11; the part not already covered by the customer's previous
    order month becomes a +1/-1 pair, and a running sum counts the customers covering each month);
    annual churn from the activity of customers on two boundary days.
    lifespan_years = 1 / annual_churn_12m capped at var('max_lifespan_years'); when annual churn
    is 0 (nobody churned) it is the cap; when it is NULL (nobody active before the window) it is
    NULL and so is clv_simple. -#}
{%- set slices = {
    'segment': 'segment',
    'channel': 'acquisition_channel',
} -%}
{%- set max_lifespan = var('max_lifespan_years') | float -%}

with

customers as (

    select * from {{ ref('dim_customer') }}

),

live_orders as (

    select
        fct_orders.customer_id,
        fct_orders.signed_on,
        fct_orders.amount_rpt,
        fct_orders.gross_profit_rpt
    from {{ ref('fct_orders') }} as fct_orders
    inner join customers
        on fct_orders.customer_id = customers.customer_id
    where fct_orders.is_live

),

months as (

    select * from {{ ref('int_periods') }}
    where period_type = 'month'

),

active_days as (

    select * from {{ ref('int_customer_active_on_boundaries') }}

),

cac_monthly as (

    select * from {{ ref('int_cac_monthly') }}
    where slice = 'company'

),

inputs as (

    select
        coalesce(bool_or(input_name = 'marketing_spend' and is_missing), false) as is_spend_missing,
        coalesce(bool_or(input_name = 'sales_compensation' and is_missing), false) as is_compensation_missing
    from {{ ref('int_input_availability') }}

),

customer_months as (

    select
        customer_id,
        {{ period_start('month', 'signed_on') }} as month_start,
        sum(amount_rpt) as bookings,
        count(*) as orders,
        sum(gross_profit_rpt) as known_gross_profit,
        count(*) filter (where gross_profit_rpt is null) as orders_missing_gross_profit,
        0 as new_customers
    from live_orders
    group by 1, 2

    union all

    -- acquisitions (no order measures): new customers of the window per slice
    select
        customer_id,
        {{ period_start('month', 'acquired_on') }} as month_start,
        null as bookings,
        0 as orders,
        null as known_gross_profit,
        0 as orders_missing_gross_profit,
        1 as new_customers
    from customers
    where acquired_on is not null

),

sliced_customer_months as (

    select
        'company' as slice,
        cast(null as {{ type_string() }}) as slice_value,
        customer_months.*
    from customer_months
    {% for slice, column in slices.items() %}
    union all
    select
        '{{ slice }}' as slice,
        coalesce(cast(customers.{{ column }} as {{ type_string() }}), 'unknown') as slice_value,
        customer_months.*
    from customer_months
    inner join customers
        on customer_months.customer_id = customers.customer_id
    {% endfor %}

),

slice_months as (

    select
        slice,
        slice_value,
        month_start,
        sum(bookings) as bookings,
        sum(orders) as orders,
        sum(known_gross_profit) as known_gross_profit,
        sum(orders_missing_gross_profit) as orders_missing_gross_profit,
        sum(new_customers) as new_customers
    from sliced_customer_months
    group by 1, 2, 3

),

ordering_months as (

    select distinct
        slice,
        slice_value,
        customer_id,
        month_start
    from sliced_customer_months
    where orders > 0

),

coverage as (

    select
        slice,
        slice_value,
        month_start,
        lag(month_start) over (
            partition by slice, slice_value, customer_id
            order by month_start
        ) as previous_month_start
    from ordering_months

),

coverage_deltas as (

    -- +1 where the customer's 12-month coverage starts, -1 the month after it ends
    select
        slice,
        slice_value,
        case
            when previous_month_start is null then month_start
            else {{ greatest_of('month_start', add_months('previous_month_start', 12)) }}
        end as month_start,
        1 as delta
    from coverage

    union all

    select
        slice,
        slice_value,
        {{ add_months('month_start', 12) }} as month_start,
        -1 as delta
    from coverage

),

deltas as (

    select
        slice,
        slice_value,
        month_start,
        sum(delta) as delta
    from coverage_deltas
    group by 1, 2, 3

),

slice_values as (

    select 'company' as slice, cast(null as {{ type_string() }}) as slice_value
    union
    select distinct slice, slice_value
    from slice_months

),

first_month as (

    select min(month_start) as first_month_start
    from customer_months
    where orders > 0

),

spine as (

    select
        months.period_type,
        months.period_start,
        months.period_end,
        months.is_partial,
        {{ add_months('months.period_start', -11) }} as window_start,
        slice_values.slice,
        slice_values.slice_value
    from months
    inner join first_month
        on months.period_start >= first_month.first_month_start
    cross join slice_values

),

windowed as (

    select
        spine.*,
        {%- set frame = 'over (partition by spine.slice, spine.slice_value order by spine.period_start rows between 11 preceding and current row)' %}
        sum(coalesce(slice_months.bookings, 0)) {{ frame }} as bookings_12m,
        sum(coalesce(slice_months.orders, 0)) {{ frame }} as orders_12m,
        sum(coalesce(slice_months.known_gross_profit, 0)) {{ frame }} as known_gross_profit_12m,
        sum(coalesce(slice_months.orders_missing_gross_profit, 0)) {{ frame }} as orders_missing_gross_profit_12m,
        sum(coalesce(slice_months.new_customers, 0)) {{ frame }} as new_customers_12m,
        sum(coalesce(deltas.delta, 0)) over (
            partition by spine.slice, spine.slice_value
            order by spine.period_start
            rows between unbounded preceding and current row
        ) as ordering_customers_12m
    from spine
    left join slice_months
        on spine.slice = slice_months.slice
        and spine.slice_value is not distinct from slice_months.slice_value
        and spine.period_start = slice_months.month_start
    left join deltas
        on spine.slice = deltas.slice
        and spine.slice_value is not distinct from deltas.slice_value
        and spine.period_start = deltas.month_start

),

window_bounds as (

    select
        period_start,
        period_end,
        {{ add_days(add_months('period_start', -11), -1) }} as day_before_window
    from months

),

retention_customers as (

    select
        window_bounds.period_start,
        at_start.customer_id,
        case when at_end.customer_id is null then 1 else 0 end as is_churned
    from window_bounds
    inner join active_days as at_start
        on at_start.active_on = window_bounds.day_before_window
    left join active_days as at_end
        on at_end.customer_id = at_start.customer_id
        and at_end.active_on = window_bounds.period_end

),

sliced_retention as (

    select
        'company' as slice,
        cast(null as {{ type_string() }}) as slice_value,
        retention_customers.*
    from retention_customers
    {% for slice, column in slices.items() %}
    union all
    select
        '{{ slice }}' as slice,
        coalesce(cast(customers.{{ column }} as {{ type_string() }}), 'unknown') as slice_value,
        retention_customers.*
    from retention_customers
    inner join customers
        on retention_customers.customer_id = customers.customer_id
    {% endfor %}

),

retention as (

    select
        slice,
        slice_value,
        period_start,
        count(*) as customers_active_before_window,
        sum(is_churned) as churned_in_window
    from sliced_retention
    group by 1, 2, 3

),

acquisition_costs as (

    -- over every month of the calendar (not only the mart's spine): spend before the first order
    -- still belongs to the first windows
    select
        'company' as slice,
        months.period_start,
        sum(coalesce(cac_monthly.ad_spend, 0) + coalesce(cac_monthly.other_marketing, 0)
            + coalesce(cac_monthly.sales_compensation, 0)) over (
            order by months.period_start
            rows between 11 preceding and current row
        ) as known_acquisition_cost_12m
    from months
    left join cac_monthly
        on months.period_start = cac_monthly.month_start

),

measured as (

    select
        windowed.*,
        cast(coalesce(retention.customers_active_before_window, 0) as bigint) as customers_active_before_window,
        cast(coalesce(retention.churned_in_window, 0) as bigint) as churned_in_window,
        case
            when windowed.orders_missing_gross_profit_12m > 0 then null
            else windowed.known_gross_profit_12m
        end as gross_profit_12m,
        case
            when windowed.slice <> 'company' then null
            when inputs.is_spend_missing or inputs.is_compensation_missing then null
            else acquisition_costs.known_acquisition_cost_12m
        end as acquisition_cost_12m,
        case
            when windowed.slice <> 'company' then null
            else nullif(concat_ws(',',
                case when inputs.is_spend_missing then 'marketing_spend' end,
                case when inputs.is_compensation_missing then 'sales_compensation' end
            ), '')
        end as missing_inputs
    from windowed
    cross join inputs
    left join retention
        on windowed.slice = retention.slice
        and windowed.slice_value is not distinct from retention.slice_value
        and windowed.period_start = retention.period_start
    left join acquisition_costs
        on windowed.slice = acquisition_costs.slice
        and windowed.period_start = acquisition_costs.period_start

),

rates as (

    select
        measured.*,
        {{ safe_divide('bookings_12m', 'orders_12m') }} as aov_12m,
        {{ safe_divide('orders_12m', 'ordering_customers_12m') }} as purchase_frequency_12m,
        {{ safe_divide('gross_profit_12m', 'bookings_12m') }} as gross_margin_12m,
        {{ safe_divide('churned_in_window', 'customers_active_before_window') }} as annual_churn_12m,
        case when slice = 'company'
            then {{ safe_divide('acquisition_cost_12m', 'new_customers_12m') }} end as cac_blended_12m
    from measured

),

lifespans as (

    select
        rates.*,
        case
            when annual_churn_12m is null then null
            when annual_churn_12m = 0 then cast({{ max_lifespan }} as {{ type_double() }})
            else {{ least_of('1.0 / annual_churn_12m', 'cast(' ~ max_lifespan ~ ' as ' ~ type_double() ~ ')') }}
        end as lifespan_years
    from rates

),

clv as (

    select
        lifespans.*,
        aov_12m * purchase_frequency_12m * gross_margin_12m * lifespan_years as clv_simple
    from lifespans

),

final as (

    select
        ---------- keys
        period_type,
        period_start,
        period_end,
        is_partial,
        slice,
        slice_value,

        ---------- window
        window_start,
        period_end as window_end,

        ---------- trailing-12-month volumes
        cast(bookings_12m as decimal(18, 4)) as bookings_12m,
        cast(orders_12m as bigint) as orders_12m,
        cast(ordering_customers_12m as bigint) as ordering_customers_12m,
        cast(gross_profit_12m as decimal(18, 4)) as gross_profit_12m,
        aov_12m,
        purchase_frequency_12m,
        gross_margin_12m,

        ---------- churn and lifespan
        customers_active_before_window,
        churned_in_window,
        annual_churn_12m,
        lifespan_years,

        ---------- value
        clv_simple,

        ---------- acquisition cost (company rows)
        cast(acquisition_cost_12m as decimal(18, 4)) as acquisition_cost_12m,
        cast(new_customers_12m as bigint) as new_customers_12m,
        cac_blended_12m,
        case when slice = 'company' then {{ safe_divide('clv_simple', 'cac_blended_12m') }} end as ltv_to_cac,
        case when slice = 'company' then {{ safe_divide(
            'cac_blended_12m',
            '(' ~ safe_divide('gross_profit_12m', 'ordering_customers_12m') ~ ' / 12)'
        ) }} end as cac_payback_months,
        missing_inputs

    from clv

)

select * from final
