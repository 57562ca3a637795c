{#- The components of customer acquisition cost per calendar month, for the company and per
    channel (metrics.md "Customer acquisition cost"). Sparse: only months where something
    happened. Raw sums: absent inputs (int_input_availability) are applied by the marts.
    - ad_spend: marketing spend of category advertising; other_marketing: promotion,
      market_research, other_marketing (fct_marketing_spend.cac_component), by spend_date.
    - sales_compensation: base + commission + bonus of every rep for the month (company only:
      compensation is not attributable to a channel).
    - new_customers: customers (dim_customer) whose first live order is in the month, per
      acquisition channel for the channel rows. -#}
with

spend as (

    select * from {{ ref('fct_marketing_spend') }}

),

compensation as (

    select * from {{ ref('fct_sales_compensation') }}

),

customers as (

    select * from {{ ref('dim_customer') }}
    where acquired_on is not null

),

cost_events as (

    select
        {{ period_start('month', 'spend_date') }} as month_start,
        coalesce(channel, 'unknown') as channel,
        case when cac_component = 'ad_spend' then amount_rpt end as ad_spend,
        case when cac_component = 'other_marketing' then amount_rpt end as other_marketing,
        cast(null as decimal(18, 4)) as sales_compensation,
        0 as is_new_customer
    from spend

    union all

    select
        {{ period_start('month', 'month') }} as month_start,
        cast(null as {{ type_string() }}) as channel,
        cast(null as decimal(18, 4)) as ad_spend,
        cast(null as decimal(18, 4)) as other_marketing,
        total_compensation_rpt as sales_compensation,
        0 as is_new_customer
    from compensation

    union all

    select
        {{ period_start('month', 'acquired_on') }} as month_start,
        coalesce(acquisition_channel, 'unknown') as channel,
        cast(null as decimal(18, 4)) as ad_spend,
        cast(null as decimal(18, 4)) as other_marketing,
        cast(null as decimal(18, 4)) as sales_compensation,
        1 as is_new_customer
    from customers

),

company as (

    select
        month_start,
        'company' as slice,
        cast(null as {{ type_string() }}) as slice_value,
        coalesce(sum(ad_spend), 0) as ad_spend,
        coalesce(sum(other_marketing), 0) as other_marketing,
        coalesce(sum(sales_compensation), 0) as sales_compensation,
        sum(is_new_customer) as new_customers
    from cost_events
    group by month_start

),

channels as (

    select
        month_start,
        'channel' as slice,
        channel as slice_value,
        coalesce(sum(ad_spend), 0) as ad_spend,
        coalesce(sum(other_marketing), 0) as other_marketing,
        cast(null as decimal(18, 4)) as sales_compensation,
        sum(is_new_customer) as new_customers
    from cost_events
    where channel is not null
    group by month_start, channel

),

unioned as (

    select * from company
    union all
    select * from channels

),

final as (

    select
        ---------- keys
        month_start,
        slice,
        slice_value,

        ---------- numerics (reporting currency)
        cast(ad_spend as decimal(18, 4)) as ad_spend,
        cast(other_marketing as decimal(18, 4)) as other_marketing,
        cast(sales_compensation as decimal(18, 4)) as sales_compensation,

        ---------- counts
        cast(new_customers as bigint) as new_customers

    from unioned

)

select * from final
