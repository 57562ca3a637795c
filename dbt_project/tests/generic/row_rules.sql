{#-
  Every row-level rule of one model, checked in a single scan.

  One test node per model and severity instead of one per column and rule: at 100k orders the
  ~440 row-level tests cost more in dbt's per-node overhead (compile, connection, a Dagster
  event each) than their SQL, and at 10M orders each was a separate scan of the table.

  Arguments (all optional):
    not_null:        [column, ...]                   fails rows where the column is NULL
    non_negative:    [column, ...]                   fails rows where the column is < 0
    accepted_values: {column: [value, ...], ...}     fails non-NULL values outside the list
    expressions:     [boolean SQL, ...]              fails rows where the expression is false
                                                     (NULL passes, as in expression_is_true)

  It returns one row per broken rule: `rule` (for example `not_null(order_id)`) and
  `failing_rows`. The test fails with the total of failing rows, so dbt's "Got N results" counts
  rows as the one-rule tests did; the rows say which rules broke. Portable: plain CASE/SUM and
  UNION ALL on DuckDB, PostgreSQL and Spark.
-#}
{% test row_rules(model, not_null=[], non_negative=[], accepted_values={}, expressions=[]) %}
{{ config(fail_calc="coalesce(sum(failing_rows), 0)") }}
{%- set rules = [] -%}
{%- for column in not_null -%}
    {%- do rules.append(("not_null(" ~ column ~ ")", column ~ " is null")) -%}
{%- endfor -%}
{%- for column in non_negative -%}
    {%- do rules.append(("non_negative(" ~ column ~ ")", column ~ " < 0")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set quoted = [] -%}
    {%- for v in values -%}
        {%- do quoted.append("'" ~ (v | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do rules.append(("accepted_values(" ~ column ~ ")", column ~ " not in (" ~ quoted | join(", ") ~ ")")) -%}
{%- endfor -%}
{%- for expression in expressions -%}
    {%- do rules.append(("expression(" ~ expression ~ ")", "not (" ~ expression ~ ")")) -%}
{%- endfor -%}
{%- if rules | length == 0 -%}
    {{ exceptions.raise_compiler_error("row_rules on " ~ model ~ ": no rules given") }}
{%- endif %}

with counts as (
    select
    {%- for name, failing in rules %}
        sum(case when {{ failing }} then 1 else 0 end) as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{% for name, failing in rules %}
select '{{ name | replace("'", "''") }}' as rule, rule_{{ loop.index }} as failing_rows
from counts
where rule_{{ loop.index }} > 0
{% if not loop.last %}union all{% endif %}
{%- endfor %}

{% endtest %}
