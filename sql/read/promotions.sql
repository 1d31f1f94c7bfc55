-- The twenty newest promotion decisions.
select
    promoted_at,
    model_id,
    previous_model_id,
    decision,
    reason,
    candidate_score,
    production_score
from model_promotions
order by promoted_at desc
limit 20
