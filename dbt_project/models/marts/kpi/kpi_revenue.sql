{#- Revenue KPIs (metrics.md "Revenue") per period (month, fiscal quarter, fiscal year) and slice
    (company, team, rep, customer region / acquisition channel / segment). Dense: every period
    from the first with a live order or payment through the as-of period, for every slice value
    seen, with zero measures where nothing happened. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
{%- set slices = {
    'team': 'team_id',
    'rep': 'rep_id',
    'region': 'customer_region',
    'channel': 'customer_acquisition_channel',
    'segment': 'customer_segment',
} -%}
{%- set growth_measures = ['bookings', 'orders', 'cash_collected', 'gross_profit'] -%}
{#- each slice's value, a missing one as 'unknown' (slice_rows does the same for ordering_customers) -#}
{%- set revenue_slice_attributes -%}
    {% for slice, column in slices.items() -%}
        coalesce(cast({{ column }} as {{ type_string() }}), 'unknown') as slice_{{ slice }}{% if not loop.last %},
        {% endif %}
    {%- endfor %}
{%- endset -%}

with

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live

),

live_order_payments as (

    select * from {{ ref('fct_payments') }}
    where is_order_live

),

periods as (

    select * from {{ ref('int_periods') }}

),

revenue_events as (

    select
        signed_on as event_on,
        order_id,
        {{ revenue_slice_attributes }},
        amount_rpt as booking_rpt,
        gross_profit_rpt,
        case when gross_profit_rpt is null then 1 else 0 end as is_gross_profit_missing,
        cast(null as decimal(18, 4)) as payment_rpt
    from live_orders

    union all

    select
        paid_on as event_on,
        cast(null as {{ type_string() }}) as order_id,
        {{ revenue_slice_attributes }},
        cast(null as decimal(18, 4)) as booking_rpt,
        cast(null as decimal(18, 4)) as gross_profit_rpt,
        0 as is_gross_profit_missing,
        amount_rpt as payment_rpt
    from live_order_payments

),

bucketed as (

    {{ bucket_by_grain('revenue_events', 'event_on', grains) }}

),

grouped as (

    -- Every measure is a sum or a count, so one pass with a grouping set per slice sums them all,
    -- instead of a union of six copies of every event per grain (432 million rows at 10 million
    -- orders). No slice attribute is NULL here, so a NULL below only means "not grouped by it".
    select
        period_type,
        period_start,
        {% for slice in slices -%}
        slice_{{ slice }},
        {% endfor -%}
        sum(booking_rpt) as bookings,
        count(order_id) as orders,
        sum(payment_rpt) as cash_collected,
        sum(gross_profit_rpt) as known_gross_profit,
        sum(is_gross_profit_missing) as orders_missing_gross_profit
    from bucketed
    group by grouping sets (
        (period_type, period_start),
        {% for slice in slices -%}
        (period_type, period_start, slice_{{ slice }}){% if not loop.last %},{% endif %}
        {% endfor -%}
    )

),

summed as (

    select
        period_type,
        period_start,
        case
            {% for slice in slices -%}
            when slice_{{ slice }} is not null then '{{ slice }}'
            {% endfor -%}
            else 'company'
        end as slice,
        coalesce({% for slice in slices %}slice_{{ slice }}{% if not loop.last %}, {% endif %}{% endfor %}) as slice_value,
        bookings,
        orders,
        cash_collected,
        known_gross_profit,
        orders_missing_gross_profit
    from grouped

),

{#- Distinct ordering customers as distinct (period, slice, customer) rows, then their count,
    one grain and slice at a time: one count(distinct ...) per group, and one distinct over all 18
    copies (79 million pairs), each ran out of a 2 GB memory limit at 10 million orders (a hash
    table of them all at once); 18 smaller ones fit, in 17 s. A distinct count cannot be summed
    over grouping sets, so these passes slice the live orders themselves. -#}
order_customers as {{ cte_not_materialized() }} (

    select
        signed_on as event_on,
        customer_id,
        team_id,
        rep_id,
        customer_region,
        customer_acquisition_channel,
        customer_segment
    from {{ ref('fct_orders') }}
    where is_live
        and customer_id is not null

),

order_customers_bucketed as {{ cte_not_materialized() }} (

    {{ bucket_by_grain('order_customers', 'event_on', grains) }}

),

order_customers_sliced as {{ cte_not_materialized() }} (

    {{ slice_rows('order_customers_bucketed', slices) }}

),

ordering_customers as (

    {% for grain in grains %}
    {% set last_grain = loop.last %}
    {% for slice in ['company'] + slices.keys() | list %}
    select
        period_type,
        period_start,
        slice,
        slice_value,
        count(*) as ordering_customers
    from (
        select distinct period_type, period_start, slice, slice_value, customer_id
        from order_customers_sliced
        where period_type = '{{ grain }}'
            and slice = '{{ slice }}'
    ) as period_customers
    group by period_type, period_start, slice, slice_value
    {{ 'union all' if not (loop.last and last_grain) }}
    {% endfor %}
    {% endfor %}

),

aggregated as (

    select
        summed.*,
        coalesce(ordering_customers.ordering_customers, 0) as ordering_customers
    from summed
    left join ordering_customers
        on {{ same_period_slice('summed', 'ordering_customers') }}

),

first_periods as (

    select
        period_type,
        min(period_start) as first_period_start
    from aggregated
    group by period_type

),

slice_values as (

    select distinct slice, slice_value
    from aggregated

),

spine as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_partial,
        periods.prior_period_start,
        periods.prior_year_start,
        slice_values.slice,
        slice_values.slice_value
    from periods
    inner join first_periods
        on periods.period_type = first_periods.period_type
        and periods.period_start >= first_periods.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.*,
        cast(coalesce(aggregated.bookings, 0) as decimal(18, 4)) as bookings,
        coalesce(aggregated.orders, 0) as orders,
        coalesce(aggregated.ordering_customers, 0) as ordering_customers,
        cast(coalesce(aggregated.cash_collected, 0) as decimal(18, 4)) as cash_collected,
        -- unknown if any live order of the period lacks cost (and no default margin is set)
        cast(case
            when coalesce(aggregated.orders_missing_gross_profit, 0) > 0 then null
            else coalesce(aggregated.known_gross_profit, 0)
        end as decimal(18, 4)) as gross_profit
    from spine
    left join aggregated
        on {{ same_period_slice('spine', 'aggregated') }}

),

with_prior as (

    select
        dense.*,
        {% for m in growth_measures %}
        prior_period.{{ m }} as {{ m }}_prior_period,
        prior_year.{{ m }} as {{ m }}_prior_year{{ ',' if not loop.last }}
        {% endfor %}
    from dense
    left join dense as prior_period
        on dense.period_type = prior_period.period_type
        and dense.slice = prior_period.slice
        and dense.slice_value is not distinct from prior_period.slice_value
        and dense.prior_period_start = prior_period.period_start
    left join dense as prior_year
        on dense.period_type = prior_year.period_type
        and dense.slice = prior_year.slice
        and dense.slice_value is not distinct from prior_year.slice_value
        and dense.prior_year_start = prior_year.period_start

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

        ---------- measures
        bookings,
        orders,
        ordering_customers,
        {{ safe_divide('bookings', 'orders') }} as aov,
        cash_collected,
        gross_profit,

        ---------- comparisons
        {% for m in growth_measures %}
        {{ m }}_prior_period,
        {{ m }}_prior_year,
        case when period_type = 'month' then {{ growth(m, m ~ '_prior_period') }} end as {{ m }}_mom,
        case when period_type = 'quarter' then {{ growth(m, m ~ '_prior_period') }} end as {{ m }}_qoq,
        {{ growth(m, m ~ '_prior_year') }} as {{ m }}_yoy{{ ',' if not loop.last }}
        {% endfor %}

    from with_prior

)

select * from final
