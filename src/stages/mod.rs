//! The pipeline stages (docs/design.md §1): the catalogue that names them in
//! order, what each declares about itself (`StageDef`, implemented in the
//! stage's own file), and the runner that gives every stage one transaction
//! and a row in `pipeline_runs`.

pub mod batches;
pub mod incremental;

use std::fmt;

use chrono::Utc;
use duckdb::Connection;
use rand::Rng;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sql::SqlContext;
use crate::store::status::RunStatus;
use crate::store::{RunRecord, Store};

/// What a stage declares about itself, in its own file: the runner, `churn
/// run`, `churn sql`, `churn status` and the Spark rendering read these and
/// nothing else. A stage value carries its own options (`score::Score`
/// holds the dates to score); the catalogue's values have the defaults.
pub trait StageDef {
    /// The name on the command line and in `pipeline_runs`.
    fn name(&self) -> &'static str;

    /// Tables the stage reads; each must have rows before it runs.
    fn reads(&self) -> &'static [&'static str] {
        &[]
    }

    /// Tables the stage writes.
    fn writes(&self) -> &'static [&'static str];

    /// The SQL templates the stage runs on DuckDB, in order (`churn sql`).
    fn templates(&self, _config: &Config) -> Vec<Template> {
        Vec::new()
    }

    /// The lake tables its Spark SQL reads (`churn sql --dialect spark`):
    /// by default what it reads.
    fn spark_inputs(&self) -> &'static [&'static str] {
        self.reads()
    }

    /// A load appends rows tagged with its load id and writes its row of the
    /// `loads` ledger in the same transaction (docs/design.md §5).
    fn is_load(&self) -> bool {
        false
    }

    /// The stage keeps its table up to date a day at a time, with a
    /// watermark (`stages::incremental`, docs/design.md §9).
    fn maintains(&self) -> bool {
        false
    }

    /// Tables whose new rows make this stage's output stale: the stage to
    /// rerun after a load of them.
    fn invalidated_by(&self) -> &'static [&'static str] {
        self.reads()
    }

    /// The stage's work, inside the runner's transaction.
    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome>;
}

/// One SQL template a stage runs: the table it builds (`None` for a check
/// or a select the stage reads back) and its path under `sql/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub table: Option<&'static str>,
    pub name: &'static str,
}

impl Template {
    /// A template that builds `table`.
    pub const fn table(table: &'static str, name: &'static str) -> Template {
        Template {
            table: Some(table),
            name,
        }
    }

    /// A template that only selects.
    pub const fn select(name: &'static str) -> Template {
        Template { table: None, name }
    }
}

