{#- One row per payment (回款), converted at the rate of its local payment day, with the paid
    order's rep, team and customer attributes. KPIs count payments of live orders only. -#}
-- depends_on: {{ ref('base_orders') }}
-- depends_on: {{ ref('base_payments') }}
{{ incremental_fact_config(['payment_id']) }}

with
{%- if is_incremental() %}

-- orders rewritten since the previous build of this model
changed_orders as (

    {{ orders_written_since_last_build() }}

),

-- payments rewritten or paid since the previous build, those of changed orders, and stored rows
-- whose exchange rate changed
changed_keys as (

    select payment_id from {{ ref('base_payments') }}
    where {{ written_since_last_build('_cutoff') }}

    union

    select payment_id from {{ ref('stg_payments') }}
    where paid_at >= {{ previous_build_cutoff() }}
        or order_id in (select order_id from changed_orders)

    union

    select facts.payment_id
    from {{ this }} as facts
    {{ join_fx_rate('fx', 'facts.currency', 'facts.paid_on') }}
    where facts.fx_rate is distinct from fx.rate_to_reporting

),
{%- endif %}

payments as (

    select * from {{ ref('stg_payments') }}
    {%- if is_incremental() %}
    where payment_id in (select payment_id from changed_keys)
    {%- endif %}

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

{{ incremental_fact_rows('payment_id') }}
