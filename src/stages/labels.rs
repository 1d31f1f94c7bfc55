//! labels: `labels_daily`, forward-looking churn labels (sql/labels/labels_daily.sql).

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
/// user_daily (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, rows_per_batch: i64) -> Result<Outcome> {
    let plan = batches::plan_by_rows(conn, Stage::Labels, "user_daily", rows_per_batch)?;
    let dates = batches::dates(
        conn,
        Stage::Labels,
        &plan,
        "select min(activity_date), max(activity_date) from user_daily",
    )?;
    let rows = batches::build(
        conn,
        Stage::Labels,
        "labels_daily",
        "labels/labels_daily.sql",
        ctx,
        &plan,
        dates,
    )?;
    let positive_rate: Option<f64> = conn
        .query_row("select avg(churn_label) from labels_daily", [], |r| r.get(0))
        .context(|| "labels: summarizing labels_daily".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "horizon_days": ctx.horizon_days,
            "inactive_days": ctx.inactive_days,
            "positive_rate": positive_rate,
            "batches": plan.len(),
        }),
        failure: None,
        summary: format!(
            "labels_daily has {rows} rows, churn rate {:.4} (leaves within {} days, away {} more) over every \
             user-day, those of users already gone included; training-set gives the rate of the population \
             the model learns",
            positive_rate.unwrap_or(0.0),
            ctx.horizon_days,
            ctx.inactive_days
        ),
    })
}


/// The stage's work: `labels_daily` brought up to date, a day's work for a
/// day's data, or rebuilt whole (`stages::incremental`).
pub fn maintain(conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
    // A change of user_daily on day e changes the labels from e minus the
    // look-ahead on.
    let look_ahead = i64::from(ctx.config.labels.horizon_days + ctx.config.labels.inactive_days);
    let derived = Derived {
        stage: Stage::Labels,
        table: "labels_daily",
        template: "labels/labels_daily.sql",
        date_column: "as_of_date",
        upstream: vec![("user_daily", -look_ahead)],
    };
    incremental::run_derived(
        conn,
        ctx,
        &derived,
        |conn| {
            let last = conn
                .query_row("select max(activity_date) from user_daily", [], |r| r.get(0))
                .context(|| "labels: reading the last date".into())?;
            Ok((None, last))
        },
        run,
    )
}

/// The labels stage (docs/design.md §1): the forward-looking churn label per (user, as-of day).
#[derive(Debug, Default)]
pub struct Labels;

impl StageDef for Labels {
    fn name(&self) -> &'static str {
        "labels"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["user_daily"]
    }

    fn maintains(&self) -> bool {
        true
    }

    fn writes(&self) -> &'static [&'static str] {
        &["labels_daily"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table("labels_daily", "labels/labels_daily.sql")]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        maintain(conn, ctx)
    }
}
