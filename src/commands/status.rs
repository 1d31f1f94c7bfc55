//! `churn status`: the tables with their row counts, the production model,
//! the last drift check and each stage's last run; `--json` for scripts.

use clap::Args;
use serde::Serialize;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::{Context, Result};
use crate::stages::Stage;
use crate::store::drift::DriftRun;
use crate::store::{Access, Store};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of the text tables.
    #[arg(long)]
    pub json: bool,

    /// Open the file for writing first, which removes the rows of any load
    /// killed during its commit (every writing command does this too).
    #[arg(long)]
    pub recover: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub database: String,
    pub tables: Vec<TableRows>,
    pub production_model: Option<crate::store::models::ModelRow>,
    /// The loads of events the production model was trained on that the
    /// file no longer holds (a replace-mode ingest): score refuses it.
    pub production_data_removed: Vec<String>,
    pub last_drift: Option<DriftRun>,
    pub last_runs: Vec<LastRun>,
}

#[derive(Debug, Serialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
    /// The stages that write it, from the catalogue.
    pub written_by: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct LastRun {
    pub stage: String,
    pub status: String,
    pub finished_at: String,
    pub rows_out: Option<i64>,
    pub error: Option<String>,
}

impl StatusArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        if self.recover {
            drop(Store::open_existing(
                g.db(),
                Access::ReadWrite,
                lock_timeout(&config),
            )?);
        }
        let store = Store::open_existing(g.db(), Access::ReadOnly, lock_timeout(&config))?;
        let status = gather(&store)?;
        drop(store);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default());
        } else {
            print_text(&status);
        }
        Ok(())
    }
}

/// Everything `churn status` shows, read from an open store.
pub fn gather(store: &Store) -> Result<Status> {
    let conn = &store.conn;
    let names: Vec<String> = conn
        .prepare(crate::store::query("main_tables"))
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .context(|| "status: listing tables".into())?;
    let mut tables = Vec::with_capacity(names.len());
    for table in names {
        let rows = store.count_rows(&table)?;
        let written_by = Stage::ALL
            .iter()
            .filter(|s| s.def().writes().contains(&table.as_str()))
            .map(|s| s.name())
            .collect();
        tables.push(TableRows {
            table,
            rows,
            written_by,
        });
    }
    let production_model = if store.table_exists("models")? {
        crate::store::models::production(conn)?
    } else {
        None
    };
    let production_data_removed = match (&production_model, store.table_exists("model_data")?) {
        (Some(m), true) => crate::store::models::removed_training_data(conn, &m.model_id)?
            .into_iter()
            .map(|(load, _)| load)
            .collect(),
        _ => Vec::new(),
    };
    let last_drift = if store.table_exists("drift_runs")? {
        crate::store::drift::latest_run(conn, None)?
    } else {
        None
    };
    let last_runs = if store.table_exists("pipeline_runs")? {
        conn.prepare(crate::store::query("last_runs"))
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(LastRun {
                        stage: r.get(0)?,
                        status: r.get(1)?,
                        finished_at: r.get(2)?,
                        rows_out: r.get(3)?,
                        error: r.get(4)?,
                    })
                })?
                .collect()
            })
            .context(|| "status: reading pipeline_runs".into())?
    } else {
        Vec::new()
    };
    Ok(Status {
        database: store.path().display().to_string(),
        tables,
        production_model,
        production_data_removed,
        last_drift,
        last_runs,
    })
}

fn print_text(s: &Status) {
    println!("database: {}", s.database);
    println!();
    println!("{:<24} {:>12}  written by", "table", "rows");
    for t in &s.tables {
        let by = if t.written_by.is_empty() {
            "-".to_string()
        } else {
            t.written_by.join(", ")
        };
        println!("{:<24} {:>12}  {by}", t.table, t.rows);
    }
    println!();
    match &s.production_model {
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
    if !s.production_data_removed.is_empty() {
        println!(
            "  its training data is no longer here ({} load(s) left `events`, e.g. a replace-mode ingest): score \
             refuses it; train a model of this data with `churn run --from validate`",
            s.production_data_removed.len()
        );
    }
    match &s.last_drift {
        Some(d) => println!(
            "last drift check: {} on the population scored {} by {} (max PSI {:.4}, {})",
            d.status, d.current_as_of, d.model_id, d.max_psi, d.max_psi_feature
        ),
        None => println!("last drift check: none yet (`churn run --stage drift`)"),
    }
    println!();
    if s.last_runs.is_empty() {
        println!("no stage has run yet: `churn run`");
        return;
    }
    println!(
        "{:<14} {:<8} {:<20} {:>12}  error",
        "stage", "status", "finished (UTC)", "rows out"
    );
    for r in &s.last_runs {
        let rows = r.rows_out.map_or_else(|| "-".to_string(), |n| n.to_string());
        let error = r.error.as_deref().unwrap_or_default();
        let error = error.lines().next().unwrap_or_default();
        println!(
            "{:<14} {:<8} {:<20} {rows:>12}  {error}",
            r.stage, r.status, r.finished_at
        );
    }
}
