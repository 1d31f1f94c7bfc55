//! features: `user_features_daily`, rolling windows over `user_daily`
//! (sql/features/user_features_daily.sql).

use duckdb::Connection;

use crate::config::Config;
use crate::error::Result;
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
    let plan = batches::plan_by_rows(conn, Stage::Features, "user_daily", rows_per_batch)?;
    let rows = batches::build(
        conn,
        Stage::Features,
        "user_features_daily",
        "features/user_features_daily.sql",
        ctx,
        &plan,
        (None, None),
    )?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "windows": ctx.windows,
            "fail_rate_window": ctx.fail_rate_window,
            "recent_days": ctx.recent_days,
            "batches": plan.len(),
        }),
        failure: None,
        summary: format!(
            "user_features_daily has {rows} rows (windows {:?} days)",
            ctx.windows
        ),
    })
}


/// The stage's work: `user_features_daily` brought up to date, a day's work for a
/// day's data, or rebuilt whole (`stages::incremental`).
pub fn maintain(conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
    let derived = Derived {
        stage: Stage::Features,
        table: "user_features_daily",
        template: "features/user_features_daily.sql",
        date_column: "as_of_date",
        upstream: vec![("user_daily", 0)],
    };
    incremental::run_derived(
        conn,
        ctx,
        &derived,
        // The data's last day: the users whose one new day it is slide
        // their windows from their stored row (the template's `slid`).
        |conn| Ok((None, incremental::read(conn, "user_daily")?.and_then(|wm| wm.last_date))),
        run,
    )
}

/// The features stage (docs/design.md §1): rolling-window features per (user, as-of day).
#[derive(Debug, Default)]
pub struct Features;

impl StageDef for Features {
    fn name(&self) -> &'static str {
        "features"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["user_daily"]
    }

    fn maintains(&self) -> bool {
        true
    }

    fn writes(&self) -> &'static [&'static str] {
        &["user_features_daily"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table(
            "user_features_daily",
            "features/user_features_daily.sql",
        )]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        maintain(conn, ctx)
    }
}
