{#- Time-zone and as-of helpers. Everything local is in var('reporting_timezone'). -#}

{#- The as-of date (a date literal). -#}
{% macro as_of_date() -%}
    cast('{{ var("as_of") }}' as date)
{%- endmacro %}

{#- The as-of cutoff: the local midnight after the as-of date, as an absolute timestamp.
    Record versions and events at or after it are ignored. -#}
{% macro as_of_cutoff() -%}
    {{ return(adapter.dispatch('as_of_cutoff', 'salespulse')()) }}
{%- endmacro %}

{% macro default__as_of_cutoff() -%}
    timezone('{{ var("reporting_timezone") }}', cast({{ salespulse.add_days(salespulse.as_of_date(), 1) }} as timestamp))
{%- endmacro %}

{#- An absolute timestamp (timestamptz) as local wall-clock time (timestamp without zone). -#}
{% macro to_local_timestamp(ts) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'salespulse')(ts)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(ts) -%}
    timezone('{{ var("reporting_timezone") }}', {{ ts }})
{%- endmacro %}

{#- The local calendar day of an absolute timestamp. Never cast a timestamptz to date
    directly: that uses the session time zone. -#}
{% macro to_local_date(ts) -%}
    cast({{ salespulse.to_local_timestamp(ts) }} as date)
{%- endmacro %}

{#- Null out a milestone timestamp that lies at or after the as-of cutoff. -#}
{% macro as_of_milestone(ts) -%}
    case when {{ ts }} < {{ salespulse.as_of_cutoff() }} then {{ ts }} end
{%- endmacro %}

{% macro add_days(date_expr, n) -%}
    {{ return(adapter.dispatch('add_days', 'salespulse')(date_expr, n)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, n) -%}
    cast({{ date_expr }} + ({{ n }}) * interval '1 day' as date)
{%- endmacro %}

{% macro duckdb__add_days(date_expr, n) -%}
    cast({{ date_expr }} + to_days(cast({{ n }} as integer)) as date)
{%- endmacro %}

{% macro add_months(date_expr, n) -%}
    {{ return(adapter.dispatch('add_months', 'salespulse')(date_expr, n)) }}
{%- endmacro %}

{% macro default__add_months(date_expr, n) -%}
    cast({{ date_expr }} + ({{ n }}) * interval '1 month' as date)
{%- endmacro %}

{% macro duckdb__add_months(date_expr, n) -%}
    cast({{ date_expr }} + to_months(cast({{ n }} as integer)) as date)
{%- endmacro %}

{#- Days between two timestamps, fractional (end - start). -#}
{% macro duration_days(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('duration_days', 'salespulse')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__duration_days(start_ts, end_ts) -%}
    extract(epoch from ({{ end_ts }} - {{ start_ts }})) / 86400.0
{%- endmacro %}

{% macro duckdb__duration_days(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }})) / 86400.0
{%- endmacro %}

{#- One row per day from start to end inclusive (both date expressions over `relation`). -#}
{% macro date_series(start_date, end_date, relation) -%}
    {{ return(adapter.dispatch('date_series', 'salespulse')(start_date, end_date, relation)) }}
{%- endmacro %}

{% macro default__date_series(start_date, end_date, relation) -%}
    select cast(unnest(generate_series(
        cast({{ start_date }} as date), cast({{ end_date }} as date), interval '1 day'
    )) as date) as date_day
    from {{ relation }}
{%- endmacro %}
