//! A scored slice another engine wrote (Spark's score SQL) into
//! `predictions`.

use std::path::Path;

use duckdb::Connection;

use crate::error::{Context, Error, Result};
use crate::stages::Outcome;

/// Loads a scored slice written by another engine (Spark's score SQL) into
/// `predictions`: every (model, date) it holds replaces the stored one, with
/// the score stage's ranking (1 = highest risk of the date, ties by user_id).
/// Refused, changing nothing: a file without the four columns, a model the
/// registry lacks, a risk outside [0, 1] or not finite, a user scored twice
/// on a date, a user not in `users`, a date past the last day with features.
pub fn predictions(conn: &Connection, source: &str, load_id: &str) -> Result<Outcome> {
    let folder = crate::store::lake::resolve(conn, source)?;
    if !source.starts_with("s3://") && !source.contains('*') && !Path::new(&folder).exists() {
        return Err(Error::BadInput(format!(
            "ingest: predictions {source} does not exist; pass the folder the Spark score stage wrote \
             (LAKE/predictions), a Parquet file or a glob"
        )));
    }
    let files = crate::store::parquet_source(conn, source)?;
    conn.execute_batch(&format!(
        "create or replace temp table ingest_predictions_raw as \
         select as_of_date::date as as_of_date, user_id::varchar as user_id, model_id::varchar as model_id, \
                churn_risk::double as churn_risk \
         from {files}"
    ))
    .map_err(|e| {
        Error::BadInput(format!(
            "ingest: cannot read predictions from {source}: {}. Pass Parquet files with as_of_date, user_id, \
             model_id and churn_risk (what the Spark score stage writes)",
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    // Each check selects an example of what it refuses (NULL: nothing).
    type Why = fn(&str) -> String;
    let checks: [(&str, Why); 6] = [
        (
            "select case when count(*) = 0 then 'none' end from ingest_predictions_raw",
            |_| "it holds no predictions".to_string(),
        ),
        (
            "select string_agg(model_id, ', ') from (select distinct model_id from ingest_predictions_raw \
             anti join models using (model_id) order by 1 limit 3)",
            |v| {
                format!(
                    "it scores with model(s) the registry lacks: {v}; train and export that model first (`churn models list`)"
                )
            },
        ),
        (
            "select min(coalesce(user_id, 'NULL')) from ingest_predictions_raw where churn_risk is null \
             or isnan(churn_risk) or churn_risk < 0 or churn_risk > 1 or user_id is null or as_of_date is null",
            |v| format!("a row (user {v}) lacks its user or date, or its churn_risk is not a probability"),
        ),
        (
            "select min(user_id) from (select user_id from ingest_predictions_raw \
             group by model_id, as_of_date, user_id having count(*) > 1)",
            |v| format!("it scores user {v} twice for the same model and date"),
        ),
        // A slice of users the file does not know would replace the served
        // one, and every known user would get a 404.
        (
            "select case when count(*) > 0 then format('{} row(s) of {} user(s) not in users, e.g. {}', \
             count(*), count(distinct user_id), min(user_id)) end \
             from ingest_predictions_raw anti join users using (user_id)",
            |v| format!("it holds {v}; ingest those users first, or load the scores of known users"),
        ),
        // A date past the features would be served as the latest slice for
        // good.
        (
            "select case when count(*) > 0 then format('{} row(s) dated after {}, the last day with \
             features, e.g. {} for user {}', count(*), coalesce(any_value(f.last)::varchar, 'none'), \
             min(p.as_of_date), min(p.user_id)) end \
             from ingest_predictions_raw as p, (select max(as_of_date) as last from user_features_daily) as f \
             where f.last is null or p.as_of_date > f.last",
            |v| format!("it holds {v}; a slice is scored from features, so its date must be one of theirs"),
        ),
    ];
    for (check, why) in checks {
        let example: Option<String> = conn
            .query_row(check, [], |r| r.get(0))
            .context(|| "ingest: checking the predictions".into())?;
        if let Some(v) = example {
            return Err(Error::BadInput(format!(
                "ingest: predictions {source}: {}; nothing was stored",
                why(&v)
            )));
        }
    }
    // The reasons of a replaced slice go with it (another engine's slice
    // has none).
    conn.execute_batch(
        "delete from predictions where (model_id, as_of_date) in \
         (select distinct model_id, as_of_date from ingest_predictions_raw); \
         delete from prediction_reasons where (model_id, as_of_date) in \
         (select distinct model_id, as_of_date from ingest_predictions_raw);",
    )
    .context(|| "ingest: replacing the stored slices".into())?;
    let rows = conn
        .execute(
            "insert into predictions \
             select as_of_date, user_id, model_id, churn_risk, \
                    row_number() over (partition by model_id, as_of_date order by churn_risk desc, user_id), \
                    now()::timestamp, ? \
             from ingest_predictions_raw",
            [load_id],
        )
        .context(|| "ingest: storing the predictions".into())?;
    conn.execute_batch("drop table ingest_predictions_raw")
        .context(|| "ingest: dropping the staging table".into())?;
    Ok(Outcome {
        rows_out: rows as i64,
        params: serde_json::json!({ "predictions": source }),
        failure: None,
        summary: format!(
            "{rows} predictions loaded from {source}; next: `churn serve` serves them (a running server \
             picks them up at its next reload)"
        ),
    })
}
