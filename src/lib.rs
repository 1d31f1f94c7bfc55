//! churn: a customer-churn MLOps pipeline on one embedded DuckDB file.
//!
//! `run` is the whole program behind `main`: it loads the config once and
//! dispatches to the command.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod model;
pub mod models;
pub mod report;
pub mod simulation;
pub mod sql;
pub mod stages;
pub mod status;

use std::io::IsTerminal;
use std::time::Duration;

use cli::{Cli, Command, LogFormat};
use config::{Config, Overrides};
use db::{Access, Store};
pub use error::{Error, Result};
use stages::{Ctx, Stage};

/// The DuckDB version this binary links; its file format is the one to open
/// the database with.
pub const DUCKDB_VERSION: &str = "1.5.6";

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    init_logging(&cli);
    if let Command::Probe(args) = &cli.command {
        // No configuration or database: a probe only asks the server.
        if !(args.timeout_s.is_finite() && args.timeout_s > 0.0) {
            return Err(Error::Usage(format!(
                "--timeout-s must be a positive number of seconds, not {}",
                args.timeout_s
            )));
        }
        let status = api::probe::run(&args.url, Duration::from_secs_f64(args.timeout_s))?;
        tracing::debug!("probe {}: {status}", args.url);
        return Ok(());
    }
    let overrides = match &cli.command {
        Command::Run(args) => stages::overrides(&args.sim),
        Command::Generate(args) => stages::overrides(&args.sim),
        _ => Overrides::default(),
    };
    let config = Config::load(cli.config.as_deref(), std::env::vars(), &overrides)?;
    let show_progress = std::io::stderr().is_terminal() && cli.log_format == LogFormat::Text && !cli.quiet;
    let lock_timeout = Duration::from_secs_f64(config.store.lock_timeout_s);
    match &cli.command {
        Command::Run(args) => stages::run_pipeline(&cli.db, &config, args, show_progress),
        Command::Generate(args) => {
            let store = match args.append_days {
                Some(_) => Store::open_existing(&cli.db, Access::ReadWrite, lock_timeout)?,
                None => Store::open(&cli.db, Access::ReadWrite, lock_timeout)?,
            };
            let ctx = Ctx {
                append_days: args.append_days,
                ..Ctx::new(&config, show_progress)
            };
            stages::run_stage(&store, &ctx, Stage::Generate)?;
            Ok(())
        }
        Command::Ingest(args) => {
            let store = Store::open(&cli.db, Access::ReadWrite, lock_timeout)?;
            let ctx = Ctx::new(&config, show_progress);
            let load_id = ctx.load_id(Stage::Ingest.name());
            stages::run_recorded(&store, &ctx, Stage::Ingest.name(), &[], |conn| {
                stages::ingest::run(conn, &args.users, &args.events, args.mode, &load_id)
            })?;
            Ok(())
        }
        Command::Sql(args) => {
            print!("{}", render_stage_sql(args.stage, &config)?);
            Ok(())
        }
        Command::Status => status::print(&cli.db, lock_timeout),
        Command::Serve(args) => api::serve(&cli.db, &config, args.addr.as_deref()),
        Command::Models(cmd) => models::run(cmd, &cli.db, &config, lock_timeout),
        Command::Report(args) => {
            let path = report::write(&cli.db, &args.out, lock_timeout)?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Probe(_) => unreachable!("answered before the configuration is loaded"),
    }
}

/// The SQL a stage runs, as `churn sql STAGE` prints it.
pub fn render_stage_sql(stage: Stage, config: &Config) -> Result<String> {
    let ctx = sql::SqlContext::new(config);
    if stage == Stage::Drift {
        // The drift templates are rendered at run time with the production
        // model's features and the reference's bin edges: print them raw.
        let mut out = String::from(
            "-- drift renders these templates at run time with the production model's features and the\n\
             -- bins of its training rows (model_reference_bins; drift_bins keeps the bins of each run).\n\n",
        );
        for name in sql::names_under("drift/") {
            out.push_str(&format!(
                "-- sql/{name}\n{}\n",
                sql::source(name).unwrap_or_default()
            ));
        }
        return Ok(out);
    }
    let templates = stage.templates();
    if templates.is_empty() {
        return Err(Error::Usage(format!(
            "stage {stage} runs no SQL template; the SQL stages are: {}",
            stages::DEFAULT_PIPELINE
                .iter()
                .filter(|s| !s.templates().is_empty())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut out = String::new();
    for (table, name) in templates {
        out.push_str(&format!("-- sql/{name}\n"));
        match table {
            Some(table) => out.push_str(&sql::create_table_as(table, name, &ctx)?),
            None => {
                out.push_str(&sql::render(name, &ctx)?);
                out.push_str("\n;");
            }
        }
        out.push_str("\n\n");
    }
    Ok(out)
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("churn={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second init (tests calling run twice) is harmless: keep the first.
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
