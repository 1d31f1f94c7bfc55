//! The pipeline stages (DESIGN §1): names, order, inputs, and the runner that
//! gives every stage one transaction and a row in `pipeline_runs`.

pub mod batches;
pub mod drift;
pub mod evaluate;
pub mod features;
pub mod generate;
pub mod ingest;
pub mod labels;
pub mod prepare;
pub mod promote;
pub mod retrain;
pub mod score;
pub mod train;
pub mod training_set;
pub mod validate;

use std::fmt;

use chrono::Utc;
use clap::ValueEnum;
use duckdb::Connection;
use rand::Rng;

use crate::config::Config;
use crate::db::{RunRecord, Store};
use crate::error::{Error, Result};
use crate::sql::{self, SqlContext};

/// Every stage, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Stage {
    Generate,
    Ingest,
    Validate,
    Prepare,
    Features,
    Labels,
    TrainingSet,
    Train,
    Promote,
    Score,
    Drift,
    Evaluate,
    Retrain,
}

/// What `churn run` runs with no stage named.
pub const DEFAULT_PIPELINE: [Stage; 11] = [
    Stage::Generate,
    Stage::Validate,
    Stage::Prepare,
    Stage::Features,
    Stage::Labels,
    Stage::TrainingSet,
    Stage::Train,
    Stage::Promote,
    Stage::Score,
    Stage::Drift,
    Stage::Evaluate,
];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Generate => "generate",
            Stage::Ingest => "ingest",
            Stage::Validate => "validate",
            Stage::Prepare => "prepare",
            Stage::Features => "features",
            Stage::Labels => "labels",
            Stage::TrainingSet => "training-set",
            Stage::Train => "train",
            Stage::Promote => "promote",
            Stage::Score => "score",
            Stage::Drift => "drift",
            Stage::Evaluate => "evaluate",
            Stage::Retrain => "retrain",
        }
    }

    /// Tables the stage reads, each with at least one row.
    fn needs(self) -> &'static [&'static str] {
        match self {
            Stage::Generate | Stage::Ingest | Stage::Validate => &[],
            Stage::Prepare => &["users", "events"],
            Stage::Features | Stage::Labels => &["user_daily"],
            Stage::TrainingSet => &["user_features_daily", "labels_daily"],
            Stage::Train | Stage::Retrain => &["training_set"],
            Stage::Promote => &["models"],
            Stage::Score => &["user_features_daily", "models"],
            Stage::Drift => &["predictions", "models", "training_set", "user_features_daily"],
            Stage::Evaluate => &["predictions", "models", "labels_daily"],
        }
    }

    /// The SQL templates of a SQL stage, with the table each builds (None
    /// for checks, which only select).
    pub fn templates(self) -> Vec<(Option<&'static str>, &'static str)> {
        match self {
            Stage::Validate => sql::names_under("validate/").map(|n| (None, n)).collect(),
            Stage::Prepare => vec![(Some("user_daily"), "prepare/user_daily.sql")],
            Stage::Features => vec![(Some("user_features_daily"), "features/user_features_daily.sql")],
            Stage::Labels => vec![(Some("labels_daily"), "labels/labels_daily.sql")],
            Stage::TrainingSet => vec![(Some("training_set"), "training/training_set.sql")],
            Stage::Score => vec![(None, "scoring/score.sql")],
            Stage::Evaluate => vec![(None, "evaluate/matured.sql")],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to produce a table a stage needs.
fn producer_hint(table: &str) -> &'static str {
    match table {
        "users" | "events" => {
            "`churn run --stage generate` (synthetic data) or `churn ingest --users FILE --events FILE` (your data)"
        }
        "user_daily" => "`churn run --stage prepare`",
        "user_features_daily" => "`churn run --stage features`",
        "labels_daily" => "`churn run --stage labels`",
        "training_set" => "`churn run --stage training-set`",
        "models" => "`churn run --stage train`",
        "predictions" => "`churn run --stage score`",
        _ => "the stage that builds it",
    }
}

/// What a stage body reports back to the runner.
#[derive(Debug)]
pub struct Outcome {
    pub rows_out: i64,
    pub params: serde_json::Value,
    /// A failure found by a stage whose results are still committed
    /// (validation errors, drift FAIL).
    pub failure: Option<Error>,
    /// One line for the log.
    pub summary: String,
}

/// Settings shared by the stages of one `churn` invocation.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub run_id: String,
    pub show_progress: bool,
    /// Options of the score stage (`--as-of-date`, `--export`).
    pub score: score::ScoreArgs,
    /// drift: also write the report to this JSON file.
    pub drift_json: Option<std::path::PathBuf>,
    /// generate: continue the simulation for this many days.
    pub append_days: Option<u32>,
}

