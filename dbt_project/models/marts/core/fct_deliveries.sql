{#- One row per delivery (by the as-of cutoff) with its order's rep, customer and signing time;
    incremental (macros/incremental_facts.sql). -#}
-- depends_on: {{ ref('base_orders') }}
-- depends_on: {{ ref('base_deliveries') }}
{{ incremental_fact_config(['delivery_id']) }}

with
{%- if is_incremental() %}

-- orders rewritten since the previous build of this model
changed_orders as (

    {{ orders_written_since_last_build() }}

),

-- deliveries rewritten or delivered since the previous build, and those of changed orders
changed_keys as (

    select delivery_id from {{ ref('base_deliveries') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select delivery_id from {{ ref('stg_deliveries') }}
    where delivered_at >= {{ previous_build_cutoff() }}
        or order_id in (select order_id from changed_orders)

),
{%- endif %}

deliveries as (

    select * from {{ ref('stg_deliveries') }}
    {%- if is_incremental() %}
    where delivery_id in (select delivery_id from changed_keys)
    {%- endif %}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        ---------- ids
        deliveries.delivery_id,
        deliveries.order_id,
        orders.customer_id,
        orders.rep_id,
        orders.team_id,

        ---------- strings
        deliveries.status,

        ---------- numerics
        {{ duration_days('orders.signed_at', 'deliveries.delivered_at') }} as days_since_signing,

        ---------- booleans
        deliveries.status = 'delivered' as is_delivered,
        deliveries.status = 'delivered'
            and deliveries.delivered_at = orders.latest_delivered_at as is_latest_delivered,
        coalesce(orders.is_live, false) as is_order_live,

        ---------- timestamps and local dates
        deliveries.delivered_at,
        deliveries.delivered_at_local,
        deliveries.delivered_on,
        orders.signed_at as order_signed_at

    from deliveries
    left join orders
        on deliveries.order_id = orders.order_id

)

{{ incremental_fact_rows('delivery_id') }}
