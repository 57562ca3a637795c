{#- Largest-remainder (Hamilton) apportionment of a whole over the rows of each partition, in
    integer units (cents for money, whole units for counts), so the parts sum EXACTLY to the whole.

    `relation` (a CTE name) holds one row per part; `whole_units` is an integer expression, the
    same on every row of a partition (it may be negative: the absolute value is apportioned and
    the sign restored); `weight` is a non-negative integer expression whose partition sum is > 0
    (use 1 for an equal split). Each part first gets floor(whole x weight / total); the units
    left over go one each to the parts with the largest remainders, ties broken by `tie_break`
    (an ORDER BY list, e.g. the earlier period first). All arithmetic is exact (HUGEINT on DuckDB, NUMERIC(38, 0) on PostgreSQL, DECIMAL(38, 0) on Spark).

    Returns every column of `relation`, the helper columns _lr_* (callers select the columns they
    need) and `part_units` (exact integer: salespulse.type_hugeint()). Portable: no
    `select * exclude`, integer division through salespulse.int_div. -#}
{% macro largest_remainder(relation, partition_by, whole_units, weight, tie_break) -%}
    {%- set partition = partition_by | join(', ') -%}
    select
        _lr_ranked.*,
        _lr_sign * (_lr_floor + case when _lr_rank <= _lr_deficit then 1 else 0 end) as part_units
    from (
        select
            _lr_floored.*,
            _lr_whole - sum(_lr_floor) over (partition by {{ partition }}) as _lr_deficit,
            row_number() over (
                partition by {{ partition }}
                order by _lr_remainder desc, {{ tie_break }}
            ) as _lr_rank
        from (
            select
                _lr_weighted.*,
                {{ salespulse.int_div('_lr_whole * _lr_weight', 'sum(_lr_weight) over (partition by ' ~ partition ~ ')') }} as _lr_floor,
                (_lr_whole * _lr_weight) % sum(_lr_weight) over (partition by {{ partition }}) as _lr_remainder
            from (
                select
                    _lr_source.*,
                    abs(cast({{ whole_units }} as {{ salespulse.type_hugeint() }})) as _lr_whole,
                    cast(sign(cast({{ whole_units }} as {{ salespulse.type_hugeint() }})) as {{ salespulse.type_hugeint() }}) as _lr_sign,
                    cast({{ weight }} as {{ salespulse.type_hugeint() }}) as _lr_weight
                from {{ relation }} as _lr_source
            ) as _lr_weighted
        ) as _lr_floored
    ) as _lr_ranked
{%- endmacro %}
