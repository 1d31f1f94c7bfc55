//! training-set: features joined with labels for the configured population
//! (sql/training/training_set.sql).

use duckdb::Connection;

use crate::error::{Context, Result};
use crate::sql::SqlContext;
use crate::stages::{Outcome, Stage, build_table};

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    let rows = build_table(
        conn,
        Stage::TrainingSet,
        "training_set",
        "training/training_set.sql",
        ctx,
    )?;
    let (positive_rate, users, first, last): (Option<f64>, i64, Option<String>, Option<String>) = conn
        .query_row(
            "select avg(churn_label), count(distinct user_id), min(as_of_date)::varchar, \
             max(as_of_date)::varchar from training_set",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .context(|| "training-set: summarizing training_set".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "population": ctx.population,
            "rows": rows,
            "positive_rate": positive_rate,
            "users": users,
            "first_as_of_date": first,
            "last_as_of_date": last,
        }),
        failure: None,
        summary: format!(
            "training_set has {rows} rows of {users} users, positive rate {:.4} (population {})",
            positive_rate.unwrap_or(0.0),
            ctx.population
        ),
    })
}
