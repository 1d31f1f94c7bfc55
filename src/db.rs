//! The DuckDB store: opening with a bounded retry while another process holds
//! the file, the schema, transactions, and the `pipeline_runs` history.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use duckdb::{AccessMode, Connection, OptionalExt, params};

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
        }
        Ok(store)
    }

    /// Removes the rows of loads that never committed: rows of the tables
    /// in `LOADED_TABLES` whose load_id has no row in `loads` (DuckDB can
    /// keep the bulk-appended rows of a transaction killed during its
    /// commit). A table holding the row count its last load recorded is
    /// skipped without a scan. Returns (table, load_id, rows) removed.
    pub fn recover_incomplete_loads(&self) -> Result<Vec<(String, String, i64)>> {
        let mut removed = Vec::new();
        let mut scanned = false;
        for table in LOADED_TABLES {
            let expected: Option<i64> = self
                .conn
                .query_row(
                    "select json_extract_string(table_rows, ?)::bigint as n from loads \
                     where n is not null order by committed_at desc limit 1",
                    [format!("$.{table}")],
                    |r| r.get(0),
                )
                .optional()
                .context(|| "reading the loads ledger".into())?
                .flatten();
            if expected == Some(self.count_rows(table)?) {
                continue;
            }
            scanned = true;
            let orphans: Vec<(String, i64)> = self
                .conn
                .prepare(&format!(
                    "select load_id, count(*) from {table} where load_id is not null \
                     and load_id not in (select load_id from loads) group by load_id order by load_id"
                ))
                .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .context(|| format!("looking for rows of incomplete loads in {table}"))?;
            if orphans.is_empty() {
                continue;
            }
            self.transaction(|conn| {
                for (load_id, _) in &orphans {
                    conn.execute(&format!("delete from {table} where load_id = ?"), [load_id])
                        .context(|| format!("removing rows of the incomplete load {load_id} from {table}"))?;
                }
                Ok(())
            })?;
            for (load_id, n) in orphans {
                tracing::warn!(
                    table,
                    load_id = %load_id,
                    rows = n,
                    "removed {n} {table} rows of incomplete load {load_id} (killed during its commit)"
                );
                removed.push((table.to_string(), load_id, n));
            }
        }
        if scanned {
            // The counts now on file are the committed state: the next open
            // compares against them instead of scanning again.
            self.transaction(|conn| {
                record_load(
                    conn,
                    &format!("recovered-{}", new_suffix()),
                    "recovery",
                    "recovery",
                )
            })?;
        }
        Ok(removed)
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
        crate::dictionary::comment_all(&self.conn)?;
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
        record_run(&self.conn, run)
    }
}

/// Appends one row to `pipeline_runs` on `conn` (inside the stage's
/// transaction for a stage that ran).
pub fn record_run(conn: &Connection, run: &RunRecord<'_>) -> Result<()> {
    {
        conn.execute(
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

/// The store settings of this process: set once from the config by the
/// command that loaded it (`configure`), the defaults otherwise (tests).
static SETTINGS: std::sync::RwLock<Option<crate::config::StoreConfig>> = std::sync::RwLock::new(None);

/// Makes `store` the settings of every connection this process opens.
pub fn configure(store: &crate::config::StoreConfig) {
    *SETTINGS.write().unwrap_or_else(|e| e.into_inner()) = Some(store.clone());
}

fn settings() -> crate::config::StoreConfig {
    SETTINGS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Gives DuckDB the smaller memory limit of the stages whose work is in
/// Rust (`StoreConfig::streaming_memory_limit`): its cached blocks are let
/// go, and the room is the model's. Unchanged when the operator set
/// `store.memory_limit`; a limit the engine cannot reach yet is a warning.
/// The returned guard gives the engine its full limit back when the stage
/// ends, for the SQL stages that may follow on the same connection.
#[must_use = "the limit is restored when the guard is dropped"]
pub fn leave_memory_to_rust<'a>(conn: &'a Connection, stage: &'a str) -> MemoryGuard<'a> {
    let s = settings();
    let lowered = s.streaming_memory_limit().is_some_and(|limit| {
        set_memory_limit(conn, stage, &limit);
        true
    });
    MemoryGuard {
        conn,
        stage,
        full: lowered.then(|| s.effective_memory_limit()),
    }
}

/// Restores DuckDB's full memory limit when dropped (see `leave_memory_to_rust`).
pub struct MemoryGuard<'a> {
    conn: &'a Connection,
    stage: &'a str,
    full: Option<String>,
}

impl Drop for MemoryGuard<'_> {
    fn drop(&mut self) {
        if let Some(limit) = &self.full {
            set_memory_limit(self.conn, self.stage, limit);
        }
    }
}

fn set_memory_limit(conn: &Connection, stage: &str, limit: &str) {
    if let Err(e) = conn.execute_batch(&format!("set memory_limit = '{limit}'")) {
        tracing::warn!(stage, "could not set DuckDB's memory limit to {limit}: {e}");
    }
}

/// The tables whose rows carry the id of the load that wrote them.
pub const LOADED_TABLES: [&str; 4] = ["events", "users", "synthetic_truth", "predictions"];

fn new_suffix() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{}-{n:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"))
}

/// Writes the ledger row of a load: its id, and the row count of every
/// loaded table after it. Runs inside the load's transaction.
pub fn record_load(conn: &Connection, load_id: &str, run_id: &str, stage: &str) -> Result<()> {
    let mut counts = serde_json::Map::new();
    for table in LOADED_TABLES {
        let n: i64 = conn
            .query_row(&format!("select count(*) from {table}"), [], |r| r.get(0))
            .context(|| format!("counting {table} for the loads ledger"))?;
        counts.insert(table.to_string(), n.into());
    }
    conn.execute(
        "insert into loads values (?, ?, ?, current_timestamp, ?)",
        params![
            load_id,
            run_id,
            stage,
            serde_json::Value::Object(counts).to_string()
        ],
    )
    .context(|| format!("recording load {load_id} in the loads ledger"))?;
    Ok(())
}

/// A test hook (env `CHURN_TEST_FAULT=POINT:STAGE`, for bench/drills.sh
/// and the tests): the process dies as by kill -9 at `point` of `stage`
/// (`kill-before-commit`: the stage's work done, its transaction open;
/// `kill-after-commit`: just after its commit).
pub fn fault_point(point: &str, stage: &str) {
    if std::env::var("CHURN_TEST_FAULT").ok().as_deref() == Some(format!("{point}:{stage}").as_str()) {
        eprintln!("CHURN_TEST_FAULT: {stage} killed at {point}");
        std::process::abort();
    }
}

/// A test hook (env `CHURN_TEST_FAULT=torn-commit:STAGE`): leaves the file
/// as DuckDB can leave it when a load is killed during its commit (its bulk
/// rows on file, the rest of its transaction lost), then dies. The load's
/// rows are copied out, the transaction rolled back, the rows put back alone
/// and committed, and the process aborted (as by kill -9).
pub fn torn_commit_fault(conn: &Connection, stage: &str, load_id: &str) -> Result<()> {
    let wanted = format!("torn-commit:{stage}");
    if std::env::var("CHURN_TEST_FAULT").ok().as_deref() != Some(wanted.as_str()) {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("churn-torn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let file = |table: &str| {
        dir.join(format!("{table}.parquet"))
            .to_string_lossy()
            .replace('\'', "''")
    };
    for table in LOADED_TABLES {
        conn.execute(
            &format!(
                "copy (select * from {table} where load_id = ?) to '{}' (format parquet)",
                file(table)
            ),
            [load_id],
        )
        .context(|| format!("fault: copying {table}"))?;
    }
    conn.execute_batch("rollback")
        .context(|| "fault: rolling back".into())?;
    for table in LOADED_TABLES {
        conn.execute_batch(&format!(
            "insert into {table} select * from read_parquet('{}')",
            file(table)
        ))
        .context(|| format!("fault: putting back {table}"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("CHURN_TEST_FAULT: {stage} killed during its commit (load {load_id})");
    std::process::abort();
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
        // No extension is ever fetched or loaded behind our back (a file with
        // another format's header made DuckDB reach for sqlite_scanner over
        // plain HTTP): parquet and json are built into the library.
        // Memory, threads and the spill folder from [store]: a stage that
        // outgrows the limit spills, or fails naming the setting.
        let s = settings();
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
                        crate::DUCKDB_VERSION
                    ),
                    source: e,
                });
            }
        }
    }
}

