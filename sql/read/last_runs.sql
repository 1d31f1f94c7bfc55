-- Each stage's last run, in the order they finished.
select
    stage,
    status,
    strftime(finished_at, '%Y-%m-%d %H:%M:%S') as finished_at,
    rows_out,
    error
from pipeline_runs
qualify row_number() over (partition by stage order by finished_at desc) = 1
order by finished_at
