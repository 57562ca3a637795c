{#- Reconciliation (blocking): company monthly bookings of kpi_revenue = Σ amount_rpt of the live
    orders of fct_orders per local signing month. One row per month that disagrees.
    Attached to kpi_revenue for Dagster (meta.dagster.ref: a test with several refs needs it). -#}
{{ config(meta={'dagster': {'ref': {'name': 'kpi_revenue'}}}) }}

with

mart as (

    select period_start as month_start, bookings
    from {{ ref('kpi_revenue') }}
    where period_type = 'month' and slice = 'company'

),

facts as (

    select {{ month_trunc('signed_on') }} as month_start, sum(amount_rpt) as bookings
    from {{ ref('fct_orders') }}
    where is_live and signed_on is not null
    group by 1

)

select
    coalesce(mart.month_start, facts.month_start) as month_start,
    mart.bookings as mart_bookings,
    facts.bookings as fct_orders_bookings
from mart
full outer join facts on mart.month_start = facts.month_start
where abs(coalesce(mart.bookings, 0) - coalesce(facts.bookings, 0)) > 0.005
