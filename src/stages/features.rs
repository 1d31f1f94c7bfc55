//! features: `user_features_daily`, rolling windows over `user_daily`
//! (sql/features/user_features_daily.sql).

use duckdb::Connection;

use crate::error::Result;
use crate::sql::SqlContext;
use crate::stages::{Outcome, Stage, build_table};

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    let rows = build_table(
        conn,
        Stage::Features,
        "user_features_daily",
        "features/user_features_daily.sql",
        ctx,
    )?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "windows": ctx.windows,
            "fail_rate_window": ctx.fail_rate_window,
            "recent_days": ctx.recent_days,
        }),
        failure: None,
        summary: format!(
            "user_features_daily has {rows} rows (windows {:?} days)",
            ctx.windows
        ),
    })
}
