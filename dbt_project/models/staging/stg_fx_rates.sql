with

source as (

    {{ latest_versions(source('raw', 'fx_rates'), ['rate_date', 'currency'], versioned=false) }}

),

renamed as (

    select
        ---------- ids
        upper(trim(currency)) as currency,

        ---------- numerics (reporting-currency units per 1 unit)
        cast(rate_to_reporting as decimal(18, 8)) as rate_to_reporting,

        ---------- dates
        cast(rate_date as date) as rate_date,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where rate_date <= {{ as_of_date() }}

)

select * from renamed
