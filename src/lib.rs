//! churn: a customer-churn MLOps pipeline on one embedded DuckDB file.
//!
//! `main` is the whole program behind the binary: it parses the command
//! line, `run` dispatches to the command (`commands/`), and errors become
//! exit codes in one place.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod error;
pub mod format;
pub mod model;
pub mod oracle;
pub mod report;
pub mod signals;
pub mod simulation;
pub mod spark;
pub mod sql;
pub mod stages;
pub mod store;

use std::io::IsTerminal;

use cli::LogFormat;
use commands::Globals;
pub use commands::sql::render_stage_sql;
use commands::{Cli, Command};
pub use error::{Error, Result};

pub use store::DUCKDB_VERSION;

/// The whole program: parses the command line, runs it, and turns the
/// outcome into the exit code (docs/design.md §5: 0 ok, 1 failure, 2 monitoring
/// FAIL, 3 usage or configuration, clap's own errors included).
pub fn main() -> i32 {
    // A closed pipe (`churn status | head -1`) ends the process quietly, as
    // for any Unix filter, instead of a panic on the next print.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version print to stdout and succeed.
            return if e.use_stderr() { 3 } else { 0 };
        }
    };
    let json = cli.global.log_format == LogFormat::Json;
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            report_error(&e, json);
            e.code()
        }
    }
}

/// The last line of a failed command: plain text, or in JSON mode one JSON
/// object like every log line, with the stage that failed when there was one.
fn report_error(e: &Error, json: bool) {
    if json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "message": format!("error: {e}"),
            "stage": stages::failed_stage(),
            "error": e.to_string(),
            "exit_code": e.code(),
        });
        eprintln!("{line}");
    } else {
        eprintln!("error: {e}");
    }
}

/// Runs one parsed command line: one match, each command's own `run`.
pub fn run(cli: Cli) -> Result<()> {
    init_logging(&cli);
    if !matches!(cli.command, Command::Serve(_)) {
        // The server drains on SIGTERM by itself; every other command
        // stops at once, its open transaction never committed.
        signals::exit_on_interrupt();
    }
    let g = Globals {
        db: cli.global.db.clone(),
        config_file: cli.global.config.clone(),
        show_progress: std::io::stderr().is_terminal()
            && cli.global.log_format == LogFormat::Text
            && !cli.global.quiet,
    };
    match &cli.command {
        Command::Run(args) => args.run(&g),
        Command::Generate(args) => args.run(&g),
        Command::Ingest(args) => args.run(&g),
        Command::Serve(args) => args.run(&g),
        Command::Report(args) => args.run(&g),
        Command::Probe(args) => args.run(),
        Command::Sql(args) => args.run(&g),
        Command::Export(args) => args.run(&g),
        Command::Train(args) => args.run(&g),
        Command::Status(args) => args.run(&g),
        Command::Models(cmd) => cmd.run(&g),
        Command::Completions(args) => args.run(),
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("churn={level}")));
    let no_color = std::env::var_os("NO_COLOR");
    let log_color = console::wants_color(
        cli.global.color,
        std::io::stderr().is_terminal(),
        no_color.clone(),
    );
    console::configure(
        !cli.global.quiet,
        console::wants_color(cli.global.color, std::io::stdout().is_terminal(), no_color),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(log_color)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests calling run twice) is harmless: keep the first.
    // JSON: one object per line, the message and fields at the top level.
    // Every warning is also kept for the run's summary.
    let _ = match cli.global.log_format {
        LogFormat::Json => registry
            .with(fmt.json().flatten_event(true))
            .with(console::KeepWarnings)
            .try_init(),
        LogFormat::Text => registry.with(fmt).with(console::KeepWarnings).try_init(),
    };
}
