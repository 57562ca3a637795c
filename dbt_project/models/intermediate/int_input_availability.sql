{#- Which inputs of the raw contract a source delivered: one row per raw table with its row
    count. A table with no rows at all is an absent input (many CRMs keep no marketing spend or
    compensation): the KPIs that need it are NULL, never zero, and say which input is missing.
    "Present but nothing in this period" is a different thing (a real 0) and is decided in the
    marts. Counts every loaded row (all versions, before the as-of filter): the question is
    whether the source has the table at all. -#}
{%- set tables = [
    'reps', 'customers', 'leads', 'opportunities', 'opportunity_stage_history', 'activities',
    'orders', 'payments', 'deliveries', 'marketing_spend', 'sales_compensation', 'targets',
    'fx_rates',
] -%}

with

row_counts as (

    {% for table in tables %}
    select
        '{{ table }}' as input_name,
        count(*) as raw_rows
    from {{ source('raw', table) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        ---------- strings
        input_name,

        ---------- numerics
        raw_rows,

        ---------- booleans
        raw_rows = 0 as is_missing

    from row_counts

)

select * from final
