{#- The actuals targets are measured against, per month and slice (company, team, rep):
    bookings = Σ amount_rpt of live orders signed in the month, by the order's rep and that rep's
    team (kpi_revenue's definition); new_customers = customers acquired (first live order signed)
    in the month, by the customer's owner rep and that rep's team (metrics.md "new_customers(t)
    (slices: ... owner rep)"). A missing rep / team is slice_value 'unknown'. -#}
{%- set slices = {'team': 'team_id', 'rep': 'rep_id'} -%}
with

live_orders as (

    select * from {{ ref('fct_orders') }}
    where is_live

),

customers as (

    select * from {{ ref('dim_customer') }}
    where acquired_on is not null

),

events as (

    select
        {{ period_start('month', 'signed_on') }} as month_start,
        rep_id,
        team_id,
        amount_rpt as booking_rpt,
        0 as is_new_customer
    from live_orders

    union all

    select
        {{ period_start('month', 'acquired_on') }} as month_start,
        owner_rep_id as rep_id,
        owner_team_id as team_id,
        cast(null as decimal(18, 4)) as booking_rpt,
        1 as is_new_customer
    from customers

),

sliced as (

    select
        'company' as slice,
        cast(null as {{ type_string() }}) as slice_value,
        month_start,
        sum(booking_rpt) as bookings,
        sum(is_new_customer) as new_customers
    from events
    group by month_start

    {% for slice, column in slices.items() %}
    union all

    select
        '{{ slice }}' as slice,
        coalesce(cast({{ column }} as {{ type_string() }}), 'unknown') as slice_value,
        month_start,
        sum(booking_rpt) as bookings,
        sum(is_new_customer) as new_customers
    from events
    group by 2, month_start
    {% endfor %}

),

final as (

    select
        ---------- keys
        month_start,
        slice,
        slice_value,

        ---------- measures
        cast(coalesce(bookings, 0) as decimal(18, 4)) as bookings,
        cast(coalesce(new_customers, 0) as bigint) as new_customers

    from sliced

)

select * from final
