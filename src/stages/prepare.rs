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
    /// A condition on `user_id` keeping this batch's users and events; none
    /// when everything is one batch (the template as `churn sql` prints it).
    #[serde(skip_serializing_if = "Option::is_none")]
    user_batch: Option<String>,
}

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    let conditions = batches(conn, events_per_batch)?;
    let n_batches = conditions.len();
    for (k, user_batch) in conditions.into_iter().enumerate() {
        let batch = BatchContext {
            base: ctx,
            user_batch,
        };
        let statement = if k == 0 {
            sql::create_table_as("user_daily", TEMPLATE, &batch)?
        } else {
            format!(
                "insert into user_daily\n{}\n;",
                sql::render_with(TEMPLATE, &batch)?
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

/// The batch conditions: one `None` when the events fit in one batch, else
/// consecutive user_id ranges holding about `events_per_batch` events each.
/// The first range also keeps NULL ids, so a batched build drops no row the
/// single statement would keep.
fn batches(conn: &Connection, events_per_batch: i64) -> Result<Vec<Option<String>>> {
    let per_batch = events_per_batch.max(1);
    let events: i64 = conn
        .query_row("select count(*) from events", [], |r| r.get(0))
        .context(|| "prepare: counting events".into())?;
    if events <= per_batch {
        return Ok(vec![None]);
    }
    // Batch starts: the first user past every multiple of `per_batch`
    // events, counting each user's events in user_id order.
    let mut stmt = conn
        .prepare(
            "with per_user as (
                 select user_id, count(*) as n from events where user_id is not null group by user_id
             ),
             running as (
                 select user_id, sum(n) over (order by user_id rows unbounded preceding) as upto
                 from per_user
             )
             select min(user_id) from running
             where upto > ? group by (upto - 1) // ? order by 1",
        )
        .context(|| "prepare: planning the batches".into())?;
    let starts: Vec<String> = stmt
        .query_map([per_batch, per_batch], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .context(|| "prepare: planning the batches".into())?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut conditions = Vec::with_capacity(starts.len() + 1);
    let mut lower: Option<&String> = None;
    for start in &starts {
        conditions.push(Some(match lower {
            None => format!("(user_id is null or user_id < {})", quote(start)),
            Some(l) => format!("(user_id >= {} and user_id < {})", quote(l), quote(start)),
        }));
        lower = Some(start);
    }
    conditions.push(lower.map(|l| format!("user_id >= {}", quote(l))));
    Ok(conditions)
}
