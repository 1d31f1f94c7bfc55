//! training-set: features joined with labels for the configured population
//! (sql/training/training_set.sql).

use chrono::NaiveDate;
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
    // Given to the template even for one batch: it compares with the date as
    // a constant (sql/training/training_set.sql says why).
    let first_date = first_as_of_date(conn)?;
    let rows = batches::build(
        conn,
        Stage::TrainingSet,
        "training_set",
        "training/training_set.sql",
        ctx,
        &plan,
        (first_date, None),
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
    let out = incremental::run_derived(
        conn,
        ctx,
        &derived,
        |conn| Ok((first_as_of_date(conn)?, None)),
        run,
    )?;
    if let Some(why) = too_few_to_fit(conn, ctx.config)? {
        tracing::warn!("{why}");
    }
    Ok(out)
}

/// The first as-of date of user_features_daily: the warm-up counts from it.
fn first_as_of_date(conn: &Connection) -> Result<Option<NaiveDate>> {
    conn.query_row("select min(as_of_date) from user_features_daily", [], |r| r.get(0))
        .context(|| "training-set: reading the first as-of date".into())
}

/// Days of training as-of dates a model wants at the least, and positive rows.
const MIN_TRAIN_DAYS: u32 = 30;
const MIN_POSITIVES: i64 = 50;

/// Why `training_set` is too small to fit and test a model, if it is: a
/// split needs MIN_TRAIN_DAYS of training dates, the purge gap
/// (labels.horizon_days + labels.inactive_days) and the test share
/// (train.test_fraction) of the dates after it; and MIN_POSITIVES leavers.
/// The data must then span the features' warm-up, those as-of dates and the
/// labels' look-ahead.
pub fn too_few_to_fit(conn: &Connection, config: &Config) -> Result<Option<String>> {
    let (dates, positives): (i64, i64) = conn
        .query_row(
            "select count(distinct as_of_date), coalesce(sum(churn_label), 0)::bigint from training_set",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "training-set: counting its dates and positives".into())?;
    let gap = config.labels.look_ahead_days();
    let fraction = config.train.test_fraction.clamp(0.0, 0.9);
    let needed = (f64::from(MIN_TRAIN_DAYS + gap) / (1.0 - fraction)).ceil() as i64;
    if dates >= needed && positives >= MIN_POSITIVES {
        return Ok(None);
    }
    let warmup = config.windows().last().copied().unwrap_or(1) - 1;
    let span = i64::from(warmup) + needed + i64::from(gap);
    Ok(Some(format!(
        "training_set is too small to fit and test a model: {dates} as-of date(s) and {positives} positive \
         row(s), where a model needs about {needed} as-of dates ({MIN_TRAIN_DAYS} days of training, the \
         purge gap of labels.horizon_days + labels.inactive_days = {gap} days, and train.test_fraction = \
         {fraction} of the dates for the test) and {MIN_POSITIVES} positives. The data must span about \
         {span} days for that (the features' warm-up {warmup} + {needed} + the labels' look-ahead {gap}): \
         add days of data, or shorten the windows or the labels"
    )))
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
