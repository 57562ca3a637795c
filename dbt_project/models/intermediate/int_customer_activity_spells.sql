{#- Activity spells (gaps and islands). metrics.md: a customer is active on day d when it has a
    live order in the churn_inactivity_days (N) days ending on d and no churned_at on or before d.
    Each live order day s makes the customer active on [s, s + N - 1]; overlapping or adjacent
    intervals of one customer are merged into spells with window functions, and each spell is
    truncated on the day before the customer's churned_on (a spell starting on or after it is
    dropped). "Active on day d" is then a range join of d against the spells: never a
    customer x day expansion. A reactivated customer (lapses, orders again) has several spells.
    Customer universe: dim_customer (deleted customers and orders of unknown customers count
    nowhere in the customer KPIs). -#}
{%- set n = var('churn_inactivity_days') | int -%}

with

customers as (

    select * from {{ ref('dim_customer') }}

),

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live

),

order_days as (

    select distinct
        live_orders.customer_id,
        live_orders.signed_on
    from live_orders
    inner join customers
        on live_orders.customer_id = customers.customer_id
    where live_orders.signed_on is not null

),

flagged as (

    select
        customer_id,
        signed_on,
        -- the previous order day covers [prev, prev + N - 1]: a new spell starts only after a
        -- gap (this day > prev + N); overlapping and adjacent covers merge
        case
            when lag(signed_on) over (partition by customer_id order by signed_on) is null then 1
            when signed_on > {{ add_days('lag(signed_on) over (partition by customer_id order by signed_on)', n) }}
                then 1
            else 0
        end as is_spell_start
    from order_days

),

numbered as (

    select
        customer_id,
        signed_on,
        sum(is_spell_start) over (
            partition by customer_id
            order by signed_on
            rows between unbounded preceding and current row
        ) as spell_number
    from flagged

),

spells as (

    select
        customer_id,
        spell_number,
        min(signed_on) as spell_start,
        max(signed_on) as last_order_on,
        count(*) as order_days,
        {{ add_days('max(signed_on)', n - 1) }} as lapse_on_natural
    from numbered
    group by customer_id, spell_number

),

truncated as (

    select
        spells.*,
        customers.churned_on,
        case
            when customers.churned_on is not null
                then {{ least_of('spells.lapse_on_natural', add_days('customers.churned_on', -1)) }}
            else spells.lapse_on_natural
        end as spell_end
    from spells
    inner join customers
        on spells.customer_id = customers.customer_id

),

final as (

    select
        ---------- ids
        customer_id,
        cast(spell_number as integer) as spell_number,

        ---------- numerics
        cast(order_days as integer) as order_days,

        ---------- booleans
        churned_on is not null and spell_end < lapse_on_natural as is_ended_by_churn,

        ---------- dates
        spell_start,
        last_order_on,
        spell_end,
        lapse_on_natural

    from truncated
    where spell_end >= spell_start

)

select * from final
