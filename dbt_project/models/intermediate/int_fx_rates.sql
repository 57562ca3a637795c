{#- Exchange-rate validity ranges: a rate applies from its rate_date up to (excluding) the next
    published rate_date of the same currency. The reporting currency is always 1. -#}
with

published_rates as (

    select * from {{ ref('stg_fx_rates') }}
    where currency <> {{ reporting_currency() }}

),

ranged as (

    select
        currency,
        rate_date as valid_from,
        coalesce(
            lead(rate_date) over (partition by currency order by rate_date),
            cast('9999-12-31' as date)
        ) as valid_to,
        rate_to_reporting,
        false as is_reporting_currency
    from published_rates

),

reporting_currency as (

    select
        {{ reporting_currency() }} as currency,
        cast('0001-01-01' as date) as valid_from,
        cast('9999-12-31' as date) as valid_to,
        cast(1 as decimal(18, 8)) as rate_to_reporting,
        true as is_reporting_currency

),

unioned as (

    select * from ranged
    union all
    select * from reporting_currency

)

select
    currency,
    valid_from,
    valid_to,
    rate_to_reporting,
    is_reporting_currency
from unioned
