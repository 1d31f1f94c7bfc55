//! prepare: `user_daily`, the dense per-user daily table (sql/prepare/user_daily.sql).
//!
//! Large inputs are built a batch of users at a time, each batch a range of
//! user ids in order, inside the stage's one transaction: DuckDB's memory for
//! the daily aggregate, the join and the sort then follows the batch, not the
//! whole file (at 100,000 users, 4.9 GB in one statement). The table comes
//! out the same, row for row and in the same order.

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
    /// The batch number of this statement in `prepare_batches`; none when
    /// everything is one batch (the template as `churn sql` prints it).
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<i64>,
}

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    let numbers = plan_batches(conn, events_per_batch)?;
    let n_batches = numbers.len();
    for (k, batch) in numbers.into_iter().enumerate() {
        let batch_ctx = BatchContext { base: ctx, batch };
        let statement = if k == 0 {
            sql::create_table_as("user_daily", TEMPLATE, &batch_ctx)?
        } else {
            format!(
                "insert into user_daily\n{}\n;",
                sql::render_with(TEMPLATE, &batch_ctx)?
            )
        };
        conn.execute_batch(&statement).context(|| {
            let which = if n_batches > 1 {
                format!(" (batch {} of {n_batches})", k + 1)
            } else {
                String::new()
            };
            format!("prepare: running sql/{TEMPLATE}{which}")
        })?;
    }
    if n_batches > 1 {
        conn.execute_batch("drop table prepare_batches")
            .context(|| "prepare: dropping the batch plan".into())?;
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
/// Otherwise a temporary table `prepare_batches(user_id, batch)` gives each
/// user a batch number, consecutive users (in user_id order) sharing one
/// until they hold about `events_per_batch` events, and the batch numbers
/// are returned in order. A user id that is NULL builds no row either way.
fn plan_batches(conn: &Connection, events_per_batch: i64) -> Result<Vec<Option<i64>>> {
    let per_batch = events_per_batch.max(1);
    let events: i64 = conn
        .query_row("select count(*) from events", [], |r| r.get(0))
        .context(|| "prepare: counting events".into())?;
    if events <= per_batch {
        return Ok(vec![None]);
    }
    conn.execute(
        "create or replace temp table prepare_batches as
         with per_user as (
             select users.user_id, count(events.user_id) as n
             from users left join events on events.user_id = users.user_id
             where users.user_id is not null
             group by users.user_id
         ),
         running as (
             select user_id, sum(n) over (order by user_id rows unbounded preceding) as upto
             from per_user
         )
         select user_id, (greatest(upto - 1, 0) // ?)::bigint as batch from running",
        [per_batch],
    )
    .context(|| "prepare: planning the batches".into())?;
    let mut stmt = conn
        .prepare("select distinct batch from prepare_batches order by batch")
        .context(|| "prepare: planning the batches".into())?;
    let numbers: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .context(|| "prepare: planning the batches".into())?;
    Ok(numbers.into_iter().map(Some).collect())
}
