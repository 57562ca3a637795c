{{ config(meta={'dagster': {'ref': {'name': 'kpi_target_plan'}}}) }}
{#- A team month split over its reps (derivation from_team) sums EXACTLY to the team's month
    target (largest remainder rounding); returns one row per violating team month. -#}
with

plan as (

    select * from {{ ref('kpi_target_plan') }}

),

team_months as (

    select month_start, scope_id as team_id, metric, target_value
    from plan
    where scope = 'team'

),

team_splits as (

    select
        month_start,
        source_scope_id as team_id,
        metric,
        sum(target_value) as split_value
    from plan
    where derivation = 'from_team'
    group by month_start, source_scope_id, metric

)

select
    team_splits.month_start,
    team_splits.team_id,
    team_splits.metric,
    team_splits.split_value,
    team_months.target_value
from team_splits
left join team_months
    on team_splits.month_start = team_months.month_start
    and team_splits.team_id = team_months.team_id
    and team_splits.metric = team_months.metric
where team_months.target_value is distinct from team_splits.split_value
