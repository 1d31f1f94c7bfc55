//! `churn export --format parquet --out DIR [TABLE...]`: tables as Parquet
//! folders, the lake a distributed engine (Spark) reads, one folder per
//! table. `events` is Hive-partitioned by month (`event_month=YYYY-MM`), so a
//! reader of a few months skips the others.
//!
//! A table is written to a hidden folder beside its final one and renamed
//! into place, so a reader (or a kill) never sees a half-written table; the
//! previous export of a table is replaced only once the new one is complete.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::{Context, Error, Result};
use crate::store::{Access, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Parquet,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    pub format: Format,

    /// The folder that receives one folder per table (created when missing),
    /// or an s3:// URL (credentials from the environment, e.g. a pod's role).
    #[arg(long)]
    pub out: PathBuf,

    /// The tables (and views, e.g. production_model) to write; default:
    /// every table and view of the file.
    pub tables: Vec<String>,
}

/// Tables written Hive-partitioned: (table, partition column, its expression).
const PARTITIONED: &[(&str, &str, &str)] = &[("events", "event_month", "strftime(event_time, '%Y-%m')")];

impl ExportArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        let store = Store::open_existing(g.db(), Access::ReadOnly, lock_timeout(&config))?;
        let exported = export(&store.conn, &self.out, &self.tables)?;
        for (table, rows) in &exported {
            println!("{table:<28} {rows:>12} rows  {}", self.out.join(table).display());
        }
        Ok(())
    }
}

/// The tables and views of the file's main schema, sorted.
fn relations(conn: &duckdb::Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(
            "select table_name from information_schema.tables \
             where table_schema = 'main' and table_catalog = current_database() order by table_name",
        )
        .context(|| "export: listing the tables".into())?;
    stmt.query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .context(|| "export: listing the tables".into())
}

/// Writes `tables` (every table and view when empty) under `out` and returns
/// each with its row count.
pub fn export(conn: &duckdb::Connection, out: &Path, tables: &[String]) -> Result<Vec<(String, i64)>> {
    let known = relations(conn)?;
    let chosen: Vec<String> = if tables.is_empty() {
        known.clone()
    } else {
        tables.to_vec()
    };
    if let Some(unknown) = chosen.iter().find(|t| !known.contains(t)) {
        return Err(Error::Usage(format!(
            "export: the file has no table {unknown}; its tables are: {}",
            known.join(", ")
        )));
    }
    let url = out.to_string_lossy().starts_with("s3://");
    if url {
        crate::store::use_s3(conn)?;
    } else {
        std::fs::create_dir_all(out).context(|| format!("export: creating {}", out.display()))?;
    }
    let mut written = Vec::new();
    for table in chosen {
        let rows = if url {
            export_to_url(conn, &out.to_string_lossy(), &table)?
        } else {
            export_one(conn, out, &table)?
        };
        tracing::info!(table, rows, "exported");
        written.push((table, rows));
    }
    Ok(written)
}

/// Copies `table` into the folder `target` (a local path or a URL) and
/// returns its rows: partitioned tables as Hive partitions, others as one
/// `data.parquet` (the caller makes a local folder first).
fn copy_table(conn: &duckdb::Connection, table: &str, target: &str, overwrite: bool) -> Result<i64> {
    let path = crate::store::quote::string(target);
    let file = crate::store::quote::string(&format!("{target}/data.parquet"));
    let statement = match PARTITIONED.iter().find(|(t, _, _)| *t == table) {
        Some((_, column, expr)) => format!(
            "copy (select *, {expr} as {column} from {table}) to {path} \
             (format parquet, partition_by ({column}), write_partition_columns false{})",
            if overwrite { ", overwrite true" } else { "" }
        ),
        None => format!("copy (select * from {table}) to {file} (format parquet)"),
    };
    let rows = conn
        .query_row(&format!("select count(*) from {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .context(|| format!("export: counting {table}"))?;
    conn.execute_batch(&statement)
        .context(|| format!("export: writing {table} to {target}"))?;
    Ok(rows)
}

/// Writes `table` under an object-store URL (s3://bucket/lake): straight to
/// its final place, since an object store has no rename; a reader sees the
/// new files once the copy completes.
fn export_to_url(conn: &duckdb::Connection, url: &str, table: &str) -> Result<i64> {
    copy_table(
        conn,
        table,
        &format!("{}/{table}", url.trim_end_matches('/')),
        true,
    )
}

fn export_one(conn: &duckdb::Connection, out: &Path, table: &str) -> Result<i64> {
    let target = out.join(table);
    let staging = out.join(format!(".{table}.partial"));
    let previous = out.join(format!(".{table}.previous"));
    for stale in [&staging, &previous] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).context(|| format!("export: removing {}", stale.display()))?;
        }
    }
    if !PARTITIONED.iter().any(|(t, _, _)| *t == table) {
        std::fs::create_dir_all(&staging).context(|| format!("export: creating {}", staging.display()))?;
    }
    let rows = copy_table(conn, table, &staging.to_string_lossy(), false)?;
    if rows == 0 && !staging.exists() {
        // A partitioned copy of no rows writes no folder: an empty table is
        // still a folder (with no files).
        std::fs::create_dir_all(&staging).context(|| format!("export: creating {}", staging.display()))?;
    }
    if target.exists() {
        std::fs::rename(&target, &previous)
            .context(|| format!("export: moving aside {}", target.display()))?;
    }
    std::fs::rename(&staging, &target).context(|| format!("export: renaming into {}", target.display()))?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).context(|| format!("export: removing {}", previous.display()))?;
    }
    Ok(rows)
}