/// The catalogue: one line per stage, in pipeline order, naming the stage's
/// file (module) and the type in it that declares it. Generates the module
/// declarations, `Stage`, its list and the lookup of each declaration, so a
/// new stage is its file, its SQL and one line here.
macro_rules! catalogue {
    ($($variant:ident => $module:ident :: $def:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every stage, in pipeline order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Stage {
            $($variant),*
        }

        impl Stage {
            /// Every stage, in pipeline order.
            pub const ALL: &'static [Stage] = &[$(Stage::$variant),*];

            /// The stage's declaration, with default options.
            pub fn def(self) -> Box<dyn StageDef> {
                match self {
                    $(Stage::$variant => Box::new($module::$def::default())),*
                }
            }
        }
    };
}

catalogue! {
    Generate => generate::Generate,
    Ingest => ingest::Ingest,
    Validate => validate::Validate,
    Prepare => prepare::Prepare,
    Features => features::Features,
    Labels => labels::Labels,
    TrainingSet => training_set::TrainingSet,
    Train => train::Train,
    Promote => promote::Promote,
    Score => score::Score,
    Drift => drift::Drift,
    Evaluate => evaluate::Evaluate,
    Retrain => retrain::Retrain,
}

/// What `churn run` runs with no stage named: every stage but ingest (it
/// reads your files) and retrain (the monitoring loop's answer to a FAIL).
pub fn default_pipeline() -> Vec<Stage> {
    Stage::ALL
        .iter()
        .copied()
        .filter(|s| !matches!(s, Stage::Ingest | Stage::Retrain))
        .collect()
}

impl Stage {
    pub fn name(self) -> &'static str {
        self.def().name()
    }

    /// The stage called `name`.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The stages with SQL to print (`churn sql`).
    pub fn with_sql(config: &Config) -> Vec<Stage> {
        Stage::ALL
            .iter()
            .copied()
            .filter(|s| !s.def().templates(config).is_empty())
            .collect()
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to produce a table a stage needs: the stage that writes it, from the
/// catalogue.
fn producer_hint(table: &str) -> String {
    if matches!(table, "users" | "events") {
        return "`churn run --stage generate` (synthetic data) or `churn ingest --users FILE --events FILE` \
                (your data)"
            .to_string();
    }
    Stage::ALL
        .iter()
        .find(|s| s.def().writes().contains(&table))
        .map_or_else(
            || "the stage that builds it".to_string(),
            |s| format!("`churn run --stage {s}`"),
        )
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

/// What every stage of one `churn` invocation shares; a stage's own
/// options are fields of its `StageDef` value.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub run_id: String,
    pub show_progress: bool,
    /// `--full`: the maintained tables are rebuilt from everything rather
    /// than brought up to date (docs/design.md §9).
    pub rebuild: bool,
}

impl<'a> Ctx<'a> {
    /// A context with a fresh run id.
    pub fn new(config: &'a Config, show_progress: bool) -> Ctx<'a> {
        Ctx {
            config,
            run_id: new_run_id(),
            show_progress,
            rebuild: false,
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

/// The `pipeline_runs` status of a stage that ran to the end but found a
/// problem (its results are committed): not "failed", which is a crash.
fn verdict_status(failure: &Error) -> RunStatus {
    match failure {
        Error::ValidationFailed(_) => RunStatus::Invalid,
        Error::DriftFail(_) | Error::PerformanceFail(_) => RunStatus::Alert,
        Error::ModelRejected(_) => RunStatus::Rejected,
        _ => RunStatus::Failed,
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
    stage: &dyn StageDef,
    body: impl FnOnce(&Connection) -> Result<Outcome>,
) -> Result<Outcome> {
    let name = stage.name();
    let started_at = Utc::now().naive_utc();
    let load_id = ctx.load_id(name);
    *CURRENT_STAGE.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
    let result = check_inputs(store, name, stage.reads()).and_then(|sizes| {
        tracing::info!(stage = name, "{}", starting_line(name, &sizes));
        let spinner = ctx.spinner(name);
        let done = store.stage_transaction(name, |conn| {
            let out = body(conn)?;
            // The tables the stage built get the data dictionary's comments.
            let undescribed = crate::store::dictionary::comment_all(conn)?;
            if !undescribed.is_empty() {
                tracing::debug!(columns = ?undescribed, "columns the data dictionary does not describe");
            }
            let finished_at = Utc::now().naive_utc();
            if stage.is_load() {
                crate::store::torn_commit_fault(conn, name, &load_id)?;
                crate::store::record_load(conn, &load_id, &ctx.run_id, name)?;
            }
            crate::store::record_run(
                conn,
                &RunRecord {
                    run_id: &ctx.run_id,
                    stage: name,
                    started_at,
                    finished_at,
                    status: out.failure.as_ref().map_or(RunStatus::Ok, verdict_status),
                    rows_out: Some(out.rows_out),
                    params_json: out.params.to_string(),
                    error: out.failure.as_ref().map(ToString::to_string),
                },
            )?;
            crate::store::fault_point("kill-before-commit", name);
            Ok((out, finished_at))
        });
        spinner.finish_and_clear();
        done
    });
    if result.is_ok() {
        crate::store::fault_point("kill-after-commit", name);
        crate::store::signal_point("term-after-commit", name);
    }
    let (out, finished_at) = match result {
        Ok(done) => done,
        Err(e) => {
            let failed = RunRecord {
                run_id: &ctx.run_id,
                stage: name,
                started_at,
                finished_at: Utc::now().naive_utc(),
                status: RunStatus::Failed,
                rows_out: None,
                params_json: "{}".to_string(),
                error: Some(e.to_string()),
            };
            if let Err(record) = store.transaction(|conn| crate::store::record_run(conn, &failed)) {
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
        .map(|(table, rows)| format!("{table} {} rows", crate::format::thousands(*rows)))
        .collect();
    format!("{name}: starting ({})", inputs.join(", "))
}

/// Runs `stage` (with its options) through the recorded runner.
pub fn run_def(store: &Store, ctx: &Ctx<'_>, stage: &dyn StageDef) -> Result<Outcome> {
    run_recorded(store, ctx, stage, |conn| stage.run(conn, ctx))
}

/// Runs one stage of the catalogue, with its default options.
pub fn run_stage(store: &Store, ctx: &Ctx<'_>, stage: Stage) -> Result<Outcome> {
    run_def(store, ctx, &*stage.def())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_consistent() {
        let config = Config::default();
        let mut names = std::collections::BTreeSet::new();
        for (k, stage) in Stage::ALL.iter().enumerate() {
            let def = stage.def();
            assert!(names.insert(def.name()), "{} twice", def.name());
            assert_eq!(Stage::from_name(def.name()), Some(*stage));
            // Every table a stage reads is written by a stage before it.
            for table in def.reads() {
                assert!(
                    Stage::ALL[..k].iter().any(|s| s.def().writes().contains(table)),
                    "{} reads {table}, which no earlier stage writes",
                    def.name()
                );
            }
            // Every table a template builds is one the stage writes.
            for t in def.templates(&config) {
                if let Some(table) = t.table {
                    assert!(def.writes().contains(&table), "{}: {table}", def.name());
                }
                assert!(
                    crate::sql::source(t.name).is_some(),
                    "{}: sql/{}",
                    def.name(),
                    t.name
                );
            }
        }
        assert_eq!(
            default_pipeline().first().map(|s| s.name()),
            Some("generate"),
            "the default pipeline starts by generating"
        );
    }

    #[test]
    fn the_starting_line_names_the_input_sizes() {
        use crate::format::thousands;
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
