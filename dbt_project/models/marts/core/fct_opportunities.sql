{#- One row per opportunity (not deleted, created by the as-of date). amount_rpt uses the rate of
    the local close day, or of the as-of date while the opportunity is open. -#}
with

opportunities as (

    select * from {{ ref('stg_opportunities') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

leads as (

    select * from {{ ref('stg_leads') }}

),

-- An opportunity without lead_id still has "its lead" when a lead names it as its converted
-- opportunity (the earliest such lead), as fct_leads links them.
leads_by_conversion as (

    select
        converted_opportunity_id,
        first_contacted_at,
        row_number() over (partition by converted_opportunity_id order by created_at, lead_id) as lead_rank
    from leads
    where converted_opportunity_id is not null

),

converted as (

    select
        opportunities.*,
        coalesce(opportunities.closed_on, {{ as_of_date() }}) as fx_rate_date,
        fx.rate_to_reporting as fx_rate,
        {{ to_reporting_currency('opportunities.amount', 'fx.rate_to_reporting') }} as amount_rpt
    from opportunities
    {{ join_fx_rate('fx', 'opportunities.currency', 'coalesce(opportunities.closed_on, ' ~ as_of_date() ~ ')') }}

),

joined as (

    select
        converted.*,
        reps.team_id,
        reps.team_name,
        coalesce(leads.first_contacted_at, by_conversion.first_contacted_at) as lead_first_contacted_at,
        coalesce(leads.first_contacted_at, by_conversion.first_contacted_at, converted.created_at)
            as signing_started_at
    from converted
    left join reps
        on converted.owner_rep_id = reps.rep_id
    left join leads
        on converted.lead_id = leads.lead_id
    left join leads_by_conversion as by_conversion
        on converted.lead_id is null
        and by_conversion.converted_opportunity_id = converted.opportunity_id
        and by_conversion.lead_rank = 1

),

final as (

    select
        ---------- ids
        opportunity_id,
        customer_id,
        lead_id,
        owner_rep_id,
        team_id,

        ---------- strings
        stage,
        loss_reason,
        currency,
        team_name,

        ---------- numerics
        amount,
        fx_rate,
        amount_rpt,
        case when is_won then {{ duration_days('signing_started_at', 'closed_at') }} end as signing_time_days,

        ---------- booleans
        is_closed,
        is_won,
        is_lost,

        ---------- dates
        expected_close_on,
        fx_rate_date,

        ---------- timestamps and local dates
        created_at,
        created_at_local,
        created_on,
        closed_at,
        closed_at_local,
        closed_on,
        lead_first_contacted_at,
        signing_started_at

    from joined

)

select * from final
