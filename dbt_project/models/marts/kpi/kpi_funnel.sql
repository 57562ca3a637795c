{#- Cohort funnel conversion (metrics.md "Funnel conversion", 销售漏斗转化率) per period (month,
    fiscal quarter, fiscal year) and slice (company, channel, owner rep, owner team).
    The cohort of period t = leads (not deleted) created in t; its stage counts are as of the
    as-of date and a later stage implies the earlier ones (fct_leads.is_contacted / is_qualified:
    stage skipping counts as passing through). Beside them, the period volumes: leads created,
    first contacts made, qualifications and wins that happened in t (recorded timestamps only).
    is_mature: the cohort's period ended at least var('funnel_maturity_days') days before the
    as-of date. Dense: every period from the first with a funnel event through the as-of period,
    for every slice value seen. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
{%- set slices = {'channel': 'channel', 'rep': 'owner_rep_id', 'team': 'owner_team_id'} -%}
{%- set counts = [
    'leads', 'contacted', 'qualified', 'won',
    'leads_created', 'first_contacts_made', 'qualifications', 'wins',
] -%}

with

leads as (

    select * from {{ ref('fct_leads') }}

),

periods as (

    select * from {{ ref('int_periods') }}

),

-- one row per lead and funnel event, dated by the local day of the event
funnel_events as (

    -- the cohort (dated by creation) with its stages reached by the as-of date
    select
        created_on as event_on,
        channel,
        owner_rep_id,
        owner_team_id,
        1 as leads,
        case when is_contacted then 1 else 0 end as contacted,
        case when is_qualified then 1 else 0 end as qualified,
        case when is_won then 1 else 0 end as won,
        1 as leads_created,
        0 as first_contacts_made,
        0 as qualifications,
        0 as wins
    from leads

    union all

    select
        first_contacted_on as event_on,
        channel,
        owner_rep_id,
        owner_team_id,
        0, 0, 0, 0, 0, 1, 0, 0
    from leads
    where first_contacted_on is not null

    union all

    select
        qualified_on as event_on,
        channel,
        owner_rep_id,
        owner_team_id,
        0, 0, 0, 0, 0, 0, 1, 0
    from leads
    where qualified_on is not null

    union all

    select
        won_on as event_on,
        channel,
        owner_rep_id,
        owner_team_id,
        0, 0, 0, 0, 0, 0, 0, 1
    from leads
    where is_won
        and won_on is not null

),

bucketed as (

    {{ bucket_by_grain('funnel_events', 'event_on', grains) }}

),

sliced as (

    {{ slice_rows('bucketed', slices) }}

),

aggregated as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        {% for c in counts %}
        sum({{ c }}) as {{ c }}{{ ',' if not loop.last }}
        {% endfor %}
    from sliced
    group by period_type, period_start, slice, slice_value

),

first_periods as (

    select
        period_type,
        min(period_start) as first_period_start
    from aggregated
    group by period_type

),

slice_values as (

    select distinct slice, slice_value
    from aggregated

),

spine as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_partial,
        -- the cohort's period (its natural end) ended at least funnel_maturity_days before as-of
        {{ add_days('periods.period_end_natural', var('funnel_maturity_days') | int) }}
            <= {{ as_of_date() }} as is_mature,
        slice_values.slice,
        slice_values.slice_value
    from periods
    inner join first_periods
        on periods.period_type = first_periods.period_type
        and periods.period_start >= first_periods.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.*,
        {% for c in counts %}
        cast(coalesce(aggregated.{{ c }}, 0) as bigint) as {{ c }}{{ ',' if not loop.last }}
        {% endfor %}
    from spine
    left join aggregated
        on {{ same_period_slice('spine', 'aggregated') }}

),

final as (

    select
        ---------- keys
        period_type,
        period_start,
        period_end,
        is_partial,
        slice,
        slice_value,

        ---------- cohort: leads created in the period, stages reached by the as-of date
        is_mature,
        leads,
        contacted,
        qualified,
        won,
        {{ safe_divide('contacted', 'leads') }} as lead_to_contact_rate,
        {{ safe_divide('qualified', 'contacted') }} as contact_to_qualified_rate,
        {{ safe_divide('won', 'qualified') }} as qualified_to_won_rate,
        {{ safe_divide('won', 'leads') }} as lead_to_won_rate,

        ---------- period volumes: events that happened in the period
        leads_created,
        first_contacts_made,
        qualifications,
        wins

    from dense

)

select * from final
