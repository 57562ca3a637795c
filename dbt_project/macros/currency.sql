{#- Currency conversion into var('reporting_currency') via int_fx_rates, whose rows hold
    [valid_from, valid_to) ranges: the rate of a date is the one published on it or the latest
    earlier one. No rate gives NULL (the fx coverage tests fail), never a silent 1.0. -#}

{% macro reporting_currency() -%}
    '{{ var("reporting_currency") | upper }}'
{%- endmacro %}

{#- A left join clause onto int_fx_rates for a currency and a (local) date. -#}
{% macro join_fx_rate(alias, currency_expr, date_expr) -%}
    left join {{ ref('int_fx_rates') }} as {{ alias }}
        on {{ alias }}.currency = {{ currency_expr }}
        and {{ date_expr }} >= {{ alias }}.valid_from
        and {{ date_expr }} < {{ alias }}.valid_to
{%- endmacro %}

{#- An amount in the reporting currency (NULL if the rate or the amount is NULL). -#}
{% macro to_reporting_currency(amount, rate) -%}
    {{ return(adapter.dispatch('to_reporting_currency', 'salespulse')(amount, rate)) }}
{%- endmacro %}

{#- Widen before multiplying: DECIMAL(18,4) x DECIMAL(18,8) would overflow an 18-digit result. -#}
{% macro default__to_reporting_currency(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(38, 4)) * cast({{ rate }} as decimal(38, 10)), 4) as decimal(18, 4))
{%- endmacro %}

{#- Spark caps DECIMAL at 38 digits and, past it, rounds the product to 6 decimals before our
    round(): keep precision + precision + 1 <= 38 so the product is exact, as on DuckDB/PostgreSQL. -#}
{% macro spark__to_reporting_currency(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(18, 4)) * cast({{ rate }} as decimal(19, 10)), 4) as decimal(18, 4))
{%- endmacro %}

{#- The configured default gross margin as a SQL literal, or null. -#}
{% macro default_gross_margin() -%}
    {%- set m = var('default_gross_margin', none) -%}
    {%- if m is none or (m is string and m | trim | lower in ('', 'none', 'null')) -%}
        {{ return('null') }}
    {%- else -%}
        {{ return('cast(' ~ (m | float) ~ ' as decimal(9, 6))') }}
    {%- endif -%}
{%- endmacro %}