impl<'a> Ctx<'a> {
    /// A context with a fresh run id and no stage options.
    pub fn new(config: &'a Config, show_progress: bool) -> Ctx<'a> {
        Ctx {
            config,
            run_id: new_run_id(),
            show_progress,
            score: score::ScoreArgs::default(),
            drift_json: None,
            append_days: None,
        }
    }

    pub fn progress_bar(&self, what: &str) -> indicatif::ProgressBar {
        if !self.show_progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_string());
        bar
    }

    /// A spinner with the elapsed time while a stage without a bar of its
    /// own runs (on a terminal; hidden otherwise).
    pub fn spinner(&self, stage: &str) -> indicatif::ProgressBar {
        if !self.show_progress || stage == "generate" {
            return indicatif::ProgressBar::hidden();
        }
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        spinner.set_message(stage.to_string());
        spinner.enable_steady_tick(std::time::Duration::from_millis(200));
        spinner
    }

    pub fn sql(&self) -> SqlContext {
        SqlContext::new(self.config)
    }

    /// The id a stage's bulk rows are tagged with: the run and the stage.
    pub fn load_id(&self, stage: &str) -> String {
        format!("{}:{stage}", self.run_id)
    }
}

/// A readable, unique id for one invocation: run-20261127T081500Z-3f2a.
pub fn new_run_id() -> String {
    let suffix: u16 = rand::rng().random();
    format!("run-{}-{suffix:04x}", Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// The stage running now (or that failed last), for the final error line
/// and the interrupt message.
static CURRENT_STAGE: std::sync::Mutex<Option<&'static str>> = std::sync::Mutex::new(None);

/// The stage that was running when the command stopped, if any.
pub fn failed_stage() -> Option<&'static str> {
    *CURRENT_STAGE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stages that append rows in bulk, tagging them with their load id
/// and writing a row of the `loads` ledger in their transaction.
const LOADING_STAGES: [&str; 3] = ["generate", "ingest", "score"];

/// The `pipeline_runs` status of a stage that ran to the end but found a
/// problem (its results are committed): not "failed", which is a crash.
fn verdict_status(failure: &Error) -> &'static str {
    match failure {
        Error::ValidationFailed(_) => "invalid",
        Error::DriftFail(_) | Error::PerformanceFail(_) => "alert",
        Error::ModelRejected(_) => "rejected",
        _ => "failed",
    }
}

/// Runs `body` as stage `name`: checks the needed tables, runs it in one
/// transaction that also writes its row of `pipeline_runs` (and, for a
/// load, of `loads`), so the outputs and their record commit together. A
/// stage that fails is rolled back and recorded as failed afterwards; if
/// that record cannot be written either, the stage's own error is the one
/// returned.
pub fn run_recorded(
    store: &Store,
    ctx: &Ctx<'_>,
    name: &str,
    needs: &[&str],
    body: impl FnOnce(&Connection) -> Result<Outcome>,
) -> Result<Outcome> {
    let started_at = Utc::now().naive_utc();
    let load_id = ctx.load_id(name);
    *CURRENT_STAGE.lock().unwrap_or_else(|e| e.into_inner()) = Stage::value_variants()
        .iter()
        .map(|s| s.name())
        .find(|s| *s == name);
    let result = check_inputs(store, name, needs).and_then(|sizes| {
        tracing::info!(stage = name, "{}", starting_line(name, &sizes));
        let spinner = ctx.spinner(name);
        let done = store.transaction(|conn| {
            let out = body(conn)?;
            // The tables the stage built get the data dictionary's comments.
            let undescribed = crate::dictionary::comment_all(conn)?;
            if !undescribed.is_empty() {
                tracing::debug!(columns = ?undescribed, "columns the data dictionary does not describe");
            }
            let finished_at = Utc::now().naive_utc();
            if LOADING_STAGES.contains(&name) {
                crate::db::torn_commit_fault(conn, name, &load_id)?;
                crate::db::record_load(conn, &load_id, &ctx.run_id, name)?;
            }
            crate::db::record_run(
                conn,
                &RunRecord {
                    run_id: &ctx.run_id,
                    stage: name,
                    started_at,
                    finished_at,
                    status: out.failure.as_ref().map_or("ok", verdict_status),
                    rows_out: Some(out.rows_out),
                    params_json: out.params.to_string(),
                    error: out.failure.as_ref().map(ToString::to_string),
                },
            )?;
            crate::db::fault_point("kill-before-commit", name);
            Ok((out, finished_at))
        });
        spinner.finish_and_clear();
        done
    });
    if result.is_ok() {
        crate::db::fault_point("kill-after-commit", name);
    }
    let (out, finished_at) = match result {
        Ok(done) => done,
        Err(e) => {
            let failed = RunRecord {
                run_id: &ctx.run_id,
                stage: name,
                started_at,
                finished_at: Utc::now().naive_utc(),
                status: "failed",
                rows_out: None,
                params_json: "{}".to_string(),
                error: Some(e.to_string()),
            };
            if let Err(record) = store.transaction(|conn| crate::db::record_run(conn, &failed)) {
                tracing::warn!(
                    stage = name,
                    "the failed run could not be recorded in pipeline_runs: {record}"
                );
            }
            return Err(e);
        }
    };
    let seconds = (finished_at - started_at).num_milliseconds() as f64 / 1000.0;
    tracing::info!(
        stage = name,
        rows_out = out.rows_out,
        seconds,
        "{name}: {}",
        out.summary
    );
    match out.failure {
        Some(e) => Err(e),
        None => {
            *CURRENT_STAGE.lock().unwrap_or_else(|e| e.into_inner()) = None;
            Ok(out)
        }
    }
}

/// Checks that every table the stage needs has rows; returns their sizes.
fn check_inputs(store: &Store, stage: &str, needs: &[&str]) -> Result<Vec<(String, i64)>> {
    let mut sizes = Vec::with_capacity(needs.len());
    for table in needs {
        let rows = if store.table_exists(table)? {
            store.count_rows(table)?
        } else {
            0
        };
        if rows == 0 {
            return Err(Error::MissingInput(format!(
                "{stage} needs table {table} with rows, and {} has none: run {} first",
                store.path().display(),
                producer_hint(table)
            )));
        }
        sizes.push((table.to_string(), rows));
    }
    Ok(sizes)
}

/// "starting (user_daily 28,881,628 rows)": a stage's first log line.
fn starting_line(name: &str, sizes: &[(String, i64)]) -> String {
    if sizes.is_empty() {
        return format!("{name}: starting");
    }
    let inputs: Vec<String> = sizes
        .iter()
        .map(|(table, rows)| format!("{table} {} rows", crate::report::thousands(*rows)))
        .collect();
    format!("{name}: starting ({})", inputs.join(", "))
}

/// Runs one stage through the recorded runner.
pub fn run_stage(store: &Store, ctx: &Ctx<'_>, stage: Stage) -> Result<Outcome> {
    let sql_ctx = ctx.sql();
    let name = stage.name();
    run_recorded(store, ctx, name, stage.needs(), |conn| match stage {
        Stage::Generate => {
            let bar = ctx.progress_bar("users");
            let g = &ctx.config.generate;
            let load_id = ctx.load_id(name);
            match ctx.append_days {
                Some(days) => generate::append(conn, &g.drift, days, &load_id, &bar),
                None => generate::run(conn, g, &g.drift, &load_id, &bar),
            }
        }
        Stage::Validate => validate::run(conn, &sql_ctx, &ctx.config.validate.severity, &ctx.run_id),
        Stage::Prepare => prepare::run(conn, &sql_ctx),
        Stage::Features => features::run(conn, &sql_ctx),
        Stage::Labels => labels::run(conn, &sql_ctx),
        Stage::TrainingSet => training_set::run(conn, &sql_ctx),
        Stage::Train => train::run(conn, ctx.config),
        Stage::Promote => promote::run(conn, ctx.config),
        Stage::Score => score::run(conn, ctx.config, &ctx.score, &ctx.load_id(name)),
        Stage::Drift => drift::run(conn, ctx.config, &ctx.run_id, ctx.drift_json.as_deref()),
        Stage::Evaluate => evaluate::run(conn, ctx.config, &sql_ctx, &ctx.run_id),
        Stage::Retrain => retrain::run(conn, ctx.config),
        Stage::Ingest => Err(Error::Usage(
            "ingest reads your files: use `churn ingest --users FILE --events FILE`".into(),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starting_line_names_the_input_sizes() {
        use crate::report::thousands;
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(28_881_628), "28,881,628");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(starting_line("generate", &[]), "generate: starting");
        assert_eq!(
            starting_line(
                "training-set",
                &[
                    ("user_features_daily".into(), 28_881_628),
                    ("labels_daily".into(), 21_000)
                ]
            ),
            "training-set: starting (user_features_daily 28,881,628 rows, labels_daily 21,000 rows)"
        );
    }
}
