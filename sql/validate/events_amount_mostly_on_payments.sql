-- assert: at most 2% of events are non-payment events with an amount
-- severity: warn
with

stray as (
    select
        event_id,
        event_type,
        amount
    from {{ checked_events }} as events
    where amount is not null
        and event_type not in ('payment_success', 'payment_failed')
),

totals as (
    select count(*) as n_events from {{ checked_events }} as events
),

final as (
    select stray.*
    from stray
    where (select count(*) from stray) > 0.02 * (select n_events from totals)
)

select * from final
