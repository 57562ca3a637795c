{#- Engine-portable building blocks (DuckDB, PostgreSQL, Spark). Models and tests use these
    instead of engine-specific types or functions; each has a default__ implementation and
    engine overrides where the SQL differs. DuckDB output is the reference. -#}

{#- ---------- types -#}

{#- Text. Spark cannot cast to an unbounded VARCHAR. -#}
{% macro type_string() -%}
    {{ return(adapter.dispatch('type_string', 'salespulse')()) }}
{%- endmacro %}
{% macro default__type_string() -%}varchar{%- endmacro %}
{% macro spark__type_string() -%}string{%- endmacro %}

{#- 8-byte float. PostgreSQL spells it DOUBLE PRECISION. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'salespulse')()) }}
{%- endmacro %}
{% macro default__type_double() -%}double{%- endmacro %}
{% macro postgres__type_double() -%}double precision{%- endmacro %}

{#- An absolute point in time. Spark's TIMESTAMP is an instant (shown in the session time zone,
    which must be UTC); it has no TIMESTAMPTZ. -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'salespulse')()) }}
{%- endmacro %}
{% macro default__type_timestamptz() -%}timestamptz{%- endmacro %}
{% macro spark__type_timestamptz() -%}timestamp{%- endmacro %}

{#- Exact integer wider than 64 bits (planning units and their products). -#}
{% macro type_hugeint() -%}
    {{ return(adapter.dispatch('type_hugeint', 'salespulse')()) }}
{%- endmacro %}
{% macro default__type_hugeint() -%}numeric(38, 0){%- endmacro %}
{% macro duckdb__type_hugeint() -%}hugeint{%- endmacro %}
{% macro spark__type_hugeint() -%}decimal(38, 0){%- endmacro %}

{#- ---------- arithmetic -#}

{#- Integer (floor) division of non-negative exact integers. -#}
{% macro int_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('int_div', 'salespulse')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__int_div(numerator, denominator) -%}
    div({{ numerator }}, {{ denominator }})
{%- endmacro %}
{% macro duckdb__int_div(numerator, denominator) -%}
    ({{ numerator }}) // ({{ denominator }})
{%- endmacro %}
{#- Spark's DIV returns a 64-bit long; subtracting the remainder keeps the quotient exact in DECIMAL(38, 0). -#}
{% macro spark__int_div(numerator, denominator) -%}
    cast((({{ numerator }}) - ({{ numerator }}) % ({{ denominator }})) / ({{ denominator }}) as {{ salespulse.type_hugeint() }})
{%- endmacro %}

{#- round() of a DOUBLE to n decimals (PostgreSQL only rounds NUMERIC to a scale). -#}
{% macro round_double(expr, n) -%}
    {{ return(adapter.dispatch('round_double', 'salespulse')(expr, n)) }}
{%- endmacro %}
{% macro default__round_double(expr, n) -%}
    round({{ expr }}, {{ n }})
{%- endmacro %}
{% macro postgres__round_double(expr, n) -%}
    cast(round(cast({{ expr }} as numeric), {{ n }}) as double precision)
{%- endmacro %}

{#- least / greatest of two values, NULL if either is NULL (DuckDB semantics; PostgreSQL and
    Spark skip NULLs). -#}
{% macro least_of(a, b) -%}
    {{ return(adapter.dispatch('least_of', 'salespulse')(a, b)) }}
{%- endmacro %}
{% macro default__least_of(a, b) -%}
    case when ({{ a }}) is not null and ({{ b }}) is not null then least({{ a }}, {{ b }}) end
{%- endmacro %}
{% macro duckdb__least_of(a, b) -%}
    least({{ a }}, {{ b }})
{%- endmacro %}

{% macro greatest_of(a, b) -%}
    {{ return(adapter.dispatch('greatest_of', 'salespulse')(a, b)) }}
{%- endmacro %}
{% macro default__greatest_of(a, b) -%}
    case when ({{ a }}) is not null and ({{ b }}) is not null then greatest({{ a }}, {{ b }}) end
{%- endmacro %}
{% macro duckdb__greatest_of(a, b) -%}
    greatest({{ a }}, {{ b }})
{%- endmacro %}

{#- ---------- aggregates -#}

{#- Exact continuous quantile (linear interpolation between the closest ranks, like
    percentile_cont) of a numeric expression, as DOUBLE; NULLs are ignored. -#}
{% macro quantile_exact(expr, fraction) -%}
    {{ return(adapter.dispatch('quantile_exact', 'salespulse')(expr, fraction)) }}
{%- endmacro %}
{% macro default__quantile_exact(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by cast({{ expr }} as {{ salespulse.type_double() }}))
{%- endmacro %}
{% macro duckdb__quantile_exact(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}
{% macro spark__quantile_exact(expr, fraction) -%}
    percentile(cast({{ expr }} as double), {{ fraction }})
{%- endmacro %}

{#- ---------- dates -#}

{#- Whole days from start_date to end_date (end - start). -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'salespulse')(start_date, end_date)) }}
{%- endmacro %}
{% macro default__days_between(start_date, end_date) -%}
    ({{ end_date }} - {{ start_date }})
{%- endmacro %}
{% macro spark__days_between(start_date, end_date) -%}
    datediff({{ end_date }}, {{ start_date }})
{%- endmacro %}

{#- ISO day of the week (1 = Monday .. 7 = Sunday) of a date. -#}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'salespulse')(date_expr)) }}
{%- endmacro %}
{% macro default__iso_day_of_week(date_expr) -%}
    extract(isodow from {{ date_expr }})
{%- endmacro %}
{% macro spark__iso_day_of_week(date_expr) -%}
    extract(dayofweek_iso from {{ date_expr }})
{%- endmacro %}

{#- First day of the calendar month of a date (a DATE). -#}
{% macro month_trunc(date_expr) -%}
    {{ return(adapter.dispatch('month_trunc', 'salespulse')(date_expr)) }}
{%- endmacro %}
{% macro default__month_trunc(date_expr) -%}
    cast(date_trunc('month', {{ date_expr }}) as date)
{%- endmacro %}
{% macro postgres__month_trunc(date_expr) -%}
    cast(date_trunc('month', cast({{ date_expr }} as timestamp)) as date)
{%- endmacro %}
{% macro spark__month_trunc(date_expr) -%}
    trunc({{ date_expr }}, 'MM')
{%- endmacro %}

{#- A relation of the integers start..end (inclusive), one column. -#}
{% macro integer_series(start, end, column_name) -%}
    {%- for i in range(start, end + 1) %}
    select {{ i }} as {{ column_name }}{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}
