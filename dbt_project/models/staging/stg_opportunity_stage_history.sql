with

source as (

    {{ latest_versions(source('raw', 'opportunity_stage_history'), ['opportunity_id', 'stage', 'entered_at'], versioned=false) }}

),

renamed as (

    select
        ---------- ids
        cast(opportunity_id as {{ type_string() }}) as opportunity_id,

        ---------- strings
        {{ clean_code('stage') }} as stage,

        ---------- timestamps
        cast(entered_at as {{ type_timestamptz() }}) as entered_at,
        {{ to_local_timestamp('entered_at') }} as entered_at_local,
        {{ to_local_date('entered_at') }} as entered_on,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where entered_at < {{ as_of_cutoff() }}

)

select * from renamed
