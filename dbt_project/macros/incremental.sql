{#- The latest version of every record of an append-only raw table, maintained incrementally.

    Full build: `latest_versions` over the whole raw table.
    Incremental build (the table exists and the orchestrator did not ask for --full-refresh): only
    the keys that can have changed are recomputed, from all of their raw rows, and replace their
    previous row (delete+insert on the key):
      * keys with a row in a batch loaded after the newest batch already in this table, and
      * (versioned tables) keys with a version that the moving cutoff has just made visible:
        updated_at in [previous cutoff, new cutoff).
    Every other key's latest version cannot have changed: no new row, and no version crossed the
    cutoff. The cutoff in force is kept in `_cutoff`. A cutoff that moves back (a rerun of an
    earlier day), another time zone or changed model code cannot be handled by adding rows: the
    orchestrator then runs `dbt build --full-refresh` (orchestration/salespulse/incremental.py).
    Soft deletes stay in this table (is_deleted); the stg_ model on top applies them. -#}
{% macro incremental_latest_versions(relation, key_columns, versioned=true) -%}
{%- set keys = key_columns | join(', ') -%}
{%- if is_incremental() %}
with

changed_keys as (

    select distinct {{ keys }}
    from {{ relation }}
    where _batch_id > (select coalesce(max(_batch_id), 0) from {{ this }})
    {%- if versioned %}
        or (
            updated_at >= (select max(_cutoff) from {{ this }})
            and updated_at < {{ salespulse.as_of_cutoff() }}
        )
    {%- endif %}

),

changed_rows as (

    select raw_rows.*
    from {{ relation }} as raw_rows
    where exists (
        select 1 from changed_keys
        where {% for k in key_columns -%}
            changed_keys.{{ k }} = raw_rows.{{ k }}{% if not loop.last %} and {% endif %}
        {%- endfor %}
    )

)

select latest.*, {{ salespulse.as_of_cutoff() }} as _cutoff
from ({{ salespulse.latest_versions('changed_rows', key_columns, versioned) }}) as latest
{%- else %}
select latest.*, {{ salespulse.as_of_cutoff() }} as _cutoff
from ({{ salespulse.latest_versions(relation, key_columns, versioned) }}) as latest
{%- endif %}
{%- endmacro %}

{#- Config of the incremental base models: delete+insert on the key; a plain table on engines
    without delete+insert on their default file format (Spark on Parquet). -#}
{% macro incremental_base_config(key_columns) -%}
    {{ config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='delete+insert',
        unique_key=key_columns,
        on_schema_change='fail',
    ) }}
{%- endmacro %}
