{#- MetricFlow's time spine: one row per local calendar day of dim_date (the start of the first
    fiscal year with data through the as-of date), with the fiscal quarter and fiscal year
    starts as custom granularities. metric_time is the LOCAL date of every event (signed_on,
    paid_on, ...), so MetricFlow's months are the marts' months; metric_time__fiscal_quarter /
    __fiscal_year follow var('fiscal_year_start_month') like the marts' quarter and year rows.
    Ending on the as-of date, cumulative metrics (year-to-date, trailing 12 months) take the
    as-of date as the last day of the partial period, as the marts do. -#}
with

days as (

    select * from {{ ref('dim_date') }}

),

final as (

    select
        ---------- dates
        date_day,
        month_start,
        fiscal_quarter_start,
        fiscal_year_start

    from days

)

select * from final
