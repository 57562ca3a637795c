with

activities as (

    select * from {{ ref('stg_activities') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

final as (

    select
        ---------- ids
        activities.activity_id,
        activities.rep_id,
        reps.team_id,
        activities.lead_id,
        activities.opportunity_id,
        activities.customer_id,

        ---------- strings
        activities.activity_type,
        activities.direction,

        ---------- timestamps and local dates
        activities.occurred_at,
        activities.occurred_at_local,
        activities.occurred_on

    from activities
    left join reps
        on activities.rep_id = reps.rep_id

)

select * from final
