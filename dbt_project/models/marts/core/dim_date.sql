{#- One row per local calendar day from the start of the first fiscal year with data through
    the as-of date, with its month / fiscal quarter / fiscal year. Period ends are capped at
    the as-of date (the as-of period is partial); *_end_natural holds the uncapped end. -#}
with

bounds as (

    select * from {{ ref('int_calendar_bounds') }}

),

days as (

    {{ date_series('min_date', 'max_date', 'bounds') }}

),

bucketed as (

    select
        date_day,
        {{ period_start('month', 'date_day') }} as month_start,
        {{ period_start('quarter', 'date_day') }} as fiscal_quarter_start,
        {{ period_start('year', 'date_day') }} as fiscal_year_start
    from days

),

natural_ends as (

    select
        *,
        {{ add_days(add_months('month_start', 1), -1) }} as month_end_natural,
        {{ add_days(add_months('fiscal_quarter_start', 3), -1) }} as fiscal_quarter_end_natural,
        {{ add_days(add_months('fiscal_year_start', 12), -1) }} as fiscal_year_end_natural
    from bucketed

),

final as (

    select
        ---------- day
        date_day,
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(month from date_day) as integer) as calendar_month,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as integer) as iso_day_of_week,
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend,
        date_day = {{ as_of_date() }} as is_as_of_date,

        ---------- month
        month_start,
        {{ least_of('month_end_natural', as_of_date()) }} as month_end,
        month_end_natural,
        month_end_natural > {{ as_of_date() }} as is_partial_month,
        substr(cast(month_start as {{ type_string() }}), 1, 7) as month_label,

        ---------- fiscal quarter
        cast(extract(year from fiscal_year_end_natural) as integer) as fiscal_year,
        cast(floor({{ fiscal_month_offset('date_day') }} / 3) as integer) + 1 as fiscal_quarter,
        fiscal_quarter_start,
        {{ least_of('fiscal_quarter_end_natural', as_of_date()) }} as fiscal_quarter_end,
        fiscal_quarter_end_natural,
        fiscal_quarter_end_natural > {{ as_of_date() }} as is_partial_fiscal_quarter,
        'FY' || cast(extract(year from fiscal_year_end_natural) as {{ type_string() }})
            || '-Q' || cast(cast(floor({{ fiscal_month_offset('date_day') }} / 3) as integer) + 1 as {{ type_string() }})
            as fiscal_quarter_label,

        ---------- fiscal year
        fiscal_year_start,
        {{ least_of('fiscal_year_end_natural', as_of_date()) }} as fiscal_year_end,
        fiscal_year_end_natural,
        fiscal_year_end_natural > {{ as_of_date() }} as is_partial_fiscal_year,
        'FY' || cast(extract(year from fiscal_year_end_natural) as {{ type_string() }}) as fiscal_year_label

    from natural_ends

)

select * from final
