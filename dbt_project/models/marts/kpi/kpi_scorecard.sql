{#- Evaluation scorecards (metrics.md "Evaluation scorecards", 月度/季度/年度评估): one row per
    rep x grain x period (slice 'rep'), plus team rows (slice 'team') and company rows (slice
    'company') that sum their member reps' rows (actuals AND targets; ratios recomputed from the
    sums, the median from the member reps' deals).

    Reps with a row in a period: employed at some point in it (hired_on <= period_end and
    (left_on null or left_on >= period_start)) or with anything in it: a logged activity, a live
    order, an acquired customer, a closed opportunity or a target month. The team of a rep is
    dim_rep.team_id ('unknown' when missing).

    bookings / new_customers / targets as in kpi_attainment (rep scope: the order's rep, the
    customer's owner rep, the rep's plan months of the period including months after the as-of
    date); won / lost opportunities closed in the period by owner rep; win_rate = won / (won +
    lost); avg_won_deal_size = won amount / won count; median_signing_days over the won deals
    closed in the period with signing_time_days >= 0 (negatives counted in
    signing_invalid_count); activities_logged = fct_activities by rep_id occurred in the period.
    rank_in_team / rank_in_company: RANK() by attainment descending (ties share the lower
    number; attainment compared at 10 decimals); rows with NULL attainment are not ranked
    (NULL). Team rows carry rank_in_company among the teams. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
with

periods as (

    select * from {{ ref('int_periods') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live and rep_id is not null

),

acquired_customers as (

    select * from {{ ref('dim_customer') }}
    where acquired_on is not null and owner_rep_id is not null

),

closed_opportunities as (

    select * from {{ ref('fct_opportunities') }}
    where is_closed and closed_on is not null and owner_rep_id is not null

),

activities as (

    select * from {{ ref('fct_activities') }}
    where rep_id is not null

),

rep_plan as (

    select * from {{ ref('kpi_target_plan') }}
    where scope = 'rep'

),

-- every measure per rep and month, then summed over the months of each period
rep_month_events as (

    select
        {{ period_start('month', 'signed_on') }} as month_start,
        rep_id,
        amount_rpt as bookings,
        0 as new_customers,
        0 as won_opportunities,
        0 as lost_opportunities,
        cast(0 as decimal(18, 4)) as won_amount,
        0 as activities_logged,
        cast(null as decimal(18, 2)) as bookings_target,
        cast(null as decimal(18, 2)) as new_customers_target
    from live_orders

    union all

    select
        {{ period_start('month', 'acquired_on') }},
        owner_rep_id,
        0, 1, 0, 0, 0, 0, null, null
    from acquired_customers

    union all

    select
        {{ period_start('month', 'closed_on') }},
        owner_rep_id,
        0,
        0,
        case when is_won then 1 else 0 end,
        case when is_lost then 1 else 0 end,
        case when is_won then coalesce(amount_rpt, 0) else 0 end,
        0,
        null,
        null
    from closed_opportunities

    union all

    select
        {{ period_start('month', 'occurred_on') }},
        rep_id,
        0, 0, 0, 0, 0, 1, null, null
    from activities

    union all

    select
        month_start,
        scope_id,
        0,
        0,
        0,
        0,
        0,
        0,
        case when metric = 'bookings' then target_value end,
        case when metric = 'new_customers' then target_value end
    from rep_plan

),

rep_months as (

    select
        month_start,
        rep_id,
        sum(bookings) as bookings,
        sum(new_customers) as new_customers,
        sum(won_opportunities) as won_opportunities,
        sum(lost_opportunities) as lost_opportunities,
        sum(won_amount) as won_amount,
        sum(activities_logged) as activities_logged,
        sum(bookings_target) as bookings_target,
        sum(new_customers_target) as new_customers_target
    from rep_month_events
    group by month_start, rep_id

),

rep_period_measures as (

    select
        periods.period_type,
        periods.period_start,
        rep_months.rep_id,
        sum(rep_months.bookings) as bookings,
        sum(rep_months.new_customers) as new_customers,
        sum(rep_months.won_opportunities) as won_opportunities,
        sum(rep_months.lost_opportunities) as lost_opportunities,
        sum(rep_months.won_amount) as won_amount,
        sum(rep_months.activities_logged) as activities_logged,
        sum(rep_months.bookings_target) as bookings_target,
        sum(rep_months.new_customers_target) as new_customers_target
    from periods
    inner join rep_months
        on rep_months.month_start >= periods.period_start
        and rep_months.month_start <= periods.period_end_natural
    group by periods.period_type, periods.period_start, rep_months.rep_id

),

employed as (

    select
        periods.period_type,
        periods.period_start,
        reps.rep_id
    from periods
    inner join reps
        on coalesce(reps.hired_on, cast('0001-01-01' as date)) <= periods.period_end
        and (reps.left_on is null or reps.left_on >= periods.period_start)

),

rep_periods as (

    select period_type, period_start, rep_id from employed
    union
    select period_type, period_start, rep_id from rep_period_measures

),

rep_rows as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_partial,
        rep_periods.rep_id,
        coalesce(reps.team_id, 'unknown') as team_id,
        employed.rep_id is not null as is_employed,
        cast(coalesce(measures.bookings, 0) as decimal(18, 4)) as bookings,
        cast(measures.bookings_target as decimal(18, 2)) as bookings_target,
        cast(coalesce(measures.new_customers, 0) as bigint) as new_customers,
        cast(measures.new_customers_target as decimal(18, 2)) as new_customers_target,
        cast(coalesce(measures.won_opportunities, 0) as bigint) as won_opportunities,
        cast(coalesce(measures.lost_opportunities, 0) as bigint) as lost_opportunities,
        cast(coalesce(measures.won_amount, 0) as decimal(18, 4)) as won_amount,
        cast(coalesce(measures.activities_logged, 0) as bigint) as activities_logged
    from rep_periods
    inner join periods
        on rep_periods.period_type = periods.period_type
        and rep_periods.period_start = periods.period_start
    left join reps
        on rep_periods.rep_id = reps.rep_id
    left join employed
        on rep_periods.period_type = employed.period_type
        and rep_periods.period_start = employed.period_start
        and rep_periods.rep_id = employed.rep_id
    left join rep_period_measures as measures
        on rep_periods.period_type = measures.period_type
        and rep_periods.period_start = measures.period_start
        and rep_periods.rep_id = measures.rep_id

),

-- won deals with a signing time, per grain, for medians at every level
won_deals as (

    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        {{ period_start(grain, 'closed_opportunities.closed_on') }} as period_start,
        closed_opportunities.owner_rep_id as rep_id,
        coalesce(reps.team_id, 'unknown') as team_id,
        closed_opportunities.signing_time_days
    from closed_opportunities
    left join reps
        on closed_opportunities.owner_rep_id = reps.rep_id
    where closed_opportunities.is_won
        and closed_opportunities.signing_time_days is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

signing as (

    {% for level, column in [('rep', 'rep_id'), ('team', 'team_id'), ('company', 'null')] %}
    select
        period_type,
        period_start,
        '{{ level }}' as slice,
        cast({{ column }} as {{ type_string() }}) as slice_value,
        {{ quantile_exact('case when signing_time_days >= 0 then signing_time_days end', 0.5) }} as median_signing_days,
        count(*) filter (where signing_time_days >= 0) as signing_deals,
        count(*) filter (where signing_time_days < 0) as signing_invalid_count
    from won_deals
    group by period_type, period_start{% if column != 'null' %}, {{ column }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

levels as (

    select
        period_type,
        period_start,
        period_end,
        is_partial,
        'rep' as slice,
        rep_id as slice_value,
        team_id,
        1 as reps_count,
        case when is_employed then 1 else 0 end as employed_reps_count,
        bookings,
        bookings_target,
        new_customers,
        new_customers_target,
        won_opportunities,
        lost_opportunities,
        won_amount,
        activities_logged
    from rep_rows

    {% for level, column in [('team', 'team_id'), ('company', 'null')] %}
    union all

    select
        period_type,
        period_start,
        period_end,
        is_partial,
        '{{ level }}' as slice,
        cast({{ column }} as {{ type_string() }}) as slice_value,
        cast({{ column }} as {{ type_string() }}) as team_id,
        count(*) as reps_count,
        count(*) filter (where is_employed) as employed_reps_count,
        sum(bookings),
        sum(bookings_target),
        sum(new_customers),
        sum(new_customers_target),
        sum(won_opportunities),
        sum(lost_opportunities),
        sum(won_amount),
        sum(activities_logged)
    from rep_rows
    group by period_type, period_start, period_end, is_partial{% if column != 'null' %}, {{ column }}{% endif %}
    {% endfor %}

),

measured as (

    select
        levels.*,
        {{ safe_divide('levels.bookings', 'levels.bookings_target') }} as attainment,
        {{ safe_divide('levels.new_customers', 'levels.new_customers_target') }} as new_customers_attainment,
        {{ safe_divide('levels.won_opportunities', 'levels.won_opportunities + levels.lost_opportunities') }}
            as win_rate,
        {{ safe_divide('levels.won_amount', 'levels.won_opportunities') }} as avg_won_deal_size,
        signing.median_signing_days,
        coalesce(signing.signing_deals, 0) as signing_deals,
        coalesce(signing.signing_invalid_count, 0) as signing_invalid_count
    from levels
    left join signing
        on {{ same_period_slice('levels', 'signing') }}

),

ranked as (

    select
        measured.*,
        case when slice = 'rep' and attainment is not null then
            rank() over (
                partition by period_type, period_start, slice, team_id, attainment is null
                order by {{ round_double('attainment', 10) }} desc
            )
        end as rank_in_team,
        case when slice in ('rep', 'team') and attainment is not null then
            rank() over (
                partition by period_type, period_start, slice, attainment is null
                order by {{ round_double('attainment', 10) }} desc
            )
        end as rank_in_company
    from measured

),

final as (

    select
        ---------- keys
        ranked.period_type,
        ranked.period_start,
        ranked.period_end,
        ranked.is_partial,
        ranked.slice,
        ranked.slice_value,

        ---------- attributes
        ranked.team_id,
        case when ranked.slice = 'rep' then reps.rep_name end as rep_name,
        case when ranked.slice = 'rep' then reps.role end as rep_role,
        cast(ranked.reps_count as bigint) as reps_count,
        cast(ranked.employed_reps_count as bigint) as employed_reps_count,

        ---------- bookings vs target
        cast(ranked.bookings as decimal(18, 4)) as bookings,
        cast(ranked.bookings_target as decimal(18, 2)) as bookings_target,
        ranked.attainment,

        ---------- new customers vs target
        cast(ranked.new_customers as bigint) as new_customers,
        cast(ranked.new_customers_target as decimal(18, 2)) as new_customers_target,
        ranked.new_customers_attainment,

        ---------- opportunities
        cast(ranked.won_opportunities as bigint) as won_opportunities,
        cast(ranked.lost_opportunities as bigint) as lost_opportunities,
        ranked.win_rate,
        cast(ranked.won_amount as decimal(18, 4)) as won_amount,
        ranked.avg_won_deal_size,
        ranked.median_signing_days,
        cast(ranked.signing_deals as bigint) as signing_deals,
        cast(ranked.signing_invalid_count as bigint) as signing_invalid_count,

        ---------- activities
        cast(ranked.activities_logged as bigint) as activities_logged,

        ---------- ranks
        cast(ranked.rank_in_team as integer) as rank_in_team,
        cast(ranked.rank_in_company as integer) as rank_in_company

    from ranked
    left join reps
        on ranked.slice = 'rep'
        and ranked.slice_value = reps.rep_id

)

select * from final
