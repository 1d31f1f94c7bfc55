//! The `predictions` table as records: a scored slice (one model's risks for
//! one as-of date) and its rows, as the API serves them and the report lists
//! them.

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{Connection, OptionalExt, params};

use crate::error::{Context, Result};
use crate::store::query;

/// One slice of `predictions`: what one model scored for one as-of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub model_id: String,
    pub as_of_date: NaiveDate,
    /// When it was last (re)scored.
    pub scored_at: NaiveDateTime,
}

/// One user's row of a slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserRisk {
    pub churn_risk: f64,
    /// 1 = the highest risk of the slice.
    pub risk_rank: i64,
}

/// When `model_id` last scored.
pub fn last_scored_at(conn: &Connection, model_id: &str) -> Result<Option<NaiveDateTime>> {
    conn.query_row(query("scored_at_latest"), [model_id], |r| r.get(0))
        .context(|| "reading predictions".into())
}

/// The slice to serve: `production`'s newest, or, before it has scored (right
/// after a promotion), the newest slice of any model.
pub fn served_slice(conn: &Connection, production: &str) -> Result<Option<Slice>> {
    conn.query_row(query("served_slice"), [production], |r| {
        Ok(Slice {
            model_id: r.get(0)?,
            as_of_date: r.get(1)?,
            scored_at: r.get(2)?,
        })
    })
    .optional()
    .context(|| "reading predictions".into())
}

/// Every user of `slice` with their risk and rank.
pub fn slice_rows(conn: &Connection, slice: &Slice) -> Result<Vec<(String, UserRisk)>> {
    let mut stmt = conn
        .prepare(query("slice_rows"))
        .context(|| "reading predictions".into())?;
    stmt.query_map(params![slice.model_id, slice.as_of_date], |r| {
        Ok((
            r.get::<_, String>(0)?,
            UserRisk {
                churn_risk: r.get(1)?,
                risk_rank: r.get(2)?,
            },
        ))
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading predictions".into())
}

/// `model_id`'s newest scored date and how many users it scored then.
pub fn newest_date(conn: &Connection, model_id: &str) -> Result<Option<(NaiveDate, i64)>> {
    conn.query_row(query("slice_latest"), [model_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .context(|| "reading predictions".into())
}
