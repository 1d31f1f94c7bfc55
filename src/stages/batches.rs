//! Building a table a range of users at a time.
//!
//! Every SQL stage's rows depend on one user's rows only (windows are
//! partitioned by user, joins are on the user), apart from the data's first
//! and last dates, which are read once and given to every batch. A large
//! input is therefore built in consecutive ranges of user ids, each bound as
//! parameters (`user_id between $1 and $2`), inside the stage's one
//! transaction: DuckDB's memory for the windows, joins and sorts follows the
//! batch, not the file (a million users × 240 days is 240 million user-days,
//! ten batches), and the table comes out with the same rows as from one
//! statement. The templates say `{% if batched %}` where they differ; `churn
//! sql` prints the one-statement form.

use chrono::NaiveDate;
use duckdb::Connection;
use serde::Serialize;

use crate::error::{Context, Result};
use crate::sql::{self, SqlContext};
use crate::stages::Stage;

/// Rows of the input per batch for the derived tables (features, labels,
/// training set): 100,000 users × 240 days (29 million user-days) is one
/// batch, a million users ten.
pub const ROWS_PER_BATCH: i64 = 32_000_000;

/// A batch: every user (`None`, one statement) or the users from the first
/// to the last id, inclusive.
pub type UserRange = Option<(String, String)>;

/// What a batched template sees: the stage's context, whether it keeps one
/// range of users, and the data's dates read once for every batch.
#[derive(Serialize)]
pub struct BatchContext<'a> {
    #[serde(flatten)]
    pub base: &'a SqlContext,
    pub batched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_date: Option<NaiveDate>,
    /// The rows of the users in `_affected` from their from_date on
    /// (`stages::incremental`); `from_date` is the earliest.
    pub incremental: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_date: Option<NaiveDate>,
}

/// The batches to build: one `None` when `total` (a count) is at most
/// `per_batch`; otherwise consecutive ranges of users in user_id order, each
/// weighing about `per_batch` by `per_user` (a select of `user_id, n`). A
/// user heavier than a batch is a batch of its own; NULL ids are in none.
pub fn plan(
    conn: &Connection,
    stage: Stage,
    total: &str,
    per_user: &str,
    per_batch: i64,
) -> Result<Vec<UserRange>> {
    let per_batch = per_batch.max(1);
    let n: i64 = conn
        .query_row(total, [], |r| r.get(0))
        .context(|| format!("{stage}: counting the rows to build from"))?;
    if n <= per_batch {
        return Ok(vec![None]);
    }
    let mut stmt = conn
        .prepare(&format!(
            "with per_user as ({per_user}),
             running as (
                 select user_id, sum(n) over (order by user_id rows unbounded preceding) as upto
                 from per_user
                 where user_id is not null
             )
             select min(user_id), max(user_id) from running
             group by greatest(upto - 1, 0) // ? order by 1"
        ))
        .context(|| format!("{stage}: planning the batches"))?;
    let bounds: Vec<(String, String)> = stmt
        .query_map([per_batch], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .context(|| format!("{stage}: planning the batches"))?;
    Ok(bounds.into_iter().map(Some).collect())
}

/// The batches of a table derived from `source`, by its rows per user.
pub fn plan_by_rows(conn: &Connection, stage: Stage, source: &str, per_batch: i64) -> Result<Vec<UserRange>> {
    plan(
        conn,
        stage,
        &format!("select count(*) from {source}"),
        &format!("select user_id, count(*) as n from {source} group by user_id"),
        per_batch,
    )
}

/// Builds `table` from `template`: the first batch creates it, the others
/// insert, each with its range bound as parameters and `dates` given to the
/// template when there is more than one batch. Returns the table's rows.
pub fn build(
    conn: &Connection,
    stage: Stage,
    table: &str,
    template: &str,
    ctx: &SqlContext,
    batches: &[UserRange],
    (first_date, last_date): (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<i64> {
    let n = batches.len();
    for (k, range) in batches.iter().enumerate() {
        let batch_ctx = BatchContext {
            base: ctx,
            batched: range.is_some(),
            first_date,
            last_date,
            incremental: false,
            from_date: None,
        };
        let statement = if k == 0 {
            sql::create_table_as(table, template, &batch_ctx)?
        } else {
            format!(
                "insert into {table}\n{}\n;",
                sql::render_with(template, &batch_ctx)?
            )
        };
        let which = || {
            if n > 1 {
                format!(" (batch {} of {n})", k + 1)
            } else {
                String::new()
            }
        };
        match range {
            None => conn.execute_batch(&statement),
            Some((first, last)) => conn
                .execute(statement.trim_end_matches(';'), duckdb::params![first, last])
                .map(|_| ()),
        }
        .context(|| format!("{stage}: running sql/{template}{}", which()))?;
        if n > 1 {
            tracing::info!(stage = %stage, "batch {} of {n} built", k + 1);
        }
    }
    conn.query_row(&format!("select count(*) from {table}"), [], |r| r.get(0))
        .context(|| format!("{stage}: counting {table}"))
}

/// The first and last value of a date column, when there is more than one
/// batch (one statement reads them itself).
pub fn dates(
    conn: &Connection,
    stage: Stage,
    batches: &[UserRange],
    sql: &str,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    if batches.len() <= 1 {
        return Ok((None, None));
    }
    conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .context(|| format!("{stage}: reading the data's dates"))
}
