//! prepare: `user_daily`, the dense per-user daily table (sql/prepare/user_daily.sql).
//!
//! Large inputs are built a batch of users at a time (`stages::batches`),
//! cut by their events: DuckDB's memory for the daily aggregate, the join
//! and the sort then follows the batch, not the whole file (at 100,000
//! users, 4.9 GB in one statement). The table comes out the same, row for
//! row and in the same order.

use duckdb::{Connection, OptionalExt};

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::sql::{self, SqlContext};
use crate::stages::{Ctx, Outcome, Stage, StageDef, Template, batches};

const TEMPLATE: &str = "prepare/user_daily.sql";

/// The checks whose failing rows would stretch the daily grid: one event
/// dated 2100 among 300 made 8 million rows of `user_daily`.
const GRID_GUARDS: [&str; 2] = [
    "validate/events_time_not_after_load.sql",
    "validate/events_time_after_earliest_date.sql",
];

/// Refuses to build the grid over an event dated far in the future or the
/// past, whatever the severity its validate check was given: such a date
/// would give every user a row for every day up to it.
fn refuse_dates_out_of_range(conn: &Connection, ctx: &SqlContext) -> Result<()> {
    for check in GRID_GUARDS {
        let failing = sql::render(check, ctx)?;
        let first: Option<(i64, i64, String, String)> = conn
            .query_row(
                &format!(
                    "select count(*) over (), event_id, user_id, event_time::varchar from ({failing}) limit 1"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .context(|| format!("prepare: running sql/{check}"))?;
        if let Some((n, event_id, user_id, time)) = first {
            return Err(Error::BadInput(format!(
                "prepare: {n} event(s) break \"{}\", e.g. event {event_id} of user {user_id} at {time}: the daily \
                 grid would run to that date for every user. Fix or remove them and load again, or widen \
                 validate.future_slack_days / validate.earliest_date if the dates are right (sql/{check})",
                sql::header(check, "assert").unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Events per batch: 100,000 users × 120 days (23.4 million events) make 4
/// batches; the default 2,000 users one.
pub const EVENTS_PER_BATCH: i64 = 6_000_000;

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    refuse_dates_out_of_range(conn, ctx)?;
    let plan = batches::plan(
        conn,
        Stage::Prepare,
        "select count(*) from events",
        "select users.user_id, count(events.user_id) as n
         from users left join events on events.user_id = users.user_id
         group by users.user_id",
        events_per_batch,
    )?;
    let n_batches = plan.len();
    let dates = batches::dates(
        conn,
        Stage::Prepare,
        &plan,
        "select min(event_time)::date, max(event_time)::date from events",
    )?;
    batches::build(conn, Stage::Prepare, "user_daily", TEMPLATE, ctx, &plan, dates)?;
    let (rows, users, first, last): (i64, i64, String, String) = conn
        .query_row(
            "select count(*), count(distinct user_id), min(activity_date)::varchar, \
             max(activity_date)::varchar from user_daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .context(|| "prepare: summarizing user_daily".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "first_date": first, "last_date": last, "users": users, "batches": n_batches,
        }),
        failure: None,
        summary: format!("user_daily has {rows} rows for {users} users from {first} to {last}"),
    })
}

/// The prepare stage (docs/design.md §1): the dense daily table, a range of users at a time.
#[derive(Debug, Default)]
pub struct Prepare;

impl StageDef for Prepare {
    fn name(&self) -> &'static str {
        "prepare"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["users", "events"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &["user_daily"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table("user_daily", "prepare/user_daily.sql")]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, &ctx.sql())
    }
}
