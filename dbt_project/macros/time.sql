{#- Time-zone and as-of helpers. Everything local is in var('reporting_timezone'). -#}

{#- The as-of date (a date literal): var('as_of') when given (`dbt build --vars '{as_of: ...}'`, unit
    test overrides), else SALESPULSE_DBT_AS_OF, which the orchestrator sets. An environment variable
    rather than a var so that a new day re-parses only the models using it: dbt re-parses the whole
    project whenever --vars change. -#}
{% macro as_of_date() -%}
    cast('{{ var("as_of", env_var("SALESPULSE_DBT_AS_OF", "2025-06-30")) }}' as date)
{%- endmacro %}

{#- The as-of cutoff: the local midnight after the as-of date, as an absolute timestamp.
    Record versions and events at or after it are ignored. -#}
{% macro as_of_cutoff() -%}
    {{ return(adapter.dispatch('as_of_cutoff', 'salespulse')()) }}
{%- endmacro %}

{% macro default__as_of_cutoff() -%}
    timezone('{{ var("reporting_timezone") }}', cast({{ salespulse.add_days(salespulse.as_of_date(), 1) }} as timestamp))
{%- endmacro %}

{% macro postgres__as_of_cutoff() -%}
    (cast({{ salespulse.add_days(salespulse.as_of_date(), 1) }} as timestamp) at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- Spark: TIMESTAMP is an instant rendered in the session time zone; from_utc_timestamp /
    to_utc_timestamp and casts to DATE are only right when that zone is UTC
    (spark.sql.session.timeZone=UTC). Every staging model filters on the cutoff, so a wrong
    session zone fails the run here instead of silently shifting local days. -#}
{% macro spark__as_of_cutoff() -%}
    case when current_timezone() in ('UTC', 'Etc/UTC', 'GMT', 'Z', '+00:00')
        then to_utc_timestamp(cast({{ salespulse.add_days(salespulse.as_of_date(), 1) }} as timestamp), '{{ var("reporting_timezone") }}')
        else raise_error('salespulse on Spark needs spark.sql.session.timeZone=UTC')
    end
{%- endmacro %}

{#- An absolute timestamp (timestamptz) as local wall-clock time (timestamp without zone). -#}
{% macro to_local_timestamp(ts) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'salespulse')(ts)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(ts) -%}
    timezone('{{ var("reporting_timezone") }}', {{ ts }})
{%- endmacro %}

{% macro postgres__to_local_timestamp(ts) -%}
    (cast({{ ts }} as timestamptz) at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- Spark (session time zone UTC): the local wall-clock time as a TIMESTAMP. -#}
{% macro spark__to_local_timestamp(ts) -%}
    from_utc_timestamp({{ ts }}, '{{ var("reporting_timezone") }}')
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

{% macro spark__add_days(date_expr, n) -%}
    date_add(cast({{ date_expr }} as date), cast({{ n }} as integer))
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

{#- Spark 3+: add_months clamps to the month end like DuckDB/PostgreSQL interval arithmetic. -#}
{% macro spark__add_months(date_expr, n) -%}
    add_months(cast({{ date_expr }} as date), cast({{ n }} as integer))
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

{#- PostgreSQL: extract(epoch) is NUMERIC; compute in DOUBLE like DuckDB's epoch(). -#}
{% macro postgres__duration_days(start_ts, end_ts) -%}
    (cast(extract(epoch from {{ end_ts }}) as double precision) - cast(extract(epoch from {{ start_ts }}) as double precision)) / 86400.0
{%- endmacro %}

{% macro spark__duration_days(start_ts, end_ts) -%}
    (cast(unix_micros({{ end_ts }}) as double) / 1000000.0 - cast(unix_micros({{ start_ts }}) as double) / 1000000.0) / 86400.0
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


{% macro postgres__date_series(start_date, end_date, relation) -%}
    select cast(generate_series(
        cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval '1 day'
    ) as date) as date_day
    from {{ relation }}
{%- endmacro %}

{% macro spark__date_series(start_date, end_date, relation) -%}
    select explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date_day
    from {{ relation }}
{%- endmacro %}
