{#- Customer acquisition cost (metrics.md "Customer acquisition cost (CAC)") per period (month,
    fiscal quarter, fiscal year). Slices:
    - company: ad_spend, other_marketing, sales_compensation, total_acquisition_cost,
      new_customers, cac_blended = total / new customers.
    - channel: the channel's ad_spend and other_marketing, channel_spend (all categories),
      new_customers = channel_new_customers (acquired through the channel),
      cac_paid = channel_spend / channel_new_customers. Compensation is not attributable to a
      channel: sales_compensation, total_acquisition_cost and cac_blended are NULL there.
    Absent inputs: a raw table with no rows at all (int_input_availability) makes the components
    it feeds and every CAC built on them NULL, and missing_inputs names the absent inputs that
    the row's CAC needs (company: marketing_spend and/or sales_compensation; channel:
    marketing_spend). An input that is present but has nothing in a period is a real 0.
    Dense: every period from the first with spend, compensation or a new customer. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}

with

monthly as (

    select * from {{ ref('int_cac_monthly') }}

),

periods as (

    select * from {{ ref('int_periods') }}

),

inputs as (

    select
        coalesce(bool_or(input_name = 'marketing_spend' and is_missing), false) as is_spend_missing,
        coalesce(bool_or(input_name = 'sales_compensation' and is_missing), false) as is_compensation_missing
    from {{ ref('int_input_availability') }}

),

bucketed as (

    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ period_start(grain, 'month_start') }} as period_start,
        monthly.*
    from monthly
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

aggregated as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        sum(ad_spend) as ad_spend,
        sum(other_marketing) as other_marketing,
        sum(sales_compensation) as sales_compensation,
        sum(new_customers) as new_customers
    from bucketed
    group by period_type, period_start, slice, slice_value

),

first_periods as (

    select
        period_type,
        min(period_start) as first_period_start
    from aggregated
    group by period_type

),

slice_values as (

    select 'company' as slice, cast(null as {{ type_string() }}) as slice_value
    union
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
    inner join first_periods
        on periods.period_type = first_periods.period_type
        and periods.period_start >= first_periods.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.*,
        inputs.is_spend_missing,
        inputs.is_compensation_missing,
        case when not inputs.is_spend_missing
            then cast(coalesce(aggregated.ad_spend, 0) as decimal(18, 4)) end as ad_spend,
        case when not inputs.is_spend_missing
            then cast(coalesce(aggregated.other_marketing, 0) as decimal(18, 4)) end as other_marketing,
        case when spine.slice = 'company' and not inputs.is_compensation_missing
            then cast(coalesce(aggregated.sales_compensation, 0) as decimal(18, 4)) end as sales_compensation,
        cast(coalesce(aggregated.new_customers, 0) as bigint) as new_customers
    from spine
    cross join inputs
    left join aggregated
        on {{ same_period_slice('spine', 'aggregated') }}

),

costed as (

    select
        dense.*,
        -- NULL as soon as one component is absent (NULL + x is NULL)
        case when slice = 'company'
            then ad_spend + other_marketing + sales_compensation end as total_acquisition_cost,
        case when slice = 'channel' then ad_spend + other_marketing end as channel_spend,
        case when slice = 'channel' then new_customers end as channel_new_customers,
        case
            when slice = 'company' then nullif(concat_ws(',',
                case when is_spend_missing then 'marketing_spend' end,
                case when is_compensation_missing then 'sales_compensation' end
            ), '')
            when is_spend_missing then 'marketing_spend'
        end as missing_inputs
    from dense

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

        ---------- components (reporting currency)
        ad_spend,
        other_marketing,
        sales_compensation,
        cast(total_acquisition_cost as decimal(18, 4)) as total_acquisition_cost,

        ---------- blended CAC (company rows)
        new_customers,
        case when slice = 'company'
            then {{ safe_divide('total_acquisition_cost', 'new_customers') }} end as cac_blended,

        ---------- paid CAC (channel rows)
        cast(channel_spend as decimal(18, 4)) as channel_spend,
        channel_new_customers,
        {{ safe_divide('channel_spend', 'channel_new_customers') }} as cac_paid,

        ---------- absent inputs
        missing_inputs

    from costed

)

select * from final
