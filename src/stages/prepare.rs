//! prepare: `user_daily`, the dense per-user daily table (sql/prepare/user_daily.sql).

use duckdb::Connection;

use crate::error::{Context, Result};
use crate::sql::SqlContext;
use crate::stages::{Outcome, Stage, build_table};

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    let rows = build_table(conn, Stage::Prepare, "user_daily", "prepare/user_daily.sql", ctx)?;
    let (users, first, last): (i64, String, String) = conn
        .query_row(
            "select count(distinct user_id), min(activity_date)::varchar, max(activity_date)::varchar from user_daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .context(|| "prepare: summarizing user_daily".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({"first_date": first, "last_date": last, "users": users}),
        failure: None,
        summary: format!("user_daily has {rows} rows for {users} users from {first} to {last}"),
    })
}
