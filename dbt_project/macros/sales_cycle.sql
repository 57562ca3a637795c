{#- kpi_sales_cycle's statistics, one grain and one slice at a time.

    kpi_sales_cycle counts every valid duration once per grain (month, fiscal quarter, fiscal year)
    and slice (company, team, rep): nine copies of int_cycle_durations (216 million values at 10
    million orders). Exact medians and p90s need each group's values at once. Quantile aggregates
    do that in one pass, but hold about 24 bytes a value in memory until the pass ends, and DuckDB
    cannot spill them; for the nine copies in one statement that is 5 GB at 10 million orders, so
    the mart used to rank instead (a window sort of all 216 million values, 78 s under the 2 GB
    cap). One grain and slice per model (int_cycle_stats_<grain>_<slice>, built one after another
    by dbt) needs only one copy's memory: at 10 million orders the nine aggregate passes take about
    7 s in all. choose_quantile_method() (macros/quantiles.sql) still ranks when even one copy does
    not fit in half the memory limit, and on the other engines.

    One row per (period_start, slice_value) of the grain and slice that has a duration: per
    measure count, mean, median, p90 and invalid count of its valid durations (lead_to_cash: count,
    mean, invalid count). kpi_sales_cycle unions the nine and makes them dense. -#}

{% macro sales_cycle_grains() -%}
    {{ return(['month', 'quarter', 'year']) }}
{%- endmacro %}

{#- slice -> the int_cycle_durations column it groups by (none: the whole company) -#}
{% macro sales_cycle_slices() -%}
    {{ return({'company': none, 'team': 'team_id', 'rep': 'rep_id'}) }}
{%- endmacro %}

{% macro sales_cycle_stats(grain, slice) -%}
{%- if grain not in salespulse.sales_cycle_grains() or slice not in salespulse.sales_cycle_slices() -%}
    {{ exceptions.raise_compiler_error("sales_cycle_stats: unknown grain or slice '" ~ grain ~ "', '" ~ slice ~ "'") }}
{%- endif -%}
{%- set slice_column = salespulse.sales_cycle_slices()[slice] -%}
{%- set measures = ['response_time', 'signing_time', 'delivery_time'] -%}
{%- set quantiles = [('median', 0.5), ('p90', 0.9)] -%}
{%- set measure_filter = "measure in ('" ~ measures | join("', '") ~ "')" -%}
{#- one copy of the valid durations: this model's grain and slice -#}
{%- set method = salespulse.choose_quantile_method(
    ref('int_cycle_durations'),
    "not is_invalid and " ~ measure_filter,
    1,
) -%}

with

durations as (

    select * from {{ ref('int_cycle_durations') }}

),

{#- `sliced` is read by several passes below: each streams it again from int_cycle_durations,
    rather than writing it out -#}
sliced as {{ salespulse.cte_not_materialized() }} (

    select
        '{{ grain }}' as period_type,
        {{ salespulse.period_start(grain, 'end_on') }} as period_start,
        '{{ slice }}' as slice,
        {% if slice_column -%}
        coalesce(cast({{ slice_column }} as {{ salespulse.type_string() }}), 'unknown')
        {%- else -%}
        cast(null as {{ salespulse.type_string() }})
        {%- endif %} as slice_value,
        measure,
        case when is_invalid then 1 else 0 end as is_invalid,
        -- statistics use valid durations only
        case when not is_invalid then duration_days end as valid_days
    from durations

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

final as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        {% for m in measures %}
        {{ m }}_count,
        {{ m }}_mean_days,
        {{ m }}_median_days,
        {{ m }}_p90_days,
        {{ m }}_invalid_count,
        {% endfor %}
        lead_to_cash_count,
        lead_to_cash_mean_days,
        lead_to_cash_invalid_count
    from aggregated

)

select * from final
{%- endmacro %}
