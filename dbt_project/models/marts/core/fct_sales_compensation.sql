{#- One row per rep and month, converted at the rate of the month's first day. -#}
with

compensation as (

    select * from {{ ref('stg_sales_compensation') }}

),

reps as (

    select * from {{ ref('dim_rep') }}

),

converted as (

    select
        compensation.*,
        fx.rate_to_reporting as fx_rate
    from compensation
    {{ join_fx_rate('fx', 'compensation.currency', 'compensation.month') }}

),

final as (

    select
        ---------- ids
        converted.rep_id || '|' || cast(converted.month as {{ type_string() }}) as compensation_id,
        converted.rep_id,
        reps.team_id,

        ---------- strings
        reps.team_name,
        converted.currency,

        ---------- numerics: original currency
        converted.base_salary,
        converted.commission,
        converted.bonus,
        coalesce(converted.base_salary, 0) + coalesce(converted.commission, 0)
            + coalesce(converted.bonus, 0) as total_compensation,

        ---------- numerics: reporting currency
        converted.fx_rate,
        {{ to_reporting_currency('converted.base_salary', 'converted.fx_rate') }} as base_salary_rpt,
        {{ to_reporting_currency('converted.commission', 'converted.fx_rate') }} as commission_rpt,
        {{ to_reporting_currency('converted.bonus', 'converted.fx_rate') }} as bonus_rpt,
        {{ to_reporting_currency(
            '(coalesce(converted.base_salary, 0) + coalesce(converted.commission, 0) + coalesce(converted.bonus, 0))',
            'converted.fx_rate') }} as total_compensation_rpt,

        ---------- dates
        converted.month

    from converted
    left join reps
        on converted.rep_id = reps.rep_id

)

select * from final
