{#- The calendar range of dim_date: from the start of the fiscal year holding the earliest
    event of any kind (or the as-of date) through the as-of date. One row. -#}
with

event_days as (

    select min(signed_on) as first_day from {{ ref('stg_orders') }}
    union all
    select min(paid_on) from {{ ref('stg_payments') }}
    union all
    select min(delivered_on) from {{ ref('stg_deliveries') }}
    union all
    select min(created_on) from {{ ref('stg_customers') }}
    union all
    select min(created_on) from {{ ref('stg_leads') }}
    union all
    select min(created_on) from {{ ref('stg_opportunities') }}
    union all
    select min(occurred_on) from {{ ref('stg_activities') }}
    union all
    select min(spend_date) from {{ ref('stg_marketing_spend') }}
    union all
    select min(month) from {{ ref('stg_sales_compensation') }}
    union all
    select min(period_start) from {{ ref('stg_targets') }}
    union all
    select min(hired_on) from {{ ref('stg_reps') }}

),

earliest as (

    select coalesce(min(first_day), {{ as_of_date() }}) as first_day
    from event_days
    where first_day <= {{ as_of_date() }}

),

bounds as (

    select
        {{ period_start('year', 'first_day') }} as min_date,
        {{ as_of_date() }} as max_date
    from earliest

)

select * from bounds
