//! The command line: the global flags, composed with the subcommands of
//! `crate::commands`. The `///` lines are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

pub use crate::commands::Command;

/// What `--version` prints: the release and the DuckDB version of the file
/// format (open the file with the same DuckDB).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (DuckDB 1.5.6: its files are DuckDB 1.5.6 databases; open them with DuckDB 1.5.x)"
);

/// churn: a customer-churn pipeline on one embedded DuckDB file.
///
/// Data, features, labels, models, predictions and drift results all live in
/// the DuckDB file given by --db; open it with DuckDB's own CLI to query them.
#[derive(Debug, Parser)]
#[command(name = "churn", version = VERSION, about, long_about)]
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

#[cfg(test)]
mod tests {
    #[test]
    fn version_names_the_linked_duckdb() {
        assert!(super::VERSION.contains(crate::DUCKDB_VERSION));
    }
}
