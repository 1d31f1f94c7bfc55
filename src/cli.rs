//! The global flags of the command line, which `commands::Cli` composes
//! with the subcommands. The `///` lines are the `--help` text.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// What `--version` prints: the release and the DuckDB version of the file
/// format (open the file with the same DuckDB).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (DuckDB 1.5.6: its files are DuckDB 1.5.6 databases; open them with DuckDB 1.5.x)"
);

/// The flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
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

    /// Only warnings, errors and a run's summary (no stage tables).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
