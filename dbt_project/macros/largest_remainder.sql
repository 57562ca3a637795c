{#- Largest-remainder (Hamilton) apportionment of a whole over the rows of each partition, in
    integer units (cents for money, whole units for counts), so the parts sum EXACTLY to the whole.

    `relation` (a CTE name) holds one row per part; `whole_units` is an integer expression, the
    same on every row of a partition (it may be negative: the absolute value is apportioned and
    the sign restored); `weight` is a non-negative integer expression whose partition sum is > 0
    (use 1 for an equal split). Each part first gets floor(whole x weight / total); the units
    left over go one each to the parts with the largest remainders, ties broken by `tie_break`
    (an ORDER BY list, e.g. the earlier period first). All arithmetic is exact (HUGEINT).

    Returns every column of `relation` plus `part_units` (HUGEINT). -#}
{% macro largest_remainder(relation, partition_by, whole_units, weight, tie_break) -%}
    {%- set partition = partition_by | join(', ') -%}
    select
        _lr_ranked.* exclude (_lr_whole, _lr_sign, _lr_weight, _lr_floor, _lr_remainder, _lr_deficit, _lr_rank),
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
                (_lr_whole * _lr_weight) // sum(_lr_weight) over (partition by {{ partition }}) as _lr_floor,
                (_lr_whole * _lr_weight) % sum(_lr_weight) over (partition by {{ partition }}) as _lr_remainder
            from (
                select
                    _lr_source.*,
                    abs(cast({{ whole_units }} as hugeint)) as _lr_whole,
                    cast(sign(cast({{ whole_units }} as hugeint)) as hugeint) as _lr_sign,
                    cast({{ weight }} as hugeint) as _lr_weight
                from {{ relation }} as _lr_source
            ) as _lr_weighted
        ) as _lr_floored
    ) as _lr_ranked
{%- endmacro %}
