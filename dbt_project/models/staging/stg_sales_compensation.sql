with

source as (

    {{ latest_versions(source('raw', 'sales_compensation'), ['rep_id', 'month'], versioned=false) }}

),

renamed as (

    select
        ---------- ids
        cast(rep_id as {{ type_string() }}) as rep_id,

        ---------- strings
        upper(trim(currency)) as currency,

        ---------- numerics (original currency)
        cast(base_salary as decimal(18, 4)) as base_salary,
        cast(commission as decimal(18, 4)) as commission,
        cast(bonus as decimal(18, 4)) as bonus,

        ---------- dates
        {{ month_trunc('month') }} as month,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from source
    where month <= {{ as_of_date() }}

)

select * from renamed
