//! training-set: features joined with labels for the configured population
//! (sql/training/training_set.sql).

use duckdb::Connection;

use crate::config::Config;
use crate::error::{Context, Result};
use crate::sql::SqlContext;
use crate::stages::batches::{self, ROWS_PER_BATCH};
use crate::stages::incremental::{self, Derived};
use crate::stages::{Ctx, Outcome, Stage, StageDef, Template};

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, ROWS_PER_BATCH)
}

/// `run` a range of users at a time, each about `rows_per_batch` rows of
/// user_features_daily (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, rows_per_batch: i64) -> Result<Outcome> {
    let plan = batches::plan_by_rows(conn, Stage::TrainingSet, "user_features_daily", rows_per_batch)?;
    let dates = batches::dates(
        conn,
        Stage::TrainingSet,
        &plan,
        "select min(as_of_date), max(as_of_date) from user_features_daily",
    )?;
    let rows = batches::build(
        conn,
        Stage::TrainingSet,
        "training_set",
        "training/training_set.sql",
        ctx,
        &plan,
        dates,
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
            "batches": plan.len(),
        }),
        failure: None,
        summary: format!(
            "training_set has {rows} rows of {users} users, positive rate {:.4} (population {})",
            positive_rate.unwrap_or(0.0),
            ctx.population
        ),
    })
}


/// The stage's work: `training_set` brought up to date, a day's work for a
/// day's data, or rebuilt whole (`stages::incremental`).
pub fn maintain(conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
    let derived = Derived {
        stage: Stage::TrainingSet,
        table: "training_set",
        template: "training/training_set.sql",
        date_column: "as_of_date",
        upstream: vec![("user_features_daily", 0), ("labels_daily", 0)],
    };
    incremental::run_derived(
        conn,
        ctx,
        &derived,
        |conn| {
            let first = conn
                .query_row("select min(as_of_date) from user_features_daily", [], |r| r.get(0))
                .context(|| "training-set: reading the first as-of date".into())?;
            Ok((first, None))
        },
        run,
    )
}

/// The training-set stage (docs/design.md §1): features joined to labels for the population, after the warm-up.
#[derive(Debug, Default)]
pub struct TrainingSet;

impl StageDef for TrainingSet {
    fn name(&self) -> &'static str {
        "training-set"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["user_features_daily", "labels_daily"]
    }

    fn maintains(&self) -> bool {
        true
    }

    fn writes(&self) -> &'static [&'static str] {
        &["training_set"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table("training_set", "training/training_set.sql")]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        maintain(conn, ctx)
    }
}
