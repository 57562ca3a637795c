{#- The explicit targets (metrics.md "Targets and attainment"), one row per scope key
    (period_type, period_start, scope, scope_id, metric), with the value in the reporting currency
    and in integer planning units (cents for bookings, whole customers for new_customers).

    - period_start is aligned to the fiscal period of its grain holding it (a quarter target dated
      on the 15th of a quarter's second month plans that fiscal quarter); is_aligned flags it.
    - Bookings targets in another currency than the reporting one are converted with the fx rate
      of period_start (or the latest earlier one); no rate gives NULL and fails fx_converted.
      A NULL currency means the reporting currency. new_customers ignores the currency.
    - Several target_ids for the same key: the one of the latest load wins (then the larger
      target_id); duplicates_count > 1 raises a warning. Future periods are kept (plans). -#}
with

targets as (

    select * from {{ ref('stg_targets') }}
    where period_type in ('year', 'quarter', 'month')
        and scope in ('company', 'team', 'rep')
        and metric in ('bookings', 'new_customers')
        and target_value is not null
        and period_start is not null

),

aligned as (

    select
        target_id,
        period_type,
        case period_type
            when 'year' then {{ period_start('year', 'period_start') }}
            when 'quarter' then {{ period_start('quarter', 'period_start') }}
            else {{ period_start('month', 'period_start') }}
        end as period_start,
        period_start as original_period_start,
        scope,
        case when scope = 'company' then null else scope_id end as scope_id,
        metric,
        case when metric = 'bookings' then coalesce(currency, {{ reporting_currency() }}) end as currency,
        target_value,
        _batch_id,
        _loaded_at
    from targets

),

converted as (

    select
        aligned.*,
        fx.rate_to_reporting as fx_rate,
        case
            when aligned.metric = 'bookings'
                then {{ to_reporting_currency('aligned.target_value', 'fx.rate_to_reporting') }}
            else aligned.target_value
        end as target_value_rpt
    from aligned
    {{ join_fx_rate('fx', 'aligned.currency', 'aligned.original_period_start') }}

),

ranked as (

    select
        converted.*,
        count(*) over (
            partition by period_type, period_start, scope, scope_id, metric
        ) as duplicates_count,
        row_number() over (
            partition by period_type, period_start, scope, scope_id, metric
            order by _batch_id desc nulls last, _loaded_at desc nulls last, target_id desc
        ) as key_rank
    from converted

),

final as (

    select
        ---------- ids
        target_id,
        scope_id,

        ---------- strings
        period_type,
        scope,
        metric,
        currency,

        ---------- numerics
        target_value,
        fx_rate,
        target_value_rpt,
        case when metric = 'bookings' then 100 else 1 end as unit_scale,
        -- planning units: cents of the reporting currency, or whole customers
        cast(round(target_value_rpt * case when metric = 'bookings' then 100 else 1 end, 0) as {{ type_hugeint() }})
            as target_units,
        cast(duplicates_count as integer) as duplicates_count,

        ---------- booleans
        period_start = original_period_start as is_aligned,

        ---------- dates
        period_start,
        original_period_start,
        {{ period_start('year', 'period_start') }} as fiscal_year_start,
        {{ period_start('quarter', 'period_start') }} as fiscal_quarter_start

    from ranked
    where key_rank = 1

)

select * from final
