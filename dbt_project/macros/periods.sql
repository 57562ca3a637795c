{#- Period bucketing. Grains: month, quarter, year; quarters and years are fiscal and start
    in var('fiscal_year_start_month'). -#}

{% macro fiscal_year_start_month() -%}
    {%- set m = var('fiscal_year_start_month') | int -%}
    {%- if m < 1 or m > 12 -%}
        {{ exceptions.raise_compiler_error("fiscal_year_start_month must be 1..12, got " ~ m) }}
    {%- endif -%}
    {{ return(m) }}
{%- endmacro %}

{#- Months since the start of the fiscal year (0..11) of a date. -#}
{% macro fiscal_month_offset(date_expr) -%}
    mod(cast(extract(month from {{ date_expr }}) as integer) - {{ salespulse.fiscal_year_start_month() }} + 12, 12)
{%- endmacro %}

{#- First day of the month / fiscal quarter / fiscal year holding a date. -#}
{% macro period_start(grain, date_expr) -%}
    {{ return(adapter.dispatch('period_start', 'salespulse')(grain, date_expr)) }}
{%- endmacro %}

{% macro default__period_start(grain, date_expr) -%}
    {%- set month_start = salespulse.month_trunc(date_expr) -%}
    {%- if grain == 'month' -%}
        {{ month_start }}
    {%- elif grain == 'quarter' -%}
        {{ salespulse.add_months(month_start, "-mod(" ~ salespulse.fiscal_month_offset(date_expr) ~ ", 3)") }}
    {%- elif grain == 'year' -%}
        {{ salespulse.add_months(month_start, "-" ~ salespulse.fiscal_month_offset(date_expr)) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown grain " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{#- Number of months in a grain. -#}
{% macro grain_months(grain) -%}
    {{ return({'month': 1, 'quarter': 3, 'year': 12}[grain]) }}
{%- endmacro %}

{#- (current - prior) / prior; NULL when the prior is zero or missing. -#}
{% macro growth(current, prior) -%}
    (cast({{ current }} as {{ salespulse.type_double() }}) - {{ prior }}) / nullif(cast({{ prior }} as {{ salespulse.type_double() }}), 0)
{%- endmacro %}

{#- numerator / denominator; NULL when the denominator is zero or missing. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ salespulse.type_double() }}) / nullif(cast({{ denominator }} as {{ salespulse.type_double() }}), 0)
{%- endmacro %}
