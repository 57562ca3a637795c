with

source as (

    {{ latest_versions(source('raw', 'marketing_spend'), ['spend_id'], versioned=false) }}

),

renamed as (

    select
        ---------- ids
        cast(spend_id as {{ type_string() }}) as spend_id,
        cast(campaign_id as {{ type_string() }}) as campaign_id,

        ---------- strings
        {{ clean_code('channel') }} as channel,
        {{ clean_code('category') }} as category,
        upper(trim(currency)) as currency,

        ---------- numerics (original currency)
        cast(amount as decimal(18, 4)) as amount,

        ---------- dates (already local calendar days)
        cast(spend_date as date) as spend_date,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where spend_date <= {{ as_of_date() }}

)

select * from renamed
