//! `churn status`: the tables with their row counts and each stage's last run.

use std::path::Path;
use std::time::Duration;

use crate::db::{Access, Store};
use crate::error::{Context, Result};

/// stage, status, finished at, rows out, error.
type LastRun = (String, String, String, Option<i64>, Option<String>);

pub fn print(db: &Path, lock_timeout: Duration) -> Result<()> {
    let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
    let conn = &store.conn;
    println!("database: {}", db.display());
    println!();
    println!("{:<24} {:>12}", "table", "rows");
    let tables: Vec<String> = conn
        .prepare("select table_name from duckdb_tables() where schema_name = 'main' order by table_name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .context(|| "status: listing tables".into())?;
    for table in &tables {
        println!("{:<24} {:>12}", table, store.count_rows(table)?);
    }
    println!();
    match crate::model::registry::production(conn)? {
        Some(m) => println!(
            "production model: {} (created {}, trained on {} to {}): PR-AUC {:.4}, ROC-AUC {:.4}, log loss {:.4}, \
             Brier {:.4}",
            m.model_id,
            m.created_at.format("%Y-%m-%d %H:%M:%S"),
            m.train_from,
            m.train_to,
            m.pr_auc,
            m.roc_auc,
            m.log_loss,
            m.brier
        ),
        None => println!("production model: none yet (`churn run --to promote`)"),
    }
    let drift: Option<(String, String, f64, String, String)> = if store.table_exists("drift_runs")? {
        conn.query_row(
            "select status, strftime(current_as_of, '%Y-%m-%d'), max_psi, max_psi_feature, model_id \
             from drift_runs order by checked_at desc limit 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .context(|| "status: reading drift_runs".into())?
    } else {
        None
    };
    match drift {
        Some((status, date, psi, feature, model)) => println!(
            "last drift check: {status} on the population scored {date} by {model} (max PSI {psi:.4}, {feature})"
        ),
        None => println!("last drift check: none yet (`churn run --stage drift`)"),
    }
    println!();
    let runs: Vec<LastRun> = conn
        .prepare(
            "select stage, status, strftime(finished_at, '%Y-%m-%d %H:%M:%S'), rows_out, error \
             from pipeline_runs \
             qualify row_number() over (partition by stage order by finished_at desc) = 1 \
             order by finished_at",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .context(|| "status: reading pipeline_runs".into())?;
    if runs.is_empty() {
        println!("no stage has run yet: `churn run`");
        return Ok(());
    }
    println!(
        "{:<14} {:<8} {:<20} {:>12}  error",
        "stage", "status", "finished (UTC)", "rows out"
    );
    for (stage, status, finished, rows, error) in runs {
        let rows = rows.map_or_else(|| "-".to_string(), |r| r.to_string());
        let error = error.unwrap_or_default();
        let error = error.lines().next().unwrap_or_default();
        println!("{stage:<14} {status:<8} {finished:<20} {rows:>12}  {error}");
    }
    Ok(())
}
