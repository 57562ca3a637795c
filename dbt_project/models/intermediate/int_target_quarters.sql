{#- Quarter level of the target plan: one row per scope key (scope, scope_id, metric) and fiscal
    quarter covered by an explicit quarter target or by a year target.

    - An explicit quarter target stands as given (quarter_derivation 'explicit').
    - A year target covers the quarters of its fiscal year without an explicit target: the year
      value minus the explicit quarters of that year (floored at 0; year_is_overallocated flags
      explicit quarters summing to more than the year) is split over them by the previous fiscal
      year's company bookings of those quarters (shares renormalised over the quarters split), or
      equally when the previous year lacks bookings in any of its months, with the largest
      remainder method in planning units (ties: the earlier quarter). quarter_derivation
      'from_year'. When all four quarters are explicit the year target derives nothing
      (year_is_overallocated when they do not sum to it). -#}
with

explicit as (

    select * from {{ ref('int_target_explicit') }}

),

weights as (

    select
        fiscal_year_start,
        fiscal_quarter_start,
        bool_and(prior_year_complete) as prior_year_complete,
        sum(prior_bookings_units) as prior_bookings_units
    from {{ ref('int_target_prior_year_weights') }}
    group by fiscal_year_start, fiscal_quarter_start

),

year_targets as (

    select * from explicit
    where period_type = 'year'

),

quarter_targets as (

    select * from explicit
    where period_type = 'quarter'

),

explicit_quarter_totals as (

    select
        fiscal_year_start,
        scope,
        scope_id,
        metric,
        count(*) as explicit_quarters,
        sum(target_units) as explicit_units
    from quarter_targets
    group by fiscal_year_start, scope, scope_id, metric

),

year_quarters as (

    select
        year_targets.target_id,
        year_targets.scope,
        year_targets.scope_id,
        year_targets.metric,
        year_targets.unit_scale,
        year_targets.period_start as year_start,
        year_targets.target_value_rpt as year_value_rpt,
        year_targets.target_units as year_units,
        coalesce(explicit_quarter_totals.explicit_units, 0) as explicit_units,
        coalesce(explicit_quarter_totals.explicit_quarters, 0) as explicit_quarters,
        weights.fiscal_quarter_start,
        weights.prior_year_complete,
        weights.prior_bookings_units
    from year_targets
    inner join weights
        on year_targets.period_start = weights.fiscal_year_start
    left join explicit_quarter_totals
        on year_targets.period_start = explicit_quarter_totals.fiscal_year_start
        and year_targets.scope = explicit_quarter_totals.scope
        and year_targets.scope_id is not distinct from explicit_quarter_totals.scope_id
        and year_targets.metric = explicit_quarter_totals.metric

),

to_split as (

    select
        year_quarters.*,
        {{ greatest_of('year_units - explicit_units', '0') }} as remaining_units,
        case when prior_year_complete then prior_bookings_units else 1 end as split_weight
    from year_quarters
    where not exists (
        select 1
        from quarter_targets
        where quarter_targets.period_start = year_quarters.fiscal_quarter_start
            and quarter_targets.scope = year_quarters.scope
            and quarter_targets.scope_id is not distinct from year_quarters.scope_id
            and quarter_targets.metric = year_quarters.metric
    )

),

split as (

    {{ largest_remainder(
        'to_split',
        ['target_id'],
        'remaining_units',
        'split_weight',
        'fiscal_quarter_start'
    ) }}

),

from_year as (

    select
        fiscal_quarter_start as quarter_start,
        scope,
        scope_id,
        metric,
        unit_scale,
        part_units as quarter_units,
        'from_year' as quarter_derivation,
        prior_year_complete as is_share_split,
        target_id as source_target_id,
        'year' as source_period_type,
        year_start as source_period_start,
        year_value_rpt as source_target_value,
        year_units as source_target_units,
        explicit_units > year_units as year_is_overallocated
    from split

),

from_explicit as (

    select
        period_start as quarter_start,
        scope,
        scope_id,
        metric,
        unit_scale,
        target_units as quarter_units,
        'explicit' as quarter_derivation,
        cast(null as boolean) as is_share_split,
        target_id as source_target_id,
        'quarter' as source_period_type,
        period_start as source_period_start,
        target_value_rpt as source_target_value,
        target_units as source_target_units,
        false as year_is_overallocated
    from quarter_targets

),

unioned as (

    select * from from_year
    union all
    select * from from_explicit

),

final as (

    select
        ---------- keys
        quarter_start,
        scope,
        scope_id,
        metric,

        ---------- measures (planning units: cents or whole customers)
        unit_scale,
        cast(quarter_units as {{ type_hugeint() }}) as quarter_units,
        cast(cast(quarter_units as decimal(38, 2)) / unit_scale as decimal(18, 2)) as quarter_value,

        ---------- lineage
        quarter_derivation,
        is_share_split,
        source_target_id,
        source_period_type,
        source_period_start,
        source_target_value,
        cast(source_target_units as {{ type_hugeint() }}) as source_target_units,
        year_is_overallocated,

        ---------- dates
        {{ period_start('year', 'quarter_start') }} as fiscal_year_start

    from unioned

)

select * from final
