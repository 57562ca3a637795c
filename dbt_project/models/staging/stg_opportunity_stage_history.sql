with

source as (

    select * from {{ ref('base_opportunity_stage_history') }}

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
