{#- The monthly target plan (metrics.md "Targets and attainment", 目标与达成): one row per month x
    scope (company / team / rep) x metric (bookings / new_customers) that any target covers,
    explicit or derived, including months after the as-of date (a year target plans its whole
    year). Built on its own month spine from the targets (int_periods stops at the as-of date).

    derivation: 'explicit' (a month target), 'from_quarter' (a quarter target split over its
    months), 'from_year' (a year target split over quarters, then months), 'from_team' (a team's
    month, in any derivation, split equally over the team's reps (role 'rep' or NULL: sdr and
    manager members carry no quota) employed on the month's first day, when no member of that
    team has a rep target for that metric and month; ties of the split go to the smaller rep_id). Parts are rounded to
    cents (bookings) or whole customers (new_customers) with the largest remainder method, so
    the parts of a whole sum exactly to it. -#}
with

scope_months as (

    select * from {{ ref('int_target_months') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

team_months as (

    select * from scope_months
    where scope = 'team'

),

rep_months as (

    select
        scope_months.*,
        reps.team_id
    from scope_months
    left join reps
        on scope_months.scope_id = reps.rep_id
    where scope_months.scope = 'rep'

),

-- team months without any rep target of that team, metric and month, x the team's reps (role
-- 'rep') employed on the month's first day (left_on is the last day employed)
team_rep_candidates as (

    select
        team_months.*,
        reps.rep_id
    from team_months
    inner join reps
        on team_months.scope_id = reps.team_id
        -- quota carriers only: sdr and manager members get no share (a NULL role counts as rep)
        and coalesce(reps.role, 'rep') = 'rep'
        and coalesce(reps.hired_on, cast('0001-01-01' as date)) <= team_months.month_start
        and (reps.left_on is null or reps.left_on >= team_months.month_start)
    where not exists (
        select 1
        from rep_months
        where rep_months.team_id = team_months.scope_id
            and rep_months.metric = team_months.metric
            and rep_months.month_start = team_months.month_start
    )

),

team_split as (

    {{ largest_remainder(
        'team_rep_candidates',
        ['month_start', 'scope_id', 'metric'],
        'target_units',
        '1',
        'rep_id'
    ) }}

),

from_team as (

    select
        month_start,
        'rep' as scope,
        rep_id as scope_id,
        scope_id as team_id,
        metric,
        unit_scale,
        part_units as target_units,
        'from_team' as derivation,
        source_target_id,
        source_period_type,
        source_period_start,
        'team' as source_scope,
        scope_id as source_scope_id,
        source_target_value,
        target_units as team_target_units
    from team_split

),

own_scope as (

    select
        scope_months.month_start,
        scope_months.scope,
        scope_months.scope_id,
        case scope_months.scope
            when 'team' then scope_months.scope_id
            when 'rep' then reps.team_id
        end as team_id,
        scope_months.metric,
        scope_months.unit_scale,
        scope_months.target_units,
        scope_months.derivation,
        scope_months.source_target_id,
        scope_months.source_period_type,
        scope_months.source_period_start,
        scope_months.scope as source_scope,
        scope_months.scope_id as source_scope_id,
        scope_months.source_target_value,
        cast(null as {{ type_hugeint() }}) as team_target_units
    from scope_months
    left join reps
        on scope_months.scope = 'rep'
        and scope_months.scope_id = reps.rep_id

),

unioned as (

    select * from own_scope
    union all
    select * from from_team

),

final as (

    select
        ---------- keys
        month_start,
        scope,
        scope_id,
        metric,

        ---------- ids
        team_id,
        source_target_id,

        ---------- measures
        cast(cast(target_units as decimal(38, 2)) / unit_scale as decimal(18, 2)) as target_value,
        case when metric = 'bookings' then {{ reporting_currency() }} end as currency,

        ---------- lineage
        derivation,
        source_period_type,
        source_period_start,
        source_scope,
        source_scope_id,
        cast(source_target_value as decimal(18, 4)) as source_target_value,

        ---------- dates
        {{ add_days(add_months('month_start', 1), -1) }} as month_end,
        {{ period_start('quarter', 'month_start') }} as fiscal_quarter_start,
        {{ period_start('year', 'month_start') }} as fiscal_year_start,

        ---------- booleans
        month_start > {{ as_of_date() }} as is_after_as_of

    from unioned

)

select * from final
