{#- Customer KPIs (metrics.md "Customers") per period (month, fiscal quarter, fiscal year) and
    slice: company, and the customer's acquisition channel, segment, region and owner rep (slice
    'rep' = dim_customer.owner_rep_id). Every measure counts customers, so every measure is sliced
    by the customer's current attributes. Customer universe: dim_customer.
    Dense: every period from the first with a new customer through the as-of period, for every
    slice value seen, with zero counts where nothing happened and NULL rates on zero denominators.
    - new_customers: acquired_on (first live order) in t; referral on them.
    - customers_at_start: active on period_start - 1; churned: of those, not active on period_end
      (the as-of date for the partial period). Customers acquired in t are in neither (they have
      no live order before t, so they are not active on its eve).
    - ordering / repeat customers: live orders signed in t; repeat = live orders up to the end of
      t number >= 2, i.e. the customer's last order of t has customer_order_number >= 2. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
{%- set slices = {
    'channel': 'acquisition_channel',
    'segment': 'segment',
    'region': 'region',
    'rep': 'owner_rep_id',
} -%}
{#- the slice attributes as the strings the mart shows ('unknown' for a missing one) -#}
{%- set slice_attributes -%}
    {% for slice, column in slices.items() -%}
        coalesce(cast(customers.{{ column }} as {{ type_string() }}), 'unknown') as slice_{{ slice }}
        {%- if not loop.last %},
        {% endif %}
    {%- endfor %}
{%- endset %}

with

customers as (

    select * from {{ ref('dim_customer') }}

),

live_orders as (

    select
        fct_orders.customer_id,
        fct_orders.signed_on,
        fct_orders.customer_order_number
    from {{ ref('fct_orders') }} as fct_orders
    inner join customers
        on fct_orders.customer_id = customers.customer_id
    where fct_orders.is_live

),

periods as (

    select * from {{ ref('int_periods') }}

),

active_days as (

    select * from {{ ref('int_customer_active_on_boundaries') }}

),

acquisitions as (

    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ period_start(grain, 'acquired_on') }} as period_start,
        customer_id,
        1 as is_new,
        case when is_referred then 1 else 0 end as is_referred_new,
        0 as is_at_start,
        0 as is_churned,
        0 as is_ordering,
        0 as is_repeat
    from customers
    where acquired_on is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

ordering as (

    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ period_start(grain, 'signed_on') }} as period_start,
        customer_id,
        0 as is_new,
        0 as is_referred_new,
        0 as is_at_start,
        0 as is_churned,
        1 as is_ordering,
        case when max(customer_order_number) >= 2 then 1 else 0 end as is_repeat
    from live_orders
    group by 1, 2, 3
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

retention as (

    select
        periods.period_type,
        periods.period_start,
        at_start.customer_id,
        0 as is_new,
        0 as is_referred_new,
        1 as is_at_start,
        case when at_end.customer_id is null then 1 else 0 end as is_churned,
        0 as is_ordering,
        0 as is_repeat
    from periods
    inner join active_days as at_start
        on at_start.active_on = {{ add_days('periods.period_start', -1) }}
    left join active_days as at_end
        on at_end.customer_id = at_start.customer_id
        and at_end.active_on = periods.period_end

),

customer_periods as (

    -- One row per customer and period within each source, and each flag comes from one source:
    -- summing the sources' rows gives the counts of one row per customer and period, without a
    -- hash aggregate over every (period, customer), which ran out of memory at 10 million orders.
    select * from acquisitions
    union all
    select * from ordering
    union all
    select * from retention

),

attributed as (

    -- No attribute is NULL here, so a NULL below can only mean "not grouped by this attribute".
    select
        customer_periods.*,
        {{ slice_attributes }}
    from customer_periods
    inner join customers
        on customer_periods.customer_id = customers.customer_id

),

