-- When one model last scored ($1 = model_id).
select max(scored_at) from predictions where model_id = $1
