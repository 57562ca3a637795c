with

source as (

    select * from {{ ref('base_opportunities') }}

),

current_opportunities as (

    select
        *,
        -- a close after the as-of cutoff had not happened yet
        {{ as_of_milestone('cast(closed_at as ' ~ type_timestamptz() ~ ')') }} as closed_at_asof,
        coalesce(is_closed, false)
            and (closed_at is null or closed_at < {{ as_of_cutoff() }}) as is_closed_asof
    from source
    where not coalesce(is_deleted, false)
        and created_at < {{ as_of_cutoff() }}

),

renamed as (

    select
        ---------- ids
        cast(opportunity_id as {{ type_string() }}) as opportunity_id,
        cast(customer_id as {{ type_string() }}) as customer_id,
        cast(lead_id as {{ type_string() }}) as lead_id,
        cast(owner_rep_id as {{ type_string() }}) as owner_rep_id,

        ---------- strings
        {{ clean_code('stage') }} as stage,
        cast(loss_reason as {{ type_string() }}) as loss_reason,
        upper(trim(currency)) as currency,

        ---------- numerics
        cast(amount as decimal(18, 4)) as amount,

        ---------- booleans
        is_closed_asof as is_closed,
        is_closed_asof and coalesce(is_won, false) as is_won,
        is_closed_asof and not coalesce(is_won, false) as is_lost,

        ---------- dates
        cast(expected_close_on as date) as expected_close_on,

        ---------- timestamps
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        {{ to_local_timestamp('created_at') }} as created_at_local,
        {{ to_local_date('created_at') }} as created_on,
        closed_at_asof as closed_at,
        {{ to_local_timestamp('closed_at_asof') }} as closed_at_local,
        {{ to_local_date('closed_at_asof') }} as closed_on,
        cast(updated_at as {{ type_timestamptz() }}) as updated_at,

        ---------- lineage
        _batch_id,
        _loaded_at,
        _source_system

    from current_opportunities

)

select * from renamed
