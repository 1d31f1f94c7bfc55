//! The DuckDB store: opening with a bounded retry while another process holds
//! the file, the schema, transactions, the `pipeline_runs` history and the
//! `loads` ledger; and, in its modules, the typed records of each table and
//! the reads of model inputs.

pub mod dictionary;
pub mod drift;
mod engine;
pub mod frames;
pub mod lake;
mod ledger;
pub mod models;
pub mod predictions;
pub mod quote;
pub mod scored;
pub mod status;
pub mod truth;

/// The DuckDB version this binary links; its file format is the one to open
/// the database with.
pub const DUCKDB_VERSION: &str = "1.5.6";

pub use engine::{MemoryGuard, configure, leave_memory_to_rust};

/// The text of a read query under `sql/read/` (the store's readers: the
/// report, the API state and `churn status` read the file through these).
pub fn query(name: &str) -> &'static str {
    sql::source(&format!("read/{name}.sql")).unwrap_or_else(|| panic!("sql/read/{name}.sql is embedded"))
}

/// A read query that takes typed template values (a column list, the
/// tables present), rendered for DuckDB.
pub fn render_query(name: &str, ctx: &impl serde::Serialize) -> Result<String> {
    sql::render_with(&format!("read/{name}.sql"), ctx)
}
pub use lake::{parquet_source, read_parquet, use_s3};
pub use ledger::{
    LOADED_TABLES, RunRecord, fault_point, record_load, record_run, signal_point, torn_commit_fault,
};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        if path.as_os_str().is_empty() || path.is_dir() {
            return Err(Error::Config(format!(
                "--db / CHURN_DB {:?} is {}: give the path of the DuckDB file, e.g. data/churn.duckdb",
                path.display().to_string(),
                if path.as_os_str().is_empty() {
                    "empty"
                } else {
                    "a folder"
                }
            )));
        }
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
            store.recover_incomplete_loads()?;
        } else {
            store.hide_incomplete_loads()?;
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
        crate::store::dictionary::comment_all(&self.conn)?;
        Ok(())
    }

    pub fn table_exists(&self, table: &str) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "select (select count(*) from duckdb_tables() where table_name = ? and schema_name = 'main') \
                 + (select count(*) from duckdb_views() where view_name = ? and schema_name = 'main')",
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
        self.transaction_of(None, f)
    }

    /// A stage's transaction: `transaction`, with the stage named for the
    /// message of a signal that stops the process (`commit_state`).
    pub fn stage_transaction<T>(
        &self,
        stage: &'static str,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        self.transaction_of(Some(stage), f)
    }

    fn transaction_of<T>(
        &self,
        stage: Option<&'static str>,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        self.conn
            .execute_batch("begin transaction")
            .context(|| "starting a transaction".into())?;
        *commit_state_lock() = CommitState {
            stage,
            committed: false,
        };
        match f(&self.conn) {
            Ok(v) => {
                // Held through the COMMIT: a signal waits for it to end and
                // then says truly whether the stage was kept (`signals`).
                let mut state = commit_state_lock();
                let started = std::time::Instant::now();
                self.conn
                    .execute_batch("commit")
                    .context(|| "committing the transaction".into())?;
                state.committed = stage.is_some();
                tracing::debug!(stage, seconds = started.elapsed().as_secs_f64(), "committed");
                Ok(v)
            }
            Err(e) => {
                // The transaction may already be aborted; the original error matters.
                let _ = self.conn.execute_batch("rollback");
                Err(e)
            }
        }
    }
}

/// What the last transaction of this process left: its stage (when a stage
/// ran it) and whether that stage committed.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitState {
    pub stage: Option<&'static str>,
    pub committed: bool,
}

static COMMIT_STATE: std::sync::Mutex<CommitState> = std::sync::Mutex::new(CommitState {
    stage: None,
    committed: false,
});

fn commit_state_lock() -> std::sync::MutexGuard<'static, CommitState> {
    COMMIT_STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last transaction's state; waits while a COMMIT runs.
pub fn commit_state() -> CommitState {
    *commit_state_lock()
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
        // No extension is ever fetched or loaded behind our back (a file with
        // another format's header made DuckDB reach for sqlite_scanner over
        // plain HTTP): parquet and json are built into the library.
        // Memory, threads and the spill folder from [store]: a stage that
        // outgrows the limit spills, or fails naming the setting.
        let s = engine::settings();
        let temp = if s.temp_directory.is_empty() {
            let mut t = path.as_os_str().to_owned();
            t.push(".tmp");
            PathBuf::from(t)
        } else {
            PathBuf::from(&s.temp_directory)
        };
        let mut config = duckdb::Config::default()
            .access_mode(mode)
            .and_then(|c| c.with("autoinstall_known_extensions", "false"))
            .and_then(|c| c.with("autoload_known_extensions", "false"))
            .and_then(|c| c.with("memory_limit", s.effective_memory_limit()))
            .context(|| "configuring DuckDB (check store.memory_limit)".into())?;
        if access == Access::ReadWrite {
            config = config
                .with("temp_directory", temp.to_string_lossy())
                .context(|| "configuring DuckDB's spill folder (store.temp_directory)".into())?;
        }
        if s.threads > 0 {
            config = config
                .threads(i64::from(s.threads))
                .context(|| "configuring DuckDB's threads (store.threads)".into())?;
        }
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
                        DUCKDB_VERSION
                    ),
                    source: e,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plain_read_query_prepares_on_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.duckdb"), Access::ReadWrite, Duration::ZERO).unwrap();
        store
            .conn
            .execute_batch(
                "create table training_set (user_id varchar, as_of_date date, churn_label integer); \
                 create table user_daily (user_id varchar, activity_date date, is_active_day integer)",
            )
            .unwrap();
        let mut n = 0;
        for name in sql::names_under("read/") {
            let text = sql::source(name).unwrap();
            if text.contains("{%") || text.contains("{{") {
                continue;
            }
            store
                .conn
                .prepare(text)
                .unwrap_or_else(|e| panic!("sql/{name} does not prepare: {e}"));
            n += 1;
        }
        assert!(n >= 15, "{n} plain read queries");
        // The two that take template values, with the values they are given.
        store
            .conn
            .execute_batch(
                "create table user_features_daily (user_id varchar, as_of_date date, \"odd col\" double)",
            )
            .unwrap();
        let risk = render_query(
            "risk_list",
            &serde_json::json!({"dialect": "duckdb", "rows": 5, "columns": ["odd col"]}),
        )
        .unwrap();
        store.conn.prepare(&risk).unwrap();
        let tables = serde_json::json!({"tables": [
            {"table": "model_promotions", "column": "promoted_at"},
            {"table": "pipeline_runs", "column": "finished_at"},
        ]});
        let history = render_query("history_latest", &tables).unwrap();
        store.conn.prepare(&history).unwrap();
        // The oracle's rows, with and without the active days before the
        // window, of every test user or of a sample.
        store
            .conn
            .execute_batch("create temp table _oracle_users (user_id varchar)")
            .unwrap();
        for history in [false, true] {
            for sampled in [false, true] {
                let rows = render_query(
                    "oracle_rows",
                    &serde_json::json!({ "history": history, "sampled": sampled }),
                )
                .unwrap();
                store
                    .conn
                    .prepare(&rows)
                    .unwrap_or_else(|e| panic!("oracle_rows (history {history}, sampled {sampled}): {e}"));
            }
        }
    }

    #[test]
    fn the_version_names_the_linked_duckdb() {
        assert!(crate::cli::VERSION.contains(DUCKDB_VERSION));
    }
}
