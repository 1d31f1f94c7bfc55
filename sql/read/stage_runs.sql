-- Per stage: its last successful run, and whether its last run failed.
select
    stage,
    max(finished_at) filter (where status = 'ok') as last_success,
    arg_max(status, finished_at) = 'failed' as last_failed
from pipeline_runs
group by stage
order by stage
