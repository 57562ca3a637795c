{#- Win rate (metrics.md "Funnel conversion": win_rate, win_rate_value) per period (month, fiscal
    quarter, fiscal year) and slice (company, team, rep = the opportunity owner), over the
    opportunities CLOSED (won or lost) in the period, by the local day of closed_at. Amounts in
    the reporting currency at the rate of the close day (fct_opportunities.amount_rpt). Dense:
    every period from the first with a close through the as-of period, for every slice value seen. -#}
{%- set grains = ['month', 'quarter', 'year'] -%}
{%- set slices = {'team': 'team_id', 'rep': 'owner_rep_id'} -%}

with

closed_opportunities as (

    select * from {{ ref('fct_opportunities') }}
    where is_closed
        and closed_on is not null

),

periods as (

    select * from {{ ref('int_periods') }}

),

closes as (

    select
        closed_on,
        owner_rep_id,
        team_id,
        case when is_won then 1 else 0 end as won,
        case when is_lost then 1 else 0 end as lost,
        case when is_won then amount_rpt end as won_amount,
        amount_rpt as closed_amount
    from closed_opportunities

),

bucketed as (

    {{ bucket_by_grain('closes', 'closed_on', grains) }}

),

sliced as (

    {{ slice_rows('bucketed', slices) }}

),

aggregated as (

    select
        period_type,
        period_start,
        slice,
        slice_value,
        sum(won) as won,
        sum(lost) as lost,
        sum(won_amount) as won_amount,
        sum(closed_amount) as closed_amount
    from sliced
    group by period_type, period_start, slice, slice_value

),

first_periods as (

    select
        period_type,
        min(period_start) as first_period_start
    from aggregated
    group by period_type

),

slice_values as (

    select distinct slice, slice_value
    from aggregated

),

spine as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_partial,
        slice_values.slice,
        slice_values.slice_value
    from periods
    inner join first_periods
        on periods.period_type = first_periods.period_type
        and periods.period_start >= first_periods.first_period_start
    cross join slice_values

),

dense as (

    select
        spine.*,
        cast(coalesce(aggregated.won, 0) as bigint) as won,
        cast(coalesce(aggregated.lost, 0) as bigint) as lost,
        cast(coalesce(aggregated.won_amount, 0) as decimal(18, 4)) as won_amount,
        cast(coalesce(aggregated.closed_amount, 0) as decimal(18, 4)) as closed_amount
    from spine
    left join aggregated
        on {{ same_period_slice('spine', 'aggregated') }}

),

final as (

    select
        ---------- keys
        period_type,
        period_start,
        period_end,
        is_partial,
        slice,
        slice_value,

        ---------- count-based
        won,
        lost,
        won + lost as closed,
        {{ safe_divide('won', 'won + lost') }} as win_rate,

        ---------- value-based (reporting currency)
        won_amount,
        closed_amount,
        {{ safe_divide('won_amount', 'closed_amount') }} as win_rate_value

    from dense

)

select * from final
