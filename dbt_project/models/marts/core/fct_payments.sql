{#- One row per payment (回款), converted at the rate of its local payment day, with the paid
    order's rep, team and customer attributes. KPIs count payments of live orders only. -#}
with

payments as (

    select * from {{ ref('stg_payments') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

converted as (

    select
        payments.*,
        fx.rate_to_reporting as fx_rate,
        {{ to_reporting_currency('payments.amount', 'fx.rate_to_reporting') }} as amount_rpt
    from payments
    {{ join_fx_rate('fx', 'payments.currency', 'payments.paid_on') }}

),

final as (

    select
        ---------- ids
        converted.payment_id,
        converted.order_id,
        orders.customer_id,
        orders.rep_id,
        orders.team_id,

        ---------- strings
        converted.currency,
        orders.customer_region,
        orders.customer_acquisition_channel,
        orders.customer_segment,

        ---------- numerics
        converted.amount,
        converted.fx_rate,
        converted.amount_rpt,

        ---------- booleans
        orders.order_id is not null as has_order,
        coalesce(orders.is_live, false) as is_order_live,

        ---------- timestamps and local dates
        converted.paid_at,
        converted.paid_at_local,
        converted.paid_on

    from converted
    left join orders
        on converted.order_id = orders.order_id

)

select * from final
