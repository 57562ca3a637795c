{#- The current version of every record of a raw (append-only) table as of the cutoff.

    Versioned tables (with updated_at): versions updated at or after the as-of cutoff are
    ignored; then the latest updated_at per key wins, ties go to the later _batch_id, then the
    later _loaded_at. Unversioned tables: the latest load per key wins.
    Soft deletes are applied by the caller (a deleted latest version hides the record). -#}
{% macro latest_versions(relation, key_columns, versioned=true) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by
                    {% if versioned -%} updated_at desc nulls last, {% endif -%}
                    _batch_id desc nulls last,
                    _loaded_at desc nulls last
            ) as _version_rank
        from {{ relation }}
        {% if versioned -%}
        where updated_at < {{ salespulse.as_of_cutoff() }}
        {%- endif %}
    ) as ranked
    where _version_rank = 1
{%- endmacro %}

{#- Trimmed enum value, lower case. -#}
{% macro clean_code(column) -%}
    lower(trim(cast({{ column }} as {{ salespulse.type_string() }})))
{%- endmacro %}
