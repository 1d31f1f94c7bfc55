-- The pre-churn fade of the generated world (days), from its first generate.
select (config_json->>'pre_churn_decay_days')::bigint as pre_churn_decay_days
from simulation
where mode = 'generate'
order by generated_at
limit 1
