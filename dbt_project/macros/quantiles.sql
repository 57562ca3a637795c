{#- Exact continuous quantiles of many groups (kpi_sales_cycle) can be computed two ways, with the
    same result (linear interpolation between the closest ranks, as quantile_cont / percentile_cont):

    - 'aggregate': quantile aggregates, one pass. Fast, but every value of every group is held in
      memory until the groups are complete: about 24 bytes per value on DuckDB, where a hash
      aggregate cannot spill such state. kpi_sales_cycle therefore takes one grain and slice per
      model (macros/sales_cycle.sql): at 10 million orders one such copy fits in 1 GB, all nine
      in one statement did not fit under the 2 GB cap.
    - 'rank': ranks from a window sort, which spills to disk. Several times slower where the values
      fit. On DuckDB the sort is partitioned by a 64-bit hash of the group key (group_hash_key),
      so it sorts 16 bytes a value instead of five strings and a double, and the values at the
      wanted ranks are picked by an equi-join on (hash, rank). kpi_sales_cycle at 1M orders:
      7.0 s under a 300 MB limit, where the string-keyed sort took 11.7 s under 600 MB.

    choose_quantile_method() returns the one to use. var('quantile_method') forces 'aggregate' or
    'rank'; by default ('auto'), DuckDB counts the values at run time (`relation` is built by then)
    and takes the aggregates when `copies` times that many values, at var('quantile_bytes_per_value')
    (default 24, measured on DuckDB 2.0) each, need at most half of the connection's memory_limit
    (the other half stays for a model built beside it). The other engines rank. -#}

{% macro choose_quantile_method(relation, where, copies) -%}
    {%- set forced = var('quantile_method', 'auto') -%}
    {%- if forced not in ('auto', 'aggregate', 'rank') -%}
        {{ exceptions.raise_compiler_error("var quantile_method must be auto, aggregate or rank, got '" ~ forced ~ "'") }}
    {%- endif -%}
    {{ return(adapter.dispatch('choose_quantile_method', 'salespulse')(relation, where, copies, forced)) }}
{%- endmacro %}

{% macro default__choose_quantile_method(relation, where, copies, forced) -%}
    {%- if forced == 'aggregate' -%}
        {{ exceptions.raise_compiler_error("quantile_method 'aggregate' is implemented on DuckDB only") }}
    {%- endif -%}
    {{ return('rank') }}
{%- endmacro %}

{% macro duckdb__choose_quantile_method(relation, where, copies, forced) -%}
    {%- if forced != 'auto' -%}
        {{ return(forced) }}
    {%- endif -%}
    {#- parsing, or compiling against a warehouse where it is not built yet -#}
    {%- if not execute or load_relation(relation) is none -%}
        {{ return('rank') }}
    {%- endif -%}
    {%- set sql -%}
        select count(*) * {{ copies }} * {{ var('quantile_bytes_per_value', 24) }} <= parse_formatted_bytes(current_setting('memory_limit')) / 2
        from {{ relation }}
        where {{ where }}
    {%- endset -%}
    {%- set fits = run_query(sql).columns[0].values()[0] -%}
    {{ return('aggregate' if fits else 'rank') }}
{%- endmacro %}

{#- The partition key of the rank path: on DuckDB one 64-bit hash of `columns` (NULLs hash alike,
    so the company slice's NULL slice_value matches itself), which the model checks for collisions
    among its groups (a collision fails the build, never merges two groups); elsewhere none, and
    the model partitions by the columns. -#}
{% macro group_hash_key(columns) -%}
    {{ return(adapter.dispatch('group_hash_key', 'salespulse')(columns)) }}
{%- endmacro %}

{% macro default__group_hash_key(columns) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro duckdb__group_hash_key(columns) -%}
    {{ return('hash(' ~ columns | join(', ') ~ ')') }}
{%- endmacro %}

{#- `not materialized` for a CTE read by several others where the engine would otherwise write it
    out whole (DuckDB materializes a CTE referenced twice; PostgreSQL takes the hint too). Spark
    inlines CTEs and has no such keyword. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'salespulse')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}not materialized{%- endmacro %}

{% macro spark__cte_not_materialized() -%}{%- endmacro %}

{#- Continuous quantile q of n sorted values (numpy "linear", PERCENTILE_CONT): h = (n - 1) * q;
    the value at rank floor(h) + 1 plus fraction(h) times the step to the next one. Both rank
    paths of kpi_sales_cycle position their groups with these. -#}
{% macro rank_floor(n, q) -%}
    floor(({{ n }} - 1) * {{ q }})
{%- endmacro %}

{% macro rank_fraction(n, q) -%}
    cast(({{ n }} - 1) * {{ q }} - floor(({{ n }} - 1) * {{ q }}) as {{ type_double() }})
{%- endmacro %}
