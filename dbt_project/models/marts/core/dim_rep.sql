with

reps as (

    select * from {{ ref('stg_reps') }}

),

final as (

    select
        ---------- ids
        reps.rep_id,
        reps.team_id,
        reps.manager_rep_id,

        ---------- strings
        reps.rep_name,
        reps.team_name,
        reps.region,
        reps.role,
        managers.rep_name as manager_rep_name,

        ---------- dates (left_on is the last day employed)
        reps.hired_on,
        reps.left_on,

        ---------- booleans
        reps.hired_on <= {{ as_of_date() }}
            and (reps.left_on is null or reps.left_on >= {{ as_of_date() }}) as is_employed_on_as_of

    from reps
    left join reps as managers
        on reps.manager_rep_id = managers.rep_id

)

select * from final
