{#- One row per lead (not deleted, created by the as-of date) with every funnel milestone in UTC
    and local time, the owner's team and the outcome of its converted opportunity. -#}
with

leads as (

    select * from {{ ref('stg_leads') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

opportunities as (

    select * from {{ ref('stg_opportunities') }}

),

-- candidate opportunities of a lead: the converted one, and any that names the lead
candidate_links as (

    select
        lead_id,
        converted_opportunity_id as opportunity_id,
        0 as link_priority
    from leads
    where converted_opportunity_id is not null

    union all

    select
        lead_id,
        opportunity_id,
        1 as link_priority
    from opportunities
    where lead_id is not null

),

-- the lead's opportunity: the converted one, else one naming the lead (won first, then oldest)
linked_opportunities as (

    select
        candidate_links.lead_id,
        opportunities.opportunity_id,
        opportunities.is_closed,
        opportunities.is_won,
        opportunities.closed_at,
        opportunities.closed_at_local,
        opportunities.closed_on,
        row_number() over (
            partition by candidate_links.lead_id
            order by
                candidate_links.link_priority,
                case when opportunities.is_won then 0 else 1 end,
                opportunities.created_at,
                opportunities.opportunity_id
        ) as link_rank
    from candidate_links
    inner join opportunities
        on candidate_links.opportunity_id = opportunities.opportunity_id

),

lead_opportunity as (

    select * from linked_opportunities
    where link_rank = 1

),

joined as (

    select
        leads.*,
        reps.team_id as owner_team_id,
        reps.team_name as owner_team_name,
        lead_opportunity.opportunity_id,
        coalesce(lead_opportunity.is_won, false) as is_won,
        coalesce(lead_opportunity.is_closed and not lead_opportunity.is_won, false) as is_lost,
        case when lead_opportunity.is_won then lead_opportunity.closed_at end as won_at,
        case when lead_opportunity.is_won then lead_opportunity.closed_at_local end as won_at_local,
        case when lead_opportunity.is_won then lead_opportunity.closed_on end as won_on
    from leads
    left join reps
        on leads.owner_rep_id = reps.rep_id
    left join lead_opportunity
        on leads.lead_id = lead_opportunity.lead_id

),

final as (

    select
        ---------- ids
        lead_id,
        campaign_id,
        owner_rep_id,
        owner_team_id,
        converted_customer_id,
        coalesce(converted_opportunity_id, opportunity_id) as converted_opportunity_id,

        ---------- strings
        channel,
        owner_team_name,

        ---------- numerics: response time (negative = invalid, excluded from statistics)
        {{ duration_days('created_at', 'first_contacted_at') }} as response_time_days,
        {{ duration_days('created_at', 'first_contacted_at') }} * 24 as response_time_hours,

        ---------- booleans: a later stage implies the earlier ones
        first_contacted_at is not null or qualified_at is not null or is_won as is_contacted,
        qualified_at is not null or is_won as is_qualified,
        disqualified_at is not null as is_disqualified,
        is_won,
        is_lost,
        first_contacted_at < created_at as is_response_time_invalid,

        ---------- timestamps and local dates
        created_at,
        created_at_local,
        created_on,
        first_contacted_at,
        first_contacted_at_local,
        first_contacted_on,
        qualified_at,
        qualified_at_local,
        qualified_on,
        disqualified_at,
        disqualified_at_local,
        disqualified_on,
        won_at,
        won_at_local,
        won_on

    from joined

)

select * from final
