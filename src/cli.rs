//! Command-line definitions. The `///` lines are the `--help` text.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stages::Stage;

/// churn: a customer-churn pipeline on one embedded DuckDB file.
///
/// Data, features, labels, models, predictions and drift results all live in
/// the DuckDB file given by --db; open it with DuckDB's own CLI to query them.
#[derive(Debug, Parser)]
#[command(name = "churn", version, about, long_about)]
pub struct Cli {
    /// The DuckDB file (its folder is created when missing).
    #[arg(long, global = true, env = "CHURN_DB", default_value = "data/churn.duckdb")]
    pub db: PathBuf,

    /// A TOML config file (see churn.example.toml).
    #[arg(long, global = true, env = "CHURN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log line format (json for log collectors, as in k8s/).
    #[arg(long, global = true, env = "CHURN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pipeline stages (default: every stage, generate through drift).
    Run(RunArgs),
    /// Simulate users and events (the generate stage), or continue the
    /// simulation with --append-days.
    Generate(GenerateArgs),
    /// Load your own users and events (CSV or Parquet) in place of, or in
    /// addition to (--mode append), the data in the database.
    Ingest(IngestArgs),
    /// Serve the production model over HTTP (/predict, /ready, /metrics, ...).
    Serve(ServeArgs),
    /// Write the HTML report (model card, drift, risk list) of the file.
    Report(ReportArgs),
    /// GET an http:// URL; exit 0 on a 2xx answer, 1 otherwise (the
    /// container's health check: `churn probe http://127.0.0.1:8000/live`).
    Probe(ProbeArgs),
    /// Print the SQL a stage runs, ready to paste into DuckDB's CLI.
    Sql(SqlArgs),
    /// Tables with row counts and the last run of each stage.
    Status,
    /// The model registry: list, show, promote (rollback).
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run only this stage (repeatable; run in pipeline order).
    #[arg(long = "stage", value_enum)]
    pub stages: Vec<Stage>,

    /// Start from this stage.
    #[arg(long, value_enum, conflicts_with = "stages")]
    pub from: Option<Stage>,

    /// Stop after this stage.
    #[arg(long, value_enum, conflicts_with = "stages")]
    pub to: Option<Stage>,

    #[command(flatten)]
    pub sim: SimArgs,

    /// score: the as-of date to score, YYYY-MM-DD (default: the latest).
    #[arg(long, conflicts_with_all = ["from_date", "to_date"])]
    pub as_of_date: Option<NaiveDate>,

    /// score: backfill every as-of date from this one (default: the first).
    #[arg(long)]
    pub from_date: Option<NaiveDate>,

    /// score: backfill every as-of date up to this one (default: the latest).
    #[arg(long)]
    pub to_date: Option<NaiveDate>,

    /// score: also write the scored slice to this .csv or .parquet file.
    #[arg(long)]
    pub export: Option<PathBuf>,

    /// drift: also write the drift report to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Flags of the generate stage that override config values.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// generate: number of users (overrides generate.users).
    #[arg(long)]
    pub users: Option<u32>,

    /// generate: number of days (overrides generate.days).
    #[arg(long)]
    pub days: Option<u32>,

    /// generate: first simulated day, YYYY-MM-DD (overrides generate.start_date).
    #[arg(long)]
    pub start_date: Option<NaiveDate>,

    /// generate: random seed (overrides generate.seed).
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub sim: SimArgs,

    /// Continue the simulation in the database for this many more days
    /// instead of replacing it: the same users keep their hidden state, new
    /// users sign up at the original rate, [generate.drift] applies.
    #[arg(long, conflicts_with_all = ["users", "days", "start_date", "seed"])]
    pub append_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every model, newest first, with its status and test metrics.
    List,
    /// One model: metadata, metrics, terms and promotion history.
    Show {
        /// The model id (see `churn models list`).
        model_id: String,
    },
    /// Make a model the production model (the rollback path); recorded in
    /// model_promotions.
    Promote {
        /// The model id (see `churn models list`).
        model_id: String,
    },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Users file (.csv or .parquet): user_id, signup_date, plan
    /// [, is_paid, country, marketing_source].
    #[arg(long)]
    pub users: PathBuf,

    /// Events file (.csv or .parquet): event_id, user_id, event_time, event_type
    /// [, course_id, watch_minutes, quiz_score, amount].
    #[arg(long)]
    pub events: PathBuf,

    /// replace: the files become the users and events; append: they are
    /// added, and a user_id or event_id already stored is refused.
    #[arg(long, value_enum, default_value_t = IngestMode::Replace)]
    pub mode: IngestMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngestMode {
    Replace,
    Append,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides serve.addr, default 0.0.0.0:8000).
    #[arg(long)]
    pub addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The folder to write churn-report-<time>.html into.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET, http://HOST:PORT/PATH.
    pub url: String,

    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5.0)]
    pub timeout_s: f64,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The stage whose SQL to print.
    #[arg(value_enum)]
    pub stage: Stage,
}
