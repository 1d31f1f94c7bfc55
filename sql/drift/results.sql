-- PSI per feature of drift run {{ run_id }}: the sum of its bins' terms, with
-- the status from drift.warn_psi ({{ warn_psi }}) and drift.fail_psi ({{ fail_psi }}).
select
    run_id,
    feature,
    kind,
    sum(psi_term) as psi,
    case
        when sum(psi_term) >= {{ fail_psi }} then 'FAIL'
        when sum(psi_term) >= {{ warn_psi }} then 'WARN'
        else 'OK'
    end as status,
    count(*)::integer as n_bins,
    sum(reference_count)::bigint as reference_count,
    sum(current_count)::bigint as current_count,
    coalesce(sum(reference_count) filter (where bin = 0), 0)::bigint as reference_nulls,
    coalesce(sum(current_count) filter (where bin = 0), 0)::bigint as current_nulls
from drift_bins
where run_id = {{ run_id }}
group by run_id, feature, kind
order by psi desc, feature
