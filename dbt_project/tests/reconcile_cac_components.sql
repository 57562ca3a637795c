{#- Reconciliation (blocking): the company monthly CAC components of kpi_cac equal the facts -
    ad_spend = Σ fct_marketing_spend.amount_rpt of category advertising, other_marketing = Σ of
    promotion, market_research and other_marketing (by spend month), sales_compensation = Σ
    fct_sales_compensation.total_compensation_rpt (by month). A component that is NULL because its
    input is absent compares as 0 (the fact table is then empty). One row per month and component
    that disagree. Attached to kpi_cac for Dagster. -#}
{{ config(meta={'dagster': {'ref': {'name': 'kpi_cac'}}}) }}

with

mart as (

    select period_start as month_start, ad_spend, other_marketing, sales_compensation
    from {{ ref('kpi_cac') }}
    where period_type = 'month' and slice = 'company'

),

spend as (

    select
        {{ month_trunc('spend_date') }} as month_start,
        sum(amount_rpt) filter (where category = 'advertising') as ad_spend,
        sum(amount_rpt) filter (
            where category in ('promotion', 'market_research', 'other_marketing')
        ) as other_marketing
    from {{ ref('fct_marketing_spend') }}
    where spend_date is not null
    group by 1

),

compensation as (

    select {{ month_trunc('month') }} as month_start, sum(total_compensation_rpt) as sales_compensation
    from {{ ref('fct_sales_compensation') }}
    where month is not null
    group by 1

),

months as (

    select month_start from mart
    union
    select month_start from spend
    union
    select month_start from compensation

),

compared as (

    select
        months.month_start,
        mart.ad_spend as mart_ad_spend,
        spend.ad_spend as fct_ad_spend,
        mart.other_marketing as mart_other_marketing,
        spend.other_marketing as fct_other_marketing,
        mart.sales_compensation as mart_sales_compensation,
        compensation.sales_compensation as fct_sales_compensation
    from months
    left join mart on mart.month_start = months.month_start
    left join spend on spend.month_start = months.month_start
    left join compensation on compensation.month_start = months.month_start

)

select 'ad_spend' as component, month_start, mart_ad_spend as mart_value, fct_ad_spend as fct_value
from compared
where abs(coalesce(mart_ad_spend, 0) - coalesce(fct_ad_spend, 0)) > 0.005
union all
select 'other_marketing', month_start, mart_other_marketing, fct_other_marketing
from compared
where abs(coalesce(mart_other_marketing, 0) - coalesce(fct_other_marketing, 0)) > 0.005
union all
select 'sales_compensation', month_start, mart_sales_compensation, fct_sales_compensation
from compared
where abs(coalesce(mart_sales_compensation, 0) - coalesce(fct_sales_compensation, 0)) > 0.005