/// The Parquet files a source names, as a `read_parquet` call: a file or a
/// glob as given, a folder (local, or s3:// which needs `use_s3` first) as
/// its .parquet files at any depth, the way `churn export` and Spark write
/// tables (Hive partitions such as event_month=... read as columns).
pub fn read_parquet(source: &str) -> String {
    let pattern = if source.contains('*') || source.ends_with(".parquet") {
        source.to_string()
    } else {
        format!("{}/**/*.parquet", source.trim_end_matches('/'))
    };
    format!(
        "read_parquet('{}', hive_partitioning = true, union_by_name = true)",
        pattern.replace('\'', "''")
    )
}

/// `read_parquet(source)`, with s3:// made readable first.
pub fn parquet_source(conn: &Connection, source: &str) -> Result<String> {
    if source.starts_with("s3://") {
        use_s3(conn)?;
    }
    Ok(read_parquet(source))
}

/// Makes s3:// paths readable and writable on this connection: loads
/// DuckDB's httpfs and aws extensions (explicitly: nothing is ever loaded
/// behind our back) from `CHURN_DUCKDB_EXTENSIONS` when set (the image
/// ships them there), and takes the credentials of the environment (a pod's
/// IAM role through IRSA, or the AWS_* variables) by AWS's credential chain.
pub fn use_s3(conn: &Connection) -> Result<()> {
    if let Ok(dir) = std::env::var("CHURN_DUCKDB_EXTENSIONS") {
        conn.execute_batch(&format!(
            "set extension_directory = '{}'",
            dir.replace('\'', "''")
        ))
        .context(|| format!("setting DuckDB's extension directory to {dir} (CHURN_DUCKDB_EXTENSIONS)"))?;
    }
    conn.execute_batch(
        "load httpfs; load aws; create or replace secret churn_s3 (type s3, provider credential_chain);",
    )
    .context(|| {
        "s3:// paths need DuckDB's httpfs and aws extensions (the image has them in CHURN_DUCKDB_EXTENSIONS; \
             elsewhere install them once: `duckdb -c 'install httpfs; install aws'`)"
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(conn: &Connection) -> String {
        conn.query_row("select current_setting('memory_limit')", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_rust_side_stage_lowers_the_engine_limit_and_gives_it_back() {
        // The defaults (no store.memory_limit): 40% of the machine, a tenth
        // inside the guard.
        let conn = Connection::open_in_memory().unwrap();
        let s = crate::config::StoreConfig::default();
        set_memory_limit(&conn, "test", &s.effective_memory_limit());
        let full = limit(&conn);
        {
            let _memory = leave_memory_to_rust(&conn, "test");
            let lowered = limit(&conn);
            assert_ne!(lowered, full, "the limit inside the guard");
        }
        assert_eq!(limit(&conn), full, "the limit after the guard");
    }
}
