//! The subcommands: one file each, holding its clap arguments (their `///`
//! lines are the `--help` text) and its `run`. `crate::run` only matches.

pub mod completions;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod models;
pub mod probe;
pub mod report;
pub mod run;
pub mod serve;
pub mod sql;
pub mod status;
pub mod train;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::cli::{GlobalArgs, VERSION};

use crate::config::{Config, Overrides};
use crate::error::Result;

/// churn: a customer-churn pipeline on one embedded DuckDB file.
///
/// Data, features, labels, models, predictions and drift results all live in
/// the DuckDB file given by --db; open it with DuckDB's own CLI to query them.
#[derive(Debug, Parser)]
#[command(name = "churn", version = VERSION, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pipeline stages (default: every stage, generate through evaluate).
    Run(run::RunArgs),
    /// Fit a model (the train stage), from training_set or from Parquet files
    /// (--training-set, e.g. the training set Spark wrote); --promote gates it.
    Train(train::TrainArgs),
    /// Simulate users and events (the generate stage), or continue the
    /// simulation with --append-days.
    Generate(generate::GenerateArgs),
    /// Load your own users and events (CSV or Parquet) in place of, or in
    /// addition to (--mode append), the data in the database.
    Ingest(ingest::IngestArgs),
    /// Serve the production model over HTTP (/predict, /ready, /metrics, ...).
    Serve(serve::ServeArgs),
    /// Write the HTML report (model card, drift, risk list) of the file.
    Report(report::ReportArgs),
    /// GET an http:// URL; exit 0 on a 2xx answer, 1 otherwise (the
    /// container's health check: `churn probe http://127.0.0.1:8000/live`).
    Probe(probe::ProbeArgs),
    /// Print the SQL a stage runs, ready to paste into DuckDB's CLI (or,
    /// with --dialect spark, into spark-sql over a Parquet lake).
    Sql(sql::SqlArgs),
    /// Write tables as Parquet folders (a lake for Spark): --out DIR [TABLE...].
    Export(export::ExportArgs),
    /// Tables with row counts, the production model and each stage's last run.
    Status(status::StatusArgs),
    /// The model registry: list, show, promote (rollback).
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

/// What every command gets from the global flags.
pub struct Globals {
    pub db: PathBuf,
    pub config_file: Option<PathBuf>,
    /// Draw progress bars (stderr is a terminal, text logs, not -q).
    pub show_progress: bool,
}

impl Globals {
    /// The settings: defaults < file < environment < `overrides` (flags).
    pub fn config(&self, overrides: &Overrides) -> Result<Config> {
        let config = Config::load(self.config_file.as_deref(), std::env::vars(), overrides)?;
        crate::stages::validate::check_severity_names(&config.validate.severity)?;
        crate::store::configure(&config.store);
        Ok(config)
    }

    pub fn db(&self) -> &Path {
        &self.db
    }
}

/// How long to retry a database another process holds.
pub fn lock_timeout(config: &Config) -> Duration {
    Duration::from_secs_f64(config.store.lock_timeout_s)
}

/// Stage names on the command line (`--stage`, `--from`, `churn sql`): the
/// catalogue's, in its order.
impl clap::ValueEnum for crate::stages::Stage {
    fn value_variants<'a>() -> &'a [Self] {
        crate::stages::Stage::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}
