//! labels: `labels_daily`, forward-looking churn labels (sql/labels/labels_daily.sql).

use duckdb::Connection;

use crate::error::{Context, Result};
use crate::sql::SqlContext;
use crate::stages::{Outcome, Stage, build_table};

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    let rows = build_table(
        conn,
        Stage::Labels,
        "labels_daily",
        "labels/labels_daily.sql",
        ctx,
    )?;
    let positive_rate: Option<f64> = conn
        .query_row("select avg(churn_label) from labels_daily", [], |r| r.get(0))
        .context(|| "labels: summarizing labels_daily".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "horizon_days": ctx.horizon_days,
            "inactive_days": ctx.inactive_days,
            "positive_rate": positive_rate,
        }),
        failure: None,
        summary: format!(
            "labels_daily has {rows} rows, churn rate {:.4} (leaves within {} days, away {} more)",
            positive_rate.unwrap_or(0.0),
            ctx.horizon_days,
            ctx.inactive_days
        ),
    })
}
