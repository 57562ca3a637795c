{#- The shared shape of the period KPI marts: every event row once per grain, bucketed into the
    (fiscal) period holding its date, then once per slice (company, and each slice column, a missing
    value becoming 'unknown'). Marts aggregate the result by period and slice. -#}

{% macro bucket_by_grain(relation, date_expr, grains=['month', 'quarter', 'year']) -%}
    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ salespulse.period_start(grain, date_expr) }} as period_start,
        {{ relation }}.*
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
{%- endmacro %}

{% macro slice_rows(relation, slices) -%}
    select
        'company' as slice,
        cast(null as {{ salespulse.type_string() }}) as slice_value,
        {{ relation }}.*
    from {{ relation }}
    {% for slice, column in slices.items() %}
    union all
    select
        '{{ slice }}' as slice,
        coalesce(cast({{ column }} as {{ salespulse.type_string() }}), 'unknown') as slice_value,
        {{ relation }}.*
    from {{ relation }}
    {% endfor %}
{%- endmacro %}

{#- Join condition of two relations keyed by (period_type, period_start, slice, slice_value): the
    company slice has a NULL slice_value, which must match itself. -#}
{% macro same_period_slice(left, right) -%}
    {{ left }}.period_type = {{ right }}.period_type
        and {{ left }}.period_start = {{ right }}.period_start
        and {{ left }}.slice = {{ right }}.slice
        and {{ left }}.slice_value is not distinct from {{ right }}.slice_value
{%- endmacro %}
