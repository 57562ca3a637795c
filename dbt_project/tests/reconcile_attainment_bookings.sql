{#- Reconciliation (blocking): company monthly bookings_actual of kpi_attainment = company monthly
    bookings of kpi_revenue. One row per month that disagrees. Attached to kpi_attainment. -#}
{{ config(meta={'dagster': {'ref': {'name': 'kpi_attainment'}}}) }}

with

attainment as (

    select period_start as month_start, bookings_actual
    from {{ ref('kpi_attainment') }}
    where period_type = 'month' and slice = 'company'

),

revenue as (

    select period_start as month_start, bookings
    from {{ ref('kpi_revenue') }}
    where period_type = 'month' and slice = 'company'

)

select
    coalesce(attainment.month_start, revenue.month_start) as month_start,
    attainment.bookings_actual as attainment_bookings_actual,
    revenue.bookings as revenue_bookings
from attainment
full outer join revenue on attainment.month_start = revenue.month_start
where abs(coalesce(attainment.bookings_actual, 0) - coalesce(revenue.bookings, 0)) > 0.005
