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
