//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use churn::config::Config;
use churn::stages::Ctx;
use churn::store::{Access, Store};

/// A temp folder with a database path in it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("churn.duckdb")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `small_toml(users, days)` to small.toml and returns its path.
    pub fn small(&self, users: u32, days: u32) -> String {
        self.write("small.toml", &small_toml(users, days))
            .to_string_lossy()
            .into_owned()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write fixture");
        p
    }

    /// Opens (creating) the sandbox database with the schema.
    pub fn store(&self) -> Store {
        Store::open(&self.db(), Access::ReadWrite, Duration::from_secs(5)).expect("open store")
    }

    /// The real binary, on the sandbox database, with no CHURN_* settings
    /// leaking in from the environment.
    pub fn churn(&self, args: &[&str]) -> Output {
        self.churn_env(&[], args)
    }

    /// `churn` with these environment variables set (and no other CHURN_*).
    pub fn churn_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_churn"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CHURN_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        cmd.arg("--db").arg(self.db()).args(args);
        cmd.current_dir(self.dir.path());
        cmd.output().expect("run churn")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ctx(config: &Config) -> Ctx<'_> {
    Ctx {
        run_id: "run-test".to_string(),
        ..Ctx::new(config, false)
    }
}

/// A small config for fast tests: `users` present, `days` simulated, and
/// time settings scaled down with the data (windows of 7 and 14 days, a
/// 14-day horizon and 14 inactive days, three times the default churn) so
/// that a warm-up, a purged split and enough churners fit in 100 days.
/// The promotion gate is open: a few hundred users make models too noisy
/// to judge, and the gate has tests of its own (model::gate_*).
pub fn small_config(users: u32, days: u32) -> Config {
    let text = small_toml(users, days);
    let table: toml::Table = toml::from_str(&text).expect("small config parses");
    toml::Value::Table(table)
        .try_into()
        .expect("small config is a config")
}

/// `small_config` as a TOML file's text, for the binary's --config.
pub fn small_toml(users: u32, days: u32) -> String {
    format!(
        "[generate]\nusers = {users}\ndays = {days}\nchurn_base_rate = 0.15\npre_churn_decay_days = 10\n\n\
         [features]\nwindows = [7, 14]\n\n\
         [labels]\nhorizon_days = 14\ninactive_days = 14\n\n\
         [promote]\nmin_lift_over_baseline = -1.0\nmax_ece = 1.0\n"
    )
}

/// All rows of a query, each cell rendered as text (NULL as "NULL").
pub fn rows(store: &Store, sql: &str) -> Vec<Vec<String>> {
    let wrapped = format!("select columns(*)::varchar from ({sql})");
    let mut stmt = store.conn.prepare(&wrapped).expect("prepare");
    let mut out = Vec::new();
    let mut q = stmt.query([]).expect("query");
    while let Some(row) = q.next().expect("row") {
        let n = row.as_ref().column_count();
        let cells = (0..n)
            .map(|i| {
                row.get::<_, Option<String>>(i)
                    .expect("cell")
                    .unwrap_or_else(|| "NULL".to_string())
            })
            .collect();
        out.push(cells);
    }
    out
}

pub fn exec(store: &Store, sql: &str) {
    store
        .conn
        .execute_batch(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// All rows of `table`, sorted, with DOUBLE columns rounded to 9 decimals:
/// DuckDB's parallel sums of doubles may differ in the last bit between
/// runs, which is not a change of content.
pub fn table_rows(store: &Store, table: &str, filter: &str) -> Vec<Vec<String>> {
    let columns = rows(
        store,
        &format!("select column_name, column_type from (describe {table})"),
    );
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            if c[1] == "DOUBLE" {
                format!("round(\"{0}\", 9) as \"{0}\"", c[0])
            } else {
                format!("\"{}\"", c[0])
            }
        })
        .collect();
    rows(
        store,
        &format!(
            "select {} from {table} where {filter} order by all",
            select.join(", ")
        ),
    )
}

/// The folder `churn export` wrote `table` to, as the lake's manifest names it.
pub fn exported(lake: &std::path::Path, table: &str) -> PathBuf {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let manifest = churn::store::lake::read_manifest(&conn, &lake.to_string_lossy())
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no manifest", lake.display()));
    lake.join(&manifest.tables[table].path)
}