grouped as (

    -- Every measure but referring_customers is a sum of 0/1 flags, so one pass with a grouping
    -- set per slice counts them all; the five copies of every (customer, period) row that a
    -- union of the slices would make, and their distinct-count sort, are gone.
    select
        period_type,
        period_start,
        {% for slice in slices -%}
        slice_{{ slice }},
        {% endfor -%}
        sum(is_new) as new_customers,
        sum(is_referred_new) as referred_new_customers,
        sum(is_at_start) as customers_at_start,
        sum(is_churned) as churned,
        sum(is_ordering) as ordering_customers,
        sum(is_repeat) as repeat_customers
    from attributed
    group by grouping sets (
        (period_type, period_start),
        {% for slice in slices -%}
        (period_type, period_start, slice_{{ slice }}){% if not loop.last %},{% endif %}
        {% endfor -%}
    )

),

counted as (

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
        new_customers,
        referred_new_customers,
        customers_at_start,
        churned,
        ordering_customers,
        repeat_customers
    from grouped

),

referrals as (

    -- The referring customers of the new customers, per period and slice: a distinct count, so
    -- counted apart, over the referred acquisitions only.
    select
        acquisitions.period_type,
        acquisitions.period_start,
        customers.referred_by_customer_id,
        {{ slice_attributes }}
    from acquisitions
    inner join customers
        on acquisitions.customer_id = customers.customer_id
    where acquisitions.is_referred_new = 1
        and customers.referred_by_customer_id is not null

),

referring as (

    select
        period_type,
        period_start,
        'company' as slice,
        cast(null as {{ type_string() }}) as slice_value,
        count(distinct referred_by_customer_id) as referring_customers
    from referrals
    group by period_type, period_start
    {% for slice in slices %}
    union all
    select
        period_type,
        period_start,
        '{{ slice }}' as slice,
        slice_{{ slice }} as slice_value,
        count(distinct referred_by_customer_id) as referring_customers
    from referrals
    group by period_type, period_start, slice_{{ slice }}
    {% endfor %}

),

aggregated as (

    select
        counted.period_type,
        counted.period_start,
        counted.slice,
        counted.slice_value,
        counted.new_customers,
        counted.referred_new_customers,
        coalesce(referring.referring_customers, 0) as referring_customers,
        counted.customers_at_start,
        counted.churned,
        counted.ordering_customers,
        counted.repeat_customers
    from counted
    left join referring
        on {{ same_period_slice('counted', 'referring') }}

),

first_acquisition as (

    select min(acquired_on) as first_acquired_on
    from customers

),

first_period_starts as (

    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ period_start(grain, 'first_acquired_on') }} as first_period_start
    from first_acquisition
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

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
        slice_values.slice,
        slice_values.slice_value
    from periods
    inner join first_period_starts
        on periods.period_type = first_period_starts.period_type
        and periods.period_start >= first_period_starts.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.*,
        cast(coalesce(aggregated.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(aggregated.referred_new_customers, 0) as bigint) as referred_new_customers,
        cast(coalesce(aggregated.referring_customers, 0) as bigint) as referring_customers,
        cast(coalesce(aggregated.customers_at_start, 0) as bigint) as customers_at_start,
        cast(coalesce(aggregated.churned, 0) as bigint) as churned,
        cast(coalesce(aggregated.ordering_customers, 0) as bigint) as ordering_customers,
        cast(coalesce(aggregated.repeat_customers, 0) as bigint) as repeat_customers
    from spine
    left join aggregated
        on {{ same_period_slice('spine', 'aggregated') }}

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

        ---------- acquisition
        new_customers,
        referred_new_customers,
        {{ safe_divide('referred_new_customers', 'new_customers') }} as referral_rate,
        referring_customers,

        ---------- retention
        customers_at_start,
        churned,
        {{ safe_divide('churned', 'customers_at_start') }} as churn_rate,

        ---------- repurchase
        ordering_customers,
        repeat_customers,
        {{ safe_divide('repeat_customers', 'ordering_customers') }} as repurchase_rate

    from dense

)

select * from final
