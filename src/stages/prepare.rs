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

/// Events per batch: about 4.7 million at 100,000 users × 120 days.
pub const EVENTS_PER_BATCH: i64 = 6_000_000;

#[derive(Serialize)]
struct BatchContext<'a> {
    #[serde(flatten)]
    base: &'a SqlContext,
    /// A condition on `user_id` keeping this batch's users and events.
    user_batch: String,
}

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    let conditions = batches(conn, events_per_batch)?;
    let select = |condition: Option<&String>| match condition {
        None => sql::render(TEMPLATE, ctx),
        Some(c) => sql::render_with(
            TEMPLATE,
            &BatchContext {
                base: ctx,
                user_batch: c.clone(),
            },
        ),
    };
    let mut parts = conditions.iter().map(Some).collect::<Vec<_>>();
    if parts.is_empty() {
        parts.push(None);
    }
    for (k, condition) in parts.iter().enumerate() {
        let body = select(*condition)?;
        let statement = if k == 0 {
            format!("create or replace table user_daily as\n{body}\n;")
        } else {
            format!("insert into user_daily\n{body}\n;")
        };
        conn.execute_batch(&statement).context(|| {
            format!(
                "prepare: running sql/{TEMPLATE}{}",
                if parts.len() > 1 {
                    format!(" (batch {} of {})", k + 1, parts.len())
                } else {
                    String::new()
                }
            )
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
            "first_date": first, "last_date": last, "users": users, "batches": parts.len(),
        }),
        failure: None,
        summary: format!("user_daily has {rows} rows for {users} users from {first} to {last}"),
    })
}

/// The batch conditions: none when the events fit in one batch, else
/// consecutive user_id ranges holding about `events_per_batch` events each.
/// The first range also keeps NULL ids, so a batched build drops no row the
/// single statement would keep.
fn batches(conn: &Connection, events_per_batch: i64) -> Result<Vec<String>> {
    let events: i64 = conn
        .query_row("select count(*) from events", [], |r| r.get(0))
        .context(|| "prepare: counting events".into())?;
    let n = (events + events_per_batch - 1) / events_per_batch.max(1);
    if n <= 1 {
        return Ok(Vec::new());
    }
    // Split points: the users at every n-th quantile of the events, counted
    // per user in user_id order.
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
        .query_map([events_per_batch, events_per_batch], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .context(|| "prepare: planning the batches".into())?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut conditions = Vec::with_capacity(starts.len() + 1);
    let mut lower: Option<&String> = None;
    for start in &starts {
        conditions.push(match lower {
            None => format!("(user_id is null or user_id < {})", quote(start)),
            Some(l) => format!("(user_id >= {} and user_id < {})", quote(l), quote(start)),
        });
        lower = Some(start);
    }
    conditions.push(match lower {
        None => "true".to_string(),
        Some(l) => format!("user_id >= {}", quote(l)),
    });
    Ok(conditions)
}
