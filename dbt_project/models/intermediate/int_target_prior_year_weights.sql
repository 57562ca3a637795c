{#- Decomposition weights of the targets: for every fiscal year holding a year / quarter target,
    its 12 months with the company bookings (live orders, reporting currency, in cents) of the
    same month of the PREVIOUS fiscal year, and whether that previous year has bookings in all
    its 12 months (prior_year_complete; else the splits are equal). A previous year reaching past
    the as-of date is incomplete by construction (no bookings after the as-of date exist). -#}
with

targets as (

    select * from {{ ref('int_target_explicit') }}
    where period_type in ('year', 'quarter')

),

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live

),

fiscal_years as (

    select distinct fiscal_year_start
    from targets

),

months as (

    select
        fiscal_years.fiscal_year_start,
        offsets.month_offset,
        {{ add_months('fiscal_years.fiscal_year_start', 'offsets.month_offset') }} as month_start,
        {{ add_months('fiscal_years.fiscal_year_start', 'offsets.month_offset - 12') }} as prior_month_start
    from fiscal_years
    cross join ({{ integer_series(0, 11, 'month_offset') }}) as offsets

),

monthly_bookings as (

    select
        {{ period_start('month', 'signed_on') }} as month_start,
        sum(amount_rpt) as bookings
    from live_orders
    where signed_on >= (select {{ add_months('min(fiscal_year_start)', -12) }} from fiscal_years)
    group by 1

),

joined as (

    select
        months.*,
        coalesce(monthly_bookings.bookings, 0) as prior_bookings
    from months
    left join monthly_bookings
        on months.prior_month_start = monthly_bookings.month_start

),

final as (

    select
        ---------- dates
        fiscal_year_start,
        {{ period_start('quarter', 'month_start') }} as fiscal_quarter_start,
        month_start,
        prior_month_start,

        ---------- numerics
        cast(month_offset as integer) as month_offset,
        cast(prior_bookings as decimal(18, 4)) as prior_bookings,
        cast(round(prior_bookings * 100, 0) as {{ type_hugeint() }}) as prior_bookings_units,

        ---------- booleans
        bool_and(prior_bookings > 0) over (partition by fiscal_year_start) as prior_year_complete

    from joined

)

select * from final
