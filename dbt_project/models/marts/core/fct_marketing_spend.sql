with

spend as (

    select * from {{ ref('stg_marketing_spend') }}

),

converted as (

    select
        spend.*,
        fx.rate_to_reporting as fx_rate,
        {{ to_reporting_currency('spend.amount', 'fx.rate_to_reporting') }} as amount_rpt
    from spend
    {{ join_fx_rate('fx', 'spend.currency', 'spend.spend_date') }}

),

final as (

    select
        ---------- ids
        spend_id,
        campaign_id,

        ---------- strings
        channel,
        category,
        case when category = 'advertising' then 'ad_spend' else 'other_marketing' end as cac_component,
        currency,

        ---------- numerics
        amount,
        fx_rate,
        amount_rpt,

        ---------- dates
        spend_date

    from converted

)

select * from final
