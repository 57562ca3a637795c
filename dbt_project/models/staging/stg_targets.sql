with

source as (

    {{ latest_versions(source('raw', 'targets'), ['target_id'], versioned=false) }}

),

renamed as (

    select
        ---------- ids
        cast(target_id as {{ type_string() }}) as target_id,
        cast(scope_id as {{ type_string() }}) as scope_id,

        ---------- strings
        {{ clean_code('period_type') }} as period_type,
        {{ clean_code('scope') }} as scope,
        {{ clean_code('metric') }} as metric,
        upper(trim(currency)) as currency,

        ---------- numerics (target currency; counts have none)
        cast(target_value as decimal(18, 4)) as target_value,

        ---------- dates
        cast(period_start as date) as period_start,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source

)

select * from renamed
