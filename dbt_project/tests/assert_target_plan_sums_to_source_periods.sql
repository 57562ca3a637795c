{{ config(meta={'dagster': {'ref': {'name': 'kpi_target_plan'}}}) }}
{#- The months derived from a year / quarter target sum EXACTLY to it (largest remainder rounding).
    Returns one row per violation:
    1. every quarter (explicit, or a year target's share) = Σ kpi_target_plan months of that quarter
       and scope key (explicit months + their derived siblings), when at least one of its months is
       derived and its explicit months do not exceed it;
    2. every year target = Σ of its fiscal year's quarters (explicit + derived), when at least one
       quarter is derived and the explicit ones do not exceed it;
    3. a year target with no explicit quarter or month target under it = Σ of its 12 plan months.
    Values compare in planning units (cents / whole customers). -#}
with

explicit as (

    select * from {{ ref('int_target_explicit') }}

),

quarters as (

    select * from {{ ref('int_target_quarters') }}

),

plan as (

    select * from {{ ref('kpi_target_plan') }}
    where derivation <> 'from_team'

),

plan_quarters as (

    select
        fiscal_quarter_start,
        scope,
        scope_id,
        metric,
        sum(target_value) as plan_value,
        coalesce(sum(target_value) filter (where derivation = 'explicit'), 0) as explicit_value,
        count(*) filter (where derivation <> 'explicit') as derived_months
    from plan
    group by fiscal_quarter_start, scope, scope_id, metric

),

quarter_violations as (

    select
        'quarter' as level,
        quarters.source_target_id,
        quarters.quarter_start as period_start,
        quarters.scope,
        quarters.scope_id,
        quarters.metric,
        quarters.quarter_value as expected_value,
        plan_quarters.plan_value as plan_value
    from quarters
    left join plan_quarters
        on quarters.quarter_start = plan_quarters.fiscal_quarter_start
        and quarters.scope = plan_quarters.scope
        and quarters.scope_id is not distinct from plan_quarters.scope_id
        and quarters.metric = plan_quarters.metric
    where coalesce(plan_quarters.derived_months, 0) > 0
        and plan_quarters.explicit_value <= quarters.quarter_value
        and plan_quarters.plan_value <> quarters.quarter_value

),

year_quarters as (

    select
        fiscal_year_start,
        scope,
        scope_id,
        metric,
        sum(quarter_value) as quarters_value,
        coalesce(sum(quarter_value) filter (where quarter_derivation = 'explicit'), 0) as explicit_value,
        count(*) filter (where quarter_derivation = 'from_year') as derived_quarters
    from quarters
    group by fiscal_year_start, scope, scope_id, metric

),

year_targets as (

    select
        *,
        cast(cast(target_units as decimal(38, 2)) / unit_scale as decimal(18, 2)) as expected_value
    from explicit
    where period_type = 'year'

),

year_violations as (

    select
        'year' as level,
        year_targets.target_id as source_target_id,
        year_targets.period_start,
        year_targets.scope,
        year_targets.scope_id,
        year_targets.metric,
        year_targets.expected_value,
        year_quarters.quarters_value as plan_value
    from year_targets
    left join year_quarters
        on year_targets.period_start = year_quarters.fiscal_year_start
        and year_targets.scope = year_quarters.scope
        and year_targets.scope_id is not distinct from year_quarters.scope_id
        and year_targets.metric = year_quarters.metric
    where coalesce(year_quarters.derived_quarters, 0) > 0
        and year_quarters.explicit_value <= year_targets.expected_value
        and year_quarters.quarters_value <> year_targets.expected_value

),

pure_year_months as (

    select
        year_targets.target_id,
        sum(plan.target_value) as plan_value,
        count(plan.month_start) as months
    from year_targets
    left join plan
        on year_targets.period_start = plan.fiscal_year_start
        and year_targets.scope = plan.scope
        and year_targets.scope_id is not distinct from plan.scope_id
        and year_targets.metric = plan.metric
    where not exists (
        select 1
        from explicit as children
        where children.period_type in ('quarter', 'month')
            and children.fiscal_year_start = year_targets.period_start
            and children.scope = year_targets.scope
            and children.scope_id is not distinct from year_targets.scope_id
            and children.metric = year_targets.metric
    )
    group by year_targets.target_id

),

pure_year_violations as (

    select
        'year_months' as level,
        year_targets.target_id as source_target_id,
        year_targets.period_start,
        year_targets.scope,
        year_targets.scope_id,
        year_targets.metric,
        year_targets.expected_value,
        pure_year_months.plan_value
    from year_targets
    inner join pure_year_months
        on year_targets.target_id = pure_year_months.target_id
    where pure_year_months.months <> 12
        or pure_year_months.plan_value is distinct from year_targets.expected_value

)

select * from quarter_violations
union all
select * from year_violations
union all
select * from pure_year_violations
