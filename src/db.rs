//! The DuckDB store: opening with a bounded retry while another process holds
//! the file, the schema, transactions, and the `pipeline_runs` history.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use duckdb::{AccessMode, Connection, params};

use crate::error::{Context, Error, Result};
use crate::sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// An open DuckDB file.
pub struct Store {
    pub conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating when read-write) the file and its schema. Retries with
    /// backoff while another process holds the lock, up to `lock_timeout`.
    pub fn open(path: &Path, access: Access, lock_timeout: Duration) -> Result<Store> {
        if access == Access::ReadWrite {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .context(|| format!("cannot create the folder {} for the database", dir.display()))?;
            }
        } else if !path.exists() {
            return Err(missing_database(path));
        }
        let conn = open_with_retry(path, access, lock_timeout)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        if access == Access::ReadWrite {
            store.create_schema()?;
        }
        Ok(store)
    }

    /// Opens a file that must already exist (every stage but generate/ingest).
    pub fn open_existing(path: &Path, access: Access, lock_timeout: Duration) -> Result<Store> {
        if !path.exists() {
            return Err(missing_database(path));
        }
        Store::open(path, access, lock_timeout)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn create_schema(&self) -> Result<()> {
        for name in sql::names_under("schema/") {
            let text = sql::render(name, &sql::SqlContext::empty())?;
            self.conn
                .execute_batch(&text)
                .context(|| format!("creating the schema ({name}) in {}", self.path.display()))?;
        }
        Ok(())
    }

    pub fn table_exists(&self, table: &str) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "select count(*) from duckdb_tables() where table_name = ? and schema_name = 'main' \
                 union all select count(*) from duckdb_views() where view_name = ? and schema_name = 'main'",
                params![table, table],
                |r| r.get(0),
            )
            .context(|| format!("looking up table {table}"))?;
        Ok(n > 0)
    }

    pub fn count_rows(&self, table: &str) -> Result<i64> {
        self.conn
            .query_row(&format!("select count(*) from \"{table}\""), [], |r| r.get(0))
            .context(|| format!("counting rows of {table}"))
    }

    /// Runs `f` in one transaction: committed when it returns Ok, rolled back
    /// otherwise, so a failure leaves the previous contents untouched.
    pub fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("begin transaction")
            .context(|| "starting a transaction".into())?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn
                    .execute_batch("commit")
                    .context(|| "committing the transaction".into())?;
                Ok(v)
            }
            Err(e) => {
                // The transaction may already be aborted; the original error matters.
                let _ = self.conn.execute_batch("rollback");
                Err(e)
            }
        }
    }

    /// Appends one row to `pipeline_runs`.
    pub fn record_run(&self, run: &RunRecord<'_>) -> Result<()> {
        self.conn
            .execute(
                "insert into pipeline_runs \
                 (run_id, stage, started_at, finished_at, status, rows_out, params_json, error) \
                 values (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    run.run_id,
                    run.stage,
                    run.started_at,
                    run.finished_at,
                    run.status,
                    run.rows_out,
                    run.params_json,
                    run.error
                ],
            )
            .context(|| format!("recording the {} run in pipeline_runs", run.stage))?;
        Ok(())
    }
}

/// One row of `pipeline_runs`.
pub struct RunRecord<'a> {
    pub run_id: &'a str,
    pub stage: &'a str,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub status: &'a str,
    pub rows_out: Option<i64>,
    pub params_json: String,
    pub error: Option<String>,
}

fn missing_database(path: &Path) -> Error {
    Error::MissingInput(format!(
        "database {} does not exist: create it with `churn run --stage generate` (synthetic data) or \
         `churn ingest --users FILE --events FILE` (your data), or point --db / CHURN_DB at an existing file",
        path.display()
    ))
}

fn is_lock_error(e: &duckdb::Error) -> bool {
    let text = e.to_string();
    text.contains("Could not set lock") || text.contains("Conflicting lock")
}

fn open_with_retry(path: &Path, access: Access, lock_timeout: Duration) -> Result<Connection> {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(50);
    let mut logged = false;
    loop {
        let mode = match access {
            Access::ReadWrite => AccessMode::ReadWrite,
            Access::ReadOnly => AccessMode::ReadOnly,
        };
        let config = duckdb::Config::default()
            .access_mode(mode)
            .context(|| "configuring DuckDB".into())?;
        match Connection::open_with_flags(path, config) {
            Ok(conn) => return Ok(conn),
            Err(e) if is_lock_error(&e) => {
                let waited = start.elapsed();
                if waited >= lock_timeout {
                    let detail = e.to_string();
                    let detail = detail
                        .split_once("Conflicting lock")
                        .map(|(_, rest)| format!("conflicting lock{rest}"))
                        .unwrap_or(detail);
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        detail,
                        waited_s: waited.as_secs_f64(),
                    });
                }
                if !logged {
                    tracing::info!(path = %path.display(), "database is locked by another process; retrying");
                    logged = true;
                }
                std::thread::sleep(backoff.min(lock_timeout.saturating_sub(waited)));
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                return Err(Error::Db {
                    context: format!(
                        "cannot open database {} (is it a DuckDB {} file?)",
                        path.display(),
                        crate::DUCKDB_VERSION
                    ),
                    source: e,
                });
            }
        }
    }
}
