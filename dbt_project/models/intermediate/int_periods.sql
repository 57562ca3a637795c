{#- One row per reporting period (month, fiscal quarter, fiscal year) from the first fiscal year
    of the calendar through the period holding the as-of date; the as-of period ends on the
    as-of date and is partial. The spine every period KPI mart is built on. -#}
with

dates as (

    select * from {{ ref('dim_date') }}

),

months as (

    select distinct
        'month' as period_type,
        month_start as period_start,
        month_end as period_end,
        month_end_natural as period_end_natural,
        is_partial_month as is_partial,
        month_label as period_label
    from dates

),

quarters as (

    select distinct
        'quarter' as period_type,
        fiscal_quarter_start as period_start,
        fiscal_quarter_end as period_end,
        fiscal_quarter_end_natural as period_end_natural,
        is_partial_fiscal_quarter as is_partial,
        fiscal_quarter_label as period_label
    from dates

),

years as (

    select distinct
        'year' as period_type,
        fiscal_year_start as period_start,
        fiscal_year_end as period_end,
        fiscal_year_end_natural as period_end_natural,
        is_partial_fiscal_year as is_partial,
        fiscal_year_label as period_label
    from dates

),

unioned as (

    select * from months
    union all
    select * from quarters
    union all
    select * from years

),

final as (

    select
        period_type,
        period_start,
        period_end,
        period_end_natural,
        is_partial,
        period_label,
        cast({{ days_between('period_start', 'period_end_natural') }} + 1 as integer) as days_in_period,
        cast({{ days_between('period_start', 'period_end') }} + 1 as integer) as days_elapsed,
        case period_type
            when 'month' then {{ add_months('period_start', -1) }}
            when 'quarter' then {{ add_months('period_start', -3) }}
            else {{ add_months('period_start', -12) }}
        end as prior_period_start,
        {{ add_months('period_start', -12) }} as prior_year_start
    from unioned

)

select * from final
