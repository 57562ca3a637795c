{#- The current version of every record of a raw (append-only) table as of the cutoff.

    Versioned tables (with updated_at): versions updated at or after the as-of cutoff are
    ignored; then the latest updated_at per key wins, ties go to the later _batch_id, then the
    later _loaded_at. Unversioned tables: the latest load per key wins.
    Soft deletes are applied by the caller (a deleted latest version hides the record). -#}
{% macro latest_versions(relation, key_columns, versioned=true) -%}
{#- Most keys have a single visible version (activities, payments: all of them). Those rows are
    taken as they are; only the keys with several versions go through the window, which sorts
    every column of its input (a plain window over the whole table took ~1.7x the time of
    copying it). Keys are never NULL: the raw contract quarantines rows without their key. -#}
{%- set visible -%}
    {%- if versioned %}updated_at < {{ salespulse.as_of_cutoff() }}{% else %}1 = 1{% endif -%}
{%- endset -%}
{%- set repeated_keys -%}
    (select {{ key_columns | join(', ') }}
     from {{ relation }}
     where {{ visible }}
     group by {{ key_columns | join(', ') }}
     having count(*) > 1)
{%- endset -%}
{%- set same_key -%}
    {% for k in key_columns -%} repeated.{{ k }} = versions.{{ k }}{% if not loop.last %} and {% endif %}{%- endfor %}
{%- endset %}
    select versions.*, 1 as _version_rank
    from {{ relation }} as versions
    where {{ visible }}
        and not exists (select 1 from {{ repeated_keys }} as repeated where {{ same_key }})

    union all

    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by
                    {% if versioned -%} updated_at desc nulls last, {% endif -%}
                    _batch_id desc nulls last,
                    _loaded_at desc nulls last
            ) as _version_rank
        from {{ relation }} as versions
        where {{ visible }}
            and exists (select 1 from {{ repeated_keys }} as repeated where {{ same_key }})
    ) as ranked
    where _version_rank = 1
{%- endmacro %}

{#- Trimmed enum value, lower case. -#}
{% macro clean_code(column) -%}
    lower(trim(cast({{ column }} as {{ salespulse.type_string() }})))
{%- endmacro %}
