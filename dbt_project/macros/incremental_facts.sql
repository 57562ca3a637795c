{#- Incremental facts: the large fct_ tables recompute only the rows that can have changed.

    Every row of an incremental fact (and of a base_ model) carries `_cutoff`, the as-of cutoff of
    the build that wrote it. A daily build (the orchestrator did not ask for --full-refresh) takes
    the candidate keys of the model:
      * keys whose upstream incremental row was written since this fact's previous build
        (`written_since_last_build`): new, corrected or deleted records, and versions the moving
        cutoff made visible;
      * events that the moving cutoff made visible: event time in [previous cutoff, new cutoff);
      * keys the model adds itself: rows whose stored dimension attributes (team, customer
        attributes, exchange rate, latest delivery) differ from the current ones, orders of a
        customer whose order sequence changed, payments of a changed order.
    It computes those keys' rows from all of their inputs and replaces them (delete+insert on the
    key). A candidate key that has no row any more (a soft delete) gets a tombstone, a row of NULLs
    whose `_cutoff` is NULL, which deletes its old row and is then removed by the post-hook.
    The orchestrator runs a full refresh whenever the cutoff moves back or the model code, the
    macros or the vars changed (orchestration/salespulse/incremental.py). -#}

{#- Config of an incremental fact: the base models' (incremental_base_config), plus the post-hook
    that removes the tombstones (Spark builds a plain table: no tombstones, no hook). -#}
{% macro incremental_fact_config(key_columns) -%}
    {{ salespulse.incremental_base_config(key_columns) }}
    {%- if target.type != 'spark' %}
    {{ config(post_hook=["delete from {{ this }} where _cutoff is null"]) }}
    {%- endif %}
{%- endmacro %}

{#- The cutoff this fact was last built for (the newest `_cutoff` of its rows); the earliest
    timestamp when it is empty, so that every row is a candidate. An inline scalar subquery, once
    per predicate: with one `previous_build` CTE read by the predicates instead, fct_orders'
    incremental build ran out of memory at 10 million orders under the 2 GB cap (one run); the
    inline form ran there without trouble (three runs). -#}
{% macro previous_build_cutoff() -%}
    coalesce(
        (select max(_cutoff) from {{ this }}),
        cast('0001-01-01 00:00:00+00' as {{ salespulse.type_timestamptz() }})
    )
{%- endmacro %}

{#- True for an upstream row (its `_cutoff` column) written since this fact's previous build: a
    later cutoff, or the same cutoff when this build reruns the day of the previous one (then the
    rows written by both runs). -#}
{% macro written_since_last_build(cutoff_column) -%}
    (
        {{ cutoff_column }} > {{ salespulse.previous_build_cutoff() }}
        or (
            {{ cutoff_column }} = {{ salespulse.previous_build_cutoff() }}
            and {{ salespulse.previous_build_cutoff() }} = {{ salespulse.as_of_cutoff() }}
        )
    )
{%- endmacro %}

{#- The rows of a fact model: `final` with the build's cutoff, and in an incremental build a
    tombstone (every column NULL but the key) for each candidate key of `candidates_cte` that has no
    row in `final` any more. -#}
{% macro incremental_fact_rows(key_column, candidates_cte='changed_keys', final_cte='final') -%}
select
    {{ final_cte }}.*,
    {{ salespulse.as_of_cutoff() }} as _cutoff
from {{ final_cte }}
{%- if is_incremental() %}

union all

select
    {%- for column in adapter.get_columns_in_relation(this) %}
    {% if column.name == key_column -%}
    {{ candidates_cte }}.{{ key_column }}
    {%- else -%}
    cast(null as {{ column.data_type }})
    {%- endif %} as {{ column.name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
from {{ candidates_cte }}
where not exists (
    select 1 from {{ final_cte }}
    where {{ final_cte }}.{{ key_column }} = {{ candidates_cte }}.{{ key_column }}
)
{%- endif %}
{%- endmacro %}

{#- The orders rewritten since this fact's previous build: fct_orders recomputed them, and
    base_orders also has the deleted ones (the facts of an order's payments and deliveries carry its
    attributes). The model declares `-- depends_on:` both. -#}
{% macro orders_written_since_last_build() -%}
    select order_id from {{ ref('fct_orders') }}
    where {{ salespulse.written_since_last_build('_cutoff') }}

    union

    select order_id from {{ ref('base_orders') }}
    where {{ salespulse.written_since_last_build('_cutoff') }}
{%- endmacro %}
