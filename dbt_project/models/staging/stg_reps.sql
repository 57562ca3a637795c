with

source as (

    {{ latest_versions(source('raw', 'reps'), ['rep_id']) }}

),

renamed as (

    select
        ---------- ids
        cast(rep_id as varchar) as rep_id,
        cast(team_id as varchar) as team_id,
        cast(manager_rep_id as varchar) as manager_rep_id,

        ---------- strings
        cast(rep_name as varchar) as rep_name,
        cast(email as varchar) as email,  -- PII: staging only
        cast(team_name as varchar) as team_name,
        cast(region as varchar) as region,
        {{ clean_code('role') }} as role,

        ---------- dates
        cast(hired_on as date) as hired_on,
        cast(left_on as date) as left_on,

        ---------- timestamps
        cast(updated_at as timestamptz) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source

)

select * from renamed
