{#- The customers active on each period boundary day: the last day before every period of
    int_periods (period_start - 1) and the last day of every period (period_end, the as-of date
    for the partial periods). A range join of these few days against the activity spells: the
    only days customers_at_start / churned / annual churn ever look at. Since quarters and years
    start on month starts, the boundary days are the month ends plus the as-of date. -#}
with

periods as (

    select * from {{ ref('int_periods') }}

),

spells as (

    select * from {{ ref('int_customer_activity_spells') }}

),

boundary_days as (

    select {{ add_days('period_start', -1) }} as boundary_on from periods
    union
    select period_end as boundary_on from periods

),

active as (

    select
        spells.customer_id,
        boundary_days.boundary_on,
        spells.spell_number
    from boundary_days
    inner join spells
        on boundary_days.boundary_on >= spells.spell_start
        and boundary_days.boundary_on <= spells.spell_end

),

final as (

    select
        ---------- ids
        customer_id,
        spell_number,

        ---------- dates
        boundary_on as active_on

    from active

)

select * from final
