{#- Sales-cycle KPIs (metrics.md "Sales cycle", 销售周期) per period (month, fiscal quarter,
    fiscal year) and slice (company, team, rep). Every duration belongs to the period of its END
    event (int_cycle_durations). Statistics over valid (non-negative) durations: count, mean,
    median and p90 (continuous quantiles); negative durations are only counted (invalid_count).
    Each grain is computed from its own events, never from finer grains. Dense: every period
    from the first with a duration through the as-of period, for every slice value seen. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
{%- set slices = {'team': 'team_id', 'rep': 'rep_id'} -%}
{%- set measures = ['response_time', 'signing_time', 'delivery_time'] -%}
{%- set quantiles = [('median', 0.5), ('p90', 0.9)] -%}
{#- every valid duration is counted once per grain and slice (company + slices) -#}
{%- set measure_filter = "measure in ('" ~ measures | join("', '") ~ "')" -%}
{%- set method = choose_quantile_method(
    ref('int_cycle_durations'),
    "not is_invalid and " ~ measure_filter,
    grains | length * (slices | length + 1),
) -%}

with

durations as {{ cte_not_materialized() }} (

    select * from {{ ref('int_cycle_durations') }}

),

periods as (

    select * from {{ ref('int_periods') }}

),

valued as {{ cte_not_materialized() }} (

    select
        measure,
        end_on,
        rep_id,
        team_id,
        case when is_invalid then 1 else 0 end as is_invalid,
        -- statistics use valid durations only
        case when not is_invalid then duration_days end as valid_days
    from durations

),

bucketed as {{ cte_not_materialized() }} (

    {{ bucket_by_grain('valued', 'end_on', grains) }}

),

{#- `sliced` is read by several passes below (and so are the CTEs it reads): each pass streams it
    again from int_cycle_durations, rather than writing it out (216 million rows at 10 million
    orders) -#}
sliced as {{ cte_not_materialized() }} (

    {{ slice_rows('bucketed', slices) }}

),

counted as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        {% for m in measures %}
        count(case when measure = '{{ m }}' then valid_days end) as {{ m }}_count,
        avg(case when measure = '{{ m }}' then valid_days end) as {{ m }}_mean_days,
        sum(case when measure = '{{ m }}' then is_invalid else 0 end) as {{ m }}_invalid_count,
        {% if method == 'aggregate' %}
        {#- one list-valued aggregate per measure: its values are held once for both quantiles -#}
        quantile_cont(valid_days, [{{ quantiles | map(attribute=1) | join(', ') }}])
            filter (where measure = '{{ m }}') as {{ m }}_quantiles,
        {% endif %}
        {% endfor %}
        count(case when measure = 'lead_to_cash' then valid_days end) as lead_to_cash_count,
        avg(case when measure = 'lead_to_cash' then valid_days end) as lead_to_cash_mean_days,
        sum(case when measure = 'lead_to_cash' then is_invalid else 0 end) as lead_to_cash_invalid_count
    from sliced
    group by period_type, period_start, slice, slice_value

),

{#- Median and p90 as continuous quantiles (quantile_cont / percentile_cont): with the n valid
    values of a group sorted, h = (n - 1) * q, the value at rank floor(h) + 1 plus
    (h - floor(h)) times the step to the next one. 'aggregate' took them from quantile aggregates
    in `counted`; 'rank' finds the values at those ranks (quantile_points) and interpolates
    (quantiled). macros/quantiles.sql says which method is used and why. -#}
{% set group_columns = ['period_type', 'period_start', 'slice', 'slice_value', 'measure'] %}
{% set group_hash = group_hash_key(group_columns) %}
{% if method == 'aggregate' %}

aggregated as (

    select
        counted.*,
        {% for m in measures %}
        {% set last_measure = loop.last %}
        {% for name, q in quantiles %}
        {{ m }}_quantiles[{{ loop.index }}] as {{ m }}_{{ name }}_days{{ ',' if not (loop.last and last_measure) }}
        {% endfor %}
        {% endfor %}
    from counted

),

{% else %}

{% if group_hash %}

{#- the n of every group and measure (from `counted`) and the wanted ranks: floor(h) + 1 and + 2 -#}
positioned as (

    {% for m in measures %}
    select
        {{ group_columns[:-1] | join(', ') }},
        '{{ m }}' as measure,
        {% for name, q in quantiles %}
        cast({{ rank_floor(m ~ '_count', q) }} as bigint) as {{ name }}_floor,
        {{ rank_fraction(m ~ '_count', q) }} as {{ name }}_fraction{{ ',' if not loop.last }}
        {% endfor %}
    from counted
    where {{ m }}_count > 0
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

{#- the sort is partitioned by one 64-bit hash of the group key: the only payload is the value -#}
keyed as (

    select
        positioned.*,
        {{ group_hash }} as group_hash,
        -- 1 for every group unless two groups share a hash: then the build fails (quantile_points)
        count(*) over (partition by {{ group_hash }}) as groups_with_hash
    from positioned

),

ranked as (

    select
        group_hash,
        valid_days,
        row_number() over (partition by group_hash order by valid_days) as value_rank
    from (
        select {{ group_hash }} as group_hash, valid_days
        from sliced
        where valid_days is not null
            and {{ measure_filter }}
    ) as hashed_values

),

-- at most four ranks a group: an equi-join picks their values out of the ranked ones
wanted_ranks as (

    {% for name, q in quantiles %}
    {% set outer_last = loop.last %}
    {% for step in [1, 2] %}
    select group_hash, {{ name }}_floor + {{ step }} as value_rank from keyed
    {{ 'union' if not (loop.last and outer_last) }}
    {% endfor %}
    {% endfor %}

),

wanted_values as (

    select
        ranked.group_hash,
        ranked.value_rank,
        ranked.valid_days
    from ranked
    inner join wanted_ranks
        on ranked.group_hash = wanted_ranks.group_hash
        and ranked.value_rank = wanted_ranks.value_rank

),

quantile_points as (

    select
        {% for c in group_columns %}keyed.{{ c }},{% endfor %}
        {% for name, q in quantiles %}
        max(case when wanted_values.value_rank = keyed.{{ name }}_floor + 1 then wanted_values.valid_days end) as {{ name }}_low,
        max(case when wanted_values.value_rank = keyed.{{ name }}_floor + 2 then wanted_values.valid_days end) as {{ name }}_high,
        -- the collision check sits in a column the mart uses, so that it is never pruned
        max(case
            when keyed.groups_with_hash > 1 then error(
                'kpi_sales_cycle: two groups share a 64-bit key hash; rebuild with --vars "{quantile_method: aggregate}"')
            else keyed.{{ name }}_fraction
        end) as {{ name }}_fraction{{ ',' if not loop.last }}
        {% endfor %}
    from keyed
    inner join wanted_values
        on keyed.group_hash = wanted_values.group_hash
    group by {% for c in group_columns %}keyed.{{ c }}{{ ', ' if not loop.last }}{% endfor %}

),

{% else %}

ranked as (

    select
        {{ group_columns | join(', ') }},
        valid_days,
        -- the same partition and order for both: one sort (Spark cannot extend a named window)
        {% set value_order = 'partition by ' ~ group_columns | join(', ') ~ ' order by valid_days' %}
        row_number() over ({{ value_order }}) as value_rank,
        count(*) over (
            {{ value_order }} rows between unbounded preceding and unbounded following
        ) as value_count
    from sliced
    where valid_days is not null
        and {{ measure_filter }}

),

ranked_positioned as (

    select
        ranked.*,
        {% for name, q in quantiles %}
        {{ rank_floor('value_count', q) }} as {{ name }}_floor,
        {{ rank_fraction('value_count', q) }} as {{ name }}_fraction{{ ',' if not loop.last }}
        {% endfor %}
    from ranked

),

quantile_points as (

    select
        {{ group_columns | join(', ') }},
        {% for name, q in quantiles %}
        max(case when value_rank = {{ name }}_floor + 1 then valid_days end) as {{ name }}_low,
        max(case when value_rank = {{ name }}_floor + 2 then valid_days end) as {{ name }}_high,
        max({{ name }}_fraction) as {{ name }}_fraction{{ ',' if not loop.last }}
        {% endfor %}
    from ranked_positioned
    where {% for name, q in quantiles %}
        value_rank between {{ name }}_floor + 1 and {{ name }}_floor + 2
        {{ 'or' if not loop.last }}
        {% endfor %}
    group by {{ group_columns | join(', ') }}

),

{% endif %}

quantiled as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        {% for m in measures %}
        {% set last_measure = loop.last %}
        {% for name, q in quantiles %}
        max(case when measure = '{{ m }}' then
            {{ name }}_low + {{ name }}_fraction * (coalesce({{ name }}_high, {{ name }}_low) - {{ name }}_low)
        end) as {{ m }}_{{ name }}_days{{ ',' if not (loop.last and last_measure) }}
        {% endfor %}
        {% endfor %}
    from quantile_points
    group by period_type, period_start, slice, slice_value

),

aggregated as (

    select
        counted.*,
        {% for m in measures %}
        quantiled.{{ m }}_median_days,
        quantiled.{{ m }}_p90_days{{ ',' if not loop.last }}
        {% endfor %}
    from counted
    left join quantiled
        on {{ same_period_slice('counted', 'quantiled') }}

),

{% endif %}

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
