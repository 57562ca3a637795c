{#- One row per sales-cycle duration (metrics.md "Sales cycle"), assigned to the local day of
    its END event and to the rep / team the duration belongs to:
    - response_time: lead.first_contacted_at - lead.created_at; the lead owner.
    - signing_time: won opportunity closed_at - coalesce(its lead's first_contacted_at,
      opportunity created_at); the opportunity owner. "Its lead" is the lead the opportunity
      names (lead_id), else a lead naming the opportunity as its converted_opportunity_id.
    - delivery_time: latest 'delivered' delivered_at - signed_at of a live order; the order's rep.
    - lead_to_cash: response + signing + delivery per won lead whose converted opportunity has a
      delivered live order (the earliest signed one); ends with that delivery; the lead owner.
    Negative durations are kept and flagged is_invalid (excluded from statistics downstream). -#}
with

leads as (

    select * from {{ ref('fct_leads') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

delivered_live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live
        and latest_delivered_at is not null

),

won_opportunities as (

    select * from opportunities
    where is_won
        and closed_at is not null

),

-- an opportunity's lead: the one it names first, else one naming it as converted (oldest first)
opportunity_lead_links as (

    select
        opportunity_id,
        lead_id,
        0 as link_priority
    from won_opportunities
    where lead_id is not null

    union all

    select
        converted_opportunity_id as opportunity_id,
        lead_id,
        1 as link_priority
    from leads
    where converted_opportunity_id is not null

),

opportunity_leads as (

    select
        opportunity_lead_links.opportunity_id,
        leads.first_contacted_at,
        row_number() over (
            partition by opportunity_lead_links.opportunity_id
            order by opportunity_lead_links.link_priority, leads.created_at, leads.lead_id
        ) as link_rank
    from opportunity_lead_links
    inner join leads
        on opportunity_lead_links.lead_id = leads.lead_id

),

signing as (

    select
        won_opportunities.opportunity_id,
        won_opportunities.owner_rep_id,
        won_opportunities.team_id,
        won_opportunities.closed_on,
        {{ duration_days(
            'coalesce(opportunity_leads.first_contacted_at, won_opportunities.created_at)',
            'won_opportunities.closed_at'
        ) }} as signing_time_days
    from won_opportunities
    left join opportunity_leads
        on won_opportunities.opportunity_id = opportunity_leads.opportunity_id
        and opportunity_leads.link_rank = 1

),

-- the earliest signed delivered live order of each opportunity
first_delivered_orders as (

    select
        opportunity_id,
        latest_delivered_on,
        delivery_time_days,
        row_number() over (partition by opportunity_id order by signed_at, order_id) as order_rank
    from delivered_live_orders
    where opportunity_id is not null

),

lead_to_cash as (

    select
        leads.lead_id,
        leads.owner_rep_id,
        leads.owner_team_id,
        first_delivered_orders.latest_delivered_on,
        leads.response_time_days,
        signing.signing_time_days,
        first_delivered_orders.delivery_time_days
    from leads
    inner join signing
        on leads.converted_opportunity_id = signing.opportunity_id
    inner join first_delivered_orders
        on leads.converted_opportunity_id = first_delivered_orders.opportunity_id
        and first_delivered_orders.order_rank = 1
    where leads.is_won
        and leads.response_time_days is not null

),

durations as (

    select
        'response_time' as measure,
        lead_id as event_id,
        first_contacted_on as end_on,
        owner_rep_id as rep_id,
        owner_team_id as team_id,
        response_time_days as duration_days,
        response_time_days < 0 as is_invalid
    from leads
    where first_contacted_at is not null

    union all

    select
        'signing_time' as measure,
        opportunity_id as event_id,
        closed_on as end_on,
        owner_rep_id as rep_id,
        team_id,
        signing_time_days as duration_days,
        signing_time_days < 0 as is_invalid
    from signing

    union all

    select
        'delivery_time' as measure,
        order_id as event_id,
        latest_delivered_on as end_on,
        rep_id,
        team_id,
        delivery_time_days as duration_days,
        delivery_time_days < 0 as is_invalid
    from delivered_live_orders

    union all

    select
        'lead_to_cash' as measure,
        lead_id as event_id,
        latest_delivered_on as end_on,
        owner_rep_id as rep_id,
        owner_team_id as team_id,
        response_time_days + signing_time_days + delivery_time_days as duration_days,
        -- a negative component makes the whole cycle invalid, even if the sum is positive
        response_time_days < 0 or signing_time_days < 0 or delivery_time_days < 0 as is_invalid
    from lead_to_cash

),

final as (

    select
        ---------- ids
        measure,
        event_id,
        rep_id,
        team_id,

        ---------- numerics
        duration_days,

        ---------- booleans
        is_invalid,

        ---------- dates
        end_on

    from durations

)

select * from final
