with

source as (

    {{ latest_versions(source('raw', 'reps'), ['rep_id']) }}

),

renamed as (

    select
        ---------- ids
        cast(rep_id as {{ type_string() }}) as rep_id,
        cast(team_id as {{ type_string() }}) as team_id,
        cast(manager_rep_id as {{ type_string() }}) as manager_rep_id,

        ---------- strings
        cast(rep_name as {{ type_string() }}) as rep_name,
        cast(email as {{ type_string() }}) as email,  -- PII: staging only
        cast(team_name as {{ type_string() }}) as team_name,
        cast(region as {{ type_string() }}) as region,
        {{ clean_code('role') }} as role,

        ---------- dates
        cast(hired_on as date) as hired_on,
        cast(left_on as date) as left_on,

        ---------- timestamps
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source

)

select * from renamed
