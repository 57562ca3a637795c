{#- One row per activity that occurred by the as-of cutoff, with the rep's team; incremental
    (macros/incremental_facts.sql). -#}
-- depends_on: {{ ref('base_activities') }}
{{ incremental_fact_config(['activity_id']) }}

with
{%- if is_incremental() %}

-- activities rewritten or newly visible since the previous build, and those of reps whose team changed
changed_keys as (

    select activity_id from {{ ref('base_activities') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select activity_id from {{ ref('stg_activities') }}
    where occurred_at >= {{ previous_build_cutoff() }}

    union

    select facts.activity_id
    from {{ this }} as facts
    left join {{ ref('dim_rep') }} as reps
        on facts.rep_id = reps.rep_id
    where facts.team_id is distinct from reps.team_id

),
{%- endif %}

activities as (

    select * from {{ ref('stg_activities') }}
    {%- if is_incremental() %}
    where activity_id in (select activity_id from changed_keys)
    {%- endif %}

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

{{ incremental_fact_rows('activity_id') }}
