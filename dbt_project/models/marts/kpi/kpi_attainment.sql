{#- Target attainment (metrics.md "Targets and attainment", 目标与达成) per period (month, fiscal
    quarter, fiscal year, through the as-of period) and slice (company, team, rep), for bookings
    and new customers.

    actual: int_target_monthly_actuals (bookings by the order's rep / team; new customers by the
    customer's owner rep / team). target: Σ kpi_target_plan months of the period for the slice's
    own scope (company / team / rep target rows; never a sum of other scopes), NULL without any.
    The partial as-of period is measured against its full target (all its months, also those
    after the as-of date). attainment = actual / target. To date (fiscal year to date):
    Σ actual from the start of the fiscal year through period_end / Σ target of the months from
    the start of the fiscal year through the month of period_end. projected (partial period only)
    = actual / days_elapsed x days_in_period. Dense: every period from the first with an actual or
    a target, for every slice value seen. -#}
{%- set metrics = ['bookings', 'new_customers'] -%}
with

periods as (

    select * from {{ ref('int_periods') }}

),

actuals as (

    select * from {{ ref('int_target_monthly_actuals') }}

),

plan as (

    select * from {{ ref('kpi_target_plan') }}

),

plan_monthly as (

    select
        month_start,
        scope as slice,
        scope_id as slice_value,
        sum(case when metric = 'bookings' then target_value end) as bookings_target,
        sum(case when metric = 'new_customers' then target_value end) as new_customers_target
    from plan
    group by month_start, scope, scope_id

),

monthly as (

    select
        coalesce(actuals.month_start, plan_monthly.month_start) as month_start,
        coalesce(actuals.slice, plan_monthly.slice) as slice,
        coalesce(actuals.slice_value, plan_monthly.slice_value) as slice_value,
        coalesce(actuals.bookings, 0) as bookings_actual,
        coalesce(actuals.new_customers, 0) as new_customers_actual,
        plan_monthly.bookings_target,
        plan_monthly.new_customers_target
    from actuals
    full outer join plan_monthly
        on actuals.month_start = plan_monthly.month_start
        and actuals.slice = plan_monthly.slice
        and actuals.slice_value is not distinct from plan_monthly.slice_value

),

first_month as (

    select min(month_start) as first_month_start
    from monthly
    where month_start <= {{ as_of_date() }}

),

slice_values as (

    select distinct slice, slice_value
    from monthly

),

spine as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_end_natural,
        periods.is_partial,
        periods.days_in_period,
        periods.days_elapsed,
        {{ period_start('year', 'periods.period_start') }} as fiscal_year_start,
        slice_values.slice,
        slice_values.slice_value
    from periods
    inner join first_month
        on periods.period_end_natural >= first_month.first_month_start
    cross join slice_values

),

-- the months of the fiscal year up to the period's natural end: the period's own months and
-- the fiscal-year-to-date months (through the month of the capped period_end)
aggregated as (

    select
        spine.period_type,
        spine.period_start,
        spine.slice,
        spine.slice_value,
        {% for m in metrics %}
        sum(case when monthly.month_start >= spine.period_start then monthly.{{ m }}_actual end)
            as {{ m }}_actual,
        sum(case when monthly.month_start >= spine.period_start then monthly.{{ m }}_target end)
            as {{ m }}_target,
        sum(case when monthly.month_start <= spine.period_end then monthly.{{ m }}_actual end)
            as {{ m }}_actual_to_date,
        sum(case when monthly.month_start <= spine.period_end then monthly.{{ m }}_target end)
            as {{ m }}_target_to_date{{ ',' if not loop.last }}
        {% endfor %}
    from spine
    inner join monthly
        on spine.slice = monthly.slice
        and spine.slice_value is not distinct from monthly.slice_value
        and monthly.month_start >= spine.fiscal_year_start
        and monthly.month_start <= spine.period_end_natural
    group by spine.period_type, spine.period_start, spine.slice, spine.slice_value

),

joined as (

    select
        spine.*,
        cast(coalesce(aggregated.bookings_actual, 0) as decimal(18, 4)) as bookings_actual,
        cast(aggregated.bookings_target as decimal(18, 2)) as bookings_target,
        cast(coalesce(aggregated.bookings_actual_to_date, 0) as decimal(18, 4)) as bookings_actual_to_date,
        cast(aggregated.bookings_target_to_date as decimal(18, 2)) as bookings_target_to_date,
        cast(coalesce(aggregated.new_customers_actual, 0) as bigint) as new_customers_actual,
        cast(aggregated.new_customers_target as decimal(18, 2)) as new_customers_target,
        cast(coalesce(aggregated.new_customers_actual_to_date, 0) as bigint) as new_customers_actual_to_date,
        cast(aggregated.new_customers_target_to_date as decimal(18, 2)) as new_customers_target_to_date
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

        ---------- projection denominators
        days_in_period,
        days_elapsed,

        {% for m in metrics %}
        ---------- {{ m }}
        {{ m }}_actual,
        {{ m }}_target,
        {{ safe_divide(m ~ '_actual', m ~ '_target') }} as {{ m }}_attainment,
        {{ m }}_actual_to_date,
        {{ m }}_target_to_date,
        {{ safe_divide(m ~ '_actual_to_date', m ~ '_target_to_date') }} as {{ m }}_attainment_to_date,
        case when is_partial
            then cast({{ m }}_actual as {{ type_double() }}) / days_elapsed * days_in_period
        end as {{ m }}_projected,
        case when is_partial
            then {{ safe_divide('cast(' ~ m ~ '_actual as ' ~ type_double() ~ ') / days_elapsed * days_in_period', m ~ '_target') }}
        end as {{ m }}_projected_attainment{{ ',' if not loop.last }}
        {% endfor %}

    from joined

)

select * from final
