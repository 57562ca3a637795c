{#- Sales-cycle KPIs (metrics.md "Sales cycle", 销售周期) per period (month, fiscal quarter,
    fiscal year) and slice (company, team, rep). Every duration belongs to the period of its END
    event (int_cycle_durations). Statistics over valid (non-negative) durations: count, mean,
    median and p90 (continuous quantiles); negative durations are only counted (invalid_count).
    Each grain is computed from its own events, never from finer grains: one model per grain and
    slice, int_cycle_stats_<grain>_<slice> (macros/sales_cycle.sql says why). Dense: every period
    from the first with a duration through the as-of period, for every slice value seen. -#}
{%- set measures = ['response_time', 'signing_time', 'delivery_time'] -%}

with

aggregated as (

    {% for grain in sales_cycle_grains() %}
    {% set last_grain = loop.last %}
    {% for slice in sales_cycle_slices() %}
    select * from {{ ref('int_cycle_stats_' ~ grain ~ '_' ~ slice) }}
    {{ 'union all' if not (loop.last and last_grain) }}
    {% endfor %}
    {% endfor %}

),

periods as (

    select * from {{ ref('int_periods') }}

),

first_periods as (

    select
        period_type,
        min(period_start) as first_period_start
    from aggregated
    group by period_type

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
    inner join first_periods
        on periods.period_type = first_periods.period_type
        and periods.period_start >= first_periods.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.period_type,
        spine.period_start,
        spine.period_end,
        spine.is_partial,
        spine.slice,
        spine.slice_value,
        {% for m in measures %}
        coalesce(aggregated.{{ m }}_count, 0) as {{ m }}_count,
        aggregated.{{ m }}_mean_days,
        aggregated.{{ m }}_median_days,
        aggregated.{{ m }}_p90_days,
        coalesce(aggregated.{{ m }}_invalid_count, 0) as {{ m }}_invalid_count,
        {% endfor %}
        coalesce(aggregated.lead_to_cash_count, 0) as lead_to_cash_count,
        aggregated.lead_to_cash_mean_days,
        coalesce(aggregated.lead_to_cash_invalid_count, 0) as lead_to_cash_invalid_count
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

        ---------- response time (初次接触时间): lead created -> first contact
        cast(response_time_count as bigint) as response_time_count,
        response_time_mean_days,
        response_time_median_days,
        response_time_p90_days,
        response_time_mean_days * 24 as response_time_mean_hours,
        response_time_median_days * 24 as response_time_median_hours,
        response_time_p90_days * 24 as response_time_p90_hours,
        cast(response_time_invalid_count as bigint) as response_time_invalid_count,

        ---------- signing time (签约时间): first contact (or opportunity creation) -> won
        cast(signing_time_count as bigint) as signing_time_count,
        signing_time_mean_days,
        signing_time_median_days,
        signing_time_p90_days,
        cast(signing_time_invalid_count as bigint) as signing_time_invalid_count,

        ---------- delivery time (交付时间): order signed -> latest delivery
        cast(delivery_time_count as bigint) as delivery_time_count,
        delivery_time_mean_days,
        delivery_time_median_days,
        delivery_time_p90_days,
        cast(delivery_time_invalid_count as bigint) as delivery_time_invalid_count,

        ---------- lead to cash: response + signing + delivery per won, delivered lead
        cast(lead_to_cash_count as bigint) as lead_to_cash_count,
        lead_to_cash_mean_days,
        cast(lead_to_cash_invalid_count as bigint) as lead_to_cash_invalid_count

    from dense

)

select * from final
