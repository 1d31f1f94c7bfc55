//! prepare: `user_daily`, the dense per-user daily table (sql/prepare/user_daily.sql).
//!
//! Large inputs are built a batch of users at a time, each batch a range of
//! user ids in order (bound as parameters), inside the stage's one
//! transaction: DuckDB's memory for
//! the daily aggregate, the join and the sort then follows the batch, not the
//! whole file (at 100,000 users, 4.9 GB in one statement). The table comes
//! out the same, row for row and in the same order.

use chrono::NaiveDate;
use duckdb::Connection;
use serde::Serialize;

use crate::error::{Context, Result};
use crate::sql::{self, SqlContext};
use crate::stages::Outcome;

const TEMPLATE: &str = "prepare/user_daily.sql";

/// Events per batch: 100,000 users × 120 days (23.4 million events) make 4
/// batches; the default 2,000 users one.
pub const EVENTS_PER_BATCH: i64 = 6_000_000;

#[derive(Serialize)]
struct BatchContext<'a> {
    #[serde(flatten)]
    base: &'a SqlContext,
    /// Whether the statement keeps one batch of users: `user_id between $1
    /// and $2`, the batch's first and last user id bound as parameters.
    batched: bool,
    /// The first and last event dates of the whole data, read once for
    /// every batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_date: Option<NaiveDate>,
}

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    let plan = plan_batches(conn, events_per_batch)?;
    let n_batches = plan.len();
    let (first_date, last_date): (Option<NaiveDate>, Option<NaiveDate>) = if n_batches > 1 {
        conn.query_row(
            "select min(event_time)::date, max(event_time)::date from events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "prepare: reading the data's dates".into())?
    } else {
        (None, None)
    };
    for (k, bounds) in plan.iter().enumerate() {
        let batch_ctx = BatchContext {
            base: ctx,
            batched: bounds.is_some(),
            first_date,
            last_date,
        };
        let statement = if k == 0 {
            sql::create_table_as("user_daily", TEMPLATE, &batch_ctx)?
        } else {
            format!(
                "insert into user_daily\n{}\n;",
                sql::render_with(TEMPLATE, &batch_ctx)?
            )
        };
        let which = || {
            if n_batches > 1 {
                format!(" (batch {} of {n_batches})", k + 1)
            } else {
                String::new()
            }
        };
        match bounds {
            None => conn.execute_batch(&statement),
            Some((first, last)) => conn
                .execute(statement.trim_end_matches(';'), duckdb::params![first, last])
                .map(|_| ()),
        }
        .context(|| format!("prepare: running sql/{TEMPLATE}{}", which()))?;
    }
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

/// The batches to build: one `None` when the events fit in one batch.
/// Otherwise consecutive ranges of users in user_id order, each holding
/// about `events_per_batch` events, as (first, last) user ids: a range
/// predicate, so DuckDB skips the row groups of other users when the events
/// are stored in user order (as generate writes them). A NULL user id
/// builds no row either way.
fn plan_batches(conn: &Connection, events_per_batch: i64) -> Result<Vec<Option<(String, String)>>> {
    let per_batch = events_per_batch.max(1);
    let events: i64 = conn
        .query_row("select count(*) from events", [], |r| r.get(0))
        .context(|| "prepare: counting events".into())?;
    if events <= per_batch {
        return Ok(vec![None]);
    }
    let mut stmt = conn
        .prepare(
            "with per_user as (
                 select users.user_id, count(events.user_id) as n
                 from users left join events on events.user_id = users.user_id
                 where users.user_id is not null
                 group by users.user_id
             ),
             running as (
                 select user_id, sum(n) over (order by user_id rows unbounded preceding) as upto
                 from per_user
             )
             select min(user_id), max(user_id) from running
             group by greatest(upto - 1, 0) // ? order by 1",
        )
        .context(|| "prepare: planning the batches".into())?;
    let bounds: Vec<(String, String)> = stmt
        .query_map([per_batch], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .context(|| "prepare: planning the batches".into())?;
    Ok(bounds.into_iter().map(Some).collect())
}
