//! The ledgers of the file (docs/design.md §5): `pipeline_runs`, one row per
//! stage run, and `loads`, one row per committed load with each loaded
//! table's row count; the recovery of loads killed during their commit, and
//! the fault switches the drills use to kill a stage at its commit.

use chrono::NaiveDateTime;
use duckdb::{Connection, OptionalExt, params};

use super::{Store, quote, status};
use crate::error::{Context, Result};

impl Store {
    /// Whether `table` holds the row count its last load recorded. If not,
    /// it may hold rows of a load killed during its commit.
    fn holds_its_recorded_count(&self, table: &str) -> Result<bool> {
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
        Ok(expected == Some(self.count_rows(table)?))
    }

    /// For a read-only open (status, export, report, serve, sql): a table
    /// of `LOADED_TABLES` whose row count is not the one its last load
    /// recorded may hold rows of a load killed during its commit, which a
    /// reader cannot remove. Such a table is shadowed by a temp view of the
    /// same name that keeps only the rows of recorded loads, so readers see
    /// the committed state before any writer has recovered the file.
    /// Returns the tables shadowed.
    pub fn hide_incomplete_loads(&self) -> Result<Vec<&'static str>> {
        let catalog: String = self
            .conn
            .query_row("select current_database()", [], |r| r.get(0))
            .context(|| "naming the database".into())?;
        let catalog = quote::ident(&catalog);
        let mut hidden = Vec::new();
        if !self.table_exists("loads")? {
            return Ok(hidden);
        }
        for table in LOADED_TABLES {
            if !self.table_exists(table)? {
                continue;
            }
            if self.holds_its_recorded_count(table)? {
                continue;
            }
            self.conn
                .execute_batch(&format!(
                    "create temp view {table} as select * from {catalog}.main.{table} \
                     where load_id is null or load_id in (select load_id from {catalog}.main.loads)"
                ))
                .context(|| format!("hiding the rows of incomplete loads in {table}"))?;
            tracing::debug!(
                table,
                "rows of loads without a ledger row are hidden from this reader"
            );
            hidden.push(table);
        }
        Ok(hidden)
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
            if self.holds_its_recorded_count(table)? {
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

/// The tables whose rows carry the id of the load that wrote them.
pub const LOADED_TABLES: [&str; 5] = [
    "events",
    "users",
    "synthetic_truth",
    "predictions",
    "prediction_reasons",
];

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

/// A test hook (env `CHURN_TEST_FAULT=term-after-commit:STAGE`): the
/// process sends itself SIGTERM just after `stage` committed, as an
/// operator's signal can arrive at that instant.
pub fn signal_point(point: &str, stage: &str) {
    if std::env::var("CHURN_TEST_FAULT").ok().as_deref() == Some(format!("{point}:{stage}").as_str()) {
        // SAFETY: raising a signal has no memory effects; the handler thread
        // of `signals` ends the process.
        unsafe { libc::raise(libc::SIGTERM) };
        std::thread::sleep(std::time::Duration::from_secs(30));
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
    let file = |table: &str| dir.join(format!("{table}.parquet")).to_string_lossy().to_string();
    for table in LOADED_TABLES {
        conn.execute(
            &format!(
                "copy (select * from {table} where load_id = ?) to {} (format parquet)",
                quote::string(&file(table))
            ),
            [load_id],
        )
        .context(|| format!("fault: copying {table}"))?;
    }
    conn.execute_batch("rollback")
        .context(|| "fault: rolling back".into())?;
    for table in LOADED_TABLES {
        conn.execute_batch(&format!(
            "insert into {table} select * from read_parquet({})",
            quote::string(&file(table))
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
    pub status: status::RunStatus,
    pub rows_out: Option<i64>,
    pub params_json: String,
    pub error: Option<String>,
}
