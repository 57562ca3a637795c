{#- Month level of the target plan, per scope key (scope, scope_id, metric), before the team -> rep
    split: one row per month holding an explicit month target or lying in a quarter of
    int_target_quarters.

    - An explicit month target stands as given (derivation 'explicit').
    - A quarter (explicit, or derived from a year target) covers its months without an explicit
      target: the quarter value minus the explicit months inside it (floored at 0;
      quarter_is_overallocated flags explicit months summing to more than the quarter) is split
      over them by the previous fiscal year's company bookings of the same months (shares
      renormalised over the months split), or equally when the previous year lacks bookings in
      any of its months, with the largest remainder method in planning units (ties: the earlier
      month). derivation 'from_quarter' (explicit quarter target) or 'from_year' (a quarter
      derived from a year target). -#}
with

explicit as (

    select * from {{ ref('int_target_explicit') }}

),

quarters as (

    select * from {{ ref('int_target_quarters') }}

),

weights as (

    select * from {{ ref('int_target_prior_year_weights') }}

),

month_targets as (

    select * from explicit
    where period_type = 'month'

),

explicit_month_totals as (

    select
        fiscal_quarter_start,
        scope,
        scope_id,
        metric,
        count(*) as explicit_months,
        sum(target_units) as explicit_units
    from month_targets
    group by fiscal_quarter_start, scope, scope_id, metric

),

quarter_months as (

    select
        quarters.*,
        coalesce(explicit_month_totals.explicit_units, 0) as explicit_units,
        coalesce(explicit_month_totals.explicit_months, 0) as explicit_months,
        weights.month_start,
        weights.prior_year_complete,
        weights.prior_bookings_units
    from quarters
    inner join weights
        on quarters.quarter_start = weights.fiscal_quarter_start
    left join explicit_month_totals
        on quarters.quarter_start = explicit_month_totals.fiscal_quarter_start
        and quarters.scope = explicit_month_totals.scope
        and quarters.scope_id is not distinct from explicit_month_totals.scope_id
        and quarters.metric = explicit_month_totals.metric

),

to_split as (

    select
        quarter_months.*,
        {{ greatest_of('quarter_units - explicit_units', '0') }} as remaining_units,
        case when prior_year_complete then prior_bookings_units else 1 end as split_weight
    from quarter_months
    where not exists (
        select 1
        from month_targets
        where month_targets.period_start = quarter_months.month_start
            and month_targets.scope = quarter_months.scope
            and month_targets.scope_id is not distinct from quarter_months.scope_id
            and month_targets.metric = quarter_months.metric
    )

),

split as (

    {{ largest_remainder(
        'to_split',
        ['quarter_start', 'scope', 'scope_id', 'metric'],
        'remaining_units',
        'split_weight',
        'month_start'
    ) }}

),

derived as (

    select
        month_start,
        scope,
        scope_id,
        metric,
        unit_scale,
        part_units as target_units,
        case quarter_derivation when 'explicit' then 'from_quarter' else 'from_year' end as derivation,
        prior_year_complete as is_share_split,
        source_target_id,
        source_period_type,
        source_period_start,
        source_target_value,
        year_is_overallocated,
        explicit_units > quarter_units as quarter_is_overallocated
    from split

),

from_explicit as (

    select
        period_start as month_start,
        scope,
        scope_id,
        metric,
        unit_scale,
        target_units,
        'explicit' as derivation,
        cast(null as boolean) as is_share_split,
        target_id as source_target_id,
        'month' as source_period_type,
        period_start as source_period_start,
        target_value_rpt as source_target_value,
        false as year_is_overallocated,
        false as quarter_is_overallocated
    from month_targets

),

unioned as (

    select * from derived
    union all
    select * from from_explicit

),

final as (

    select
        ---------- keys
        month_start,
        scope,
        scope_id,
        metric,

        ---------- measures (planning units: cents or whole customers)
        unit_scale,
        cast(target_units as {{ type_hugeint() }}) as target_units,
        cast(cast(target_units as decimal(38, 2)) / unit_scale as decimal(18, 2)) as target_value,

        ---------- lineage
        derivation,
        is_share_split,
        source_target_id,
        source_period_type,
        source_period_start,
        source_target_value,
        year_is_overallocated,
        quarter_is_overallocated,

        ---------- dates
        {{ period_start('quarter', 'month_start') }} as fiscal_quarter_start,
        {{ period_start('year', 'month_start') }} as fiscal_year_start

    from unioned

)

select * from final
