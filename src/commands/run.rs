//! `churn run`: the pipeline stages, in pipeline order.

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use clap::Args;
use serde::Serialize;

use crate::commands::generate::SimArgs;
use crate::commands::{Globals, lock_timeout};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::stages::drift::Drift;
use crate::stages::score::{Score, ScoreArgs};
use crate::stages::{Ctx, Stage, StageDef, default_pipeline, new_run_id, run_def};
use crate::store::{Access, Store};

#[derive(Debug, Default, Args)]
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

    /// Rebuild the maintained tables (user_daily, user_features_daily,
    /// labels_daily, training_set) and validate every load, instead of a
    /// day's work for the new data: after a change of their SQL or config.
    #[arg(long)]
    pub full: bool,

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
    #[arg(long, value_name = "FILE")]
    pub drift_report: Option<PathBuf>,

    /// Print the run's summary as one JSON object on stdout (and no stage
    /// tables).
    #[arg(long)]
    pub json: bool,

    /// train, promote, retrain, drift: read the training set from these
    /// Parquet files (a folder, a file or a glob, local or s3://; e.g. the
    /// training_set folder Spark wrote) instead of the table training_set.
    #[arg(long, value_name = "PATH_OR_GLOB")]
    pub training_set: Option<String>,
}

impl RunArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&self.sim.overrides())?;
        run_pipeline(g.db(), &config, self, g.show_progress)
    }
}

/// The stages `churn run` was asked for, in pipeline order.
pub fn select_stages(args: &RunArgs) -> Result<Vec<Stage>> {
    let pipeline = default_pipeline();
    let stages: Vec<Stage> = if args.stages.is_empty() {
        let pos = |s: Stage, flag: &str| {
            pipeline.iter().position(|&p| p == s).ok_or_else(|| {
                Error::Usage(format!(
                    "--{flag} {s}: {s} is not part of the default pipeline; use `churn {}`",
                    if s == Stage::Ingest {
                        "ingest --users FILE --events FILE".to_string()
                    } else {
                        format!("run --stage {s}")
                    }
                ))
            })
        };
        let from = args.from.map(|s| pos(s, "from")).transpose()?.unwrap_or(0);
        let to = args
            .to
            .map(|s| pos(s, "to"))
            .transpose()?
            .unwrap_or(pipeline.len() - 1);
        if from > to {
            return Err(Error::Usage(format!(
                "--from {} comes after --to {}: nothing to run",
                pipeline[from], pipeline[to]
            )));
        }
        pipeline[from..=to].to_vec()
    } else {
        let mut s = args.stages.clone();
        s.sort();
        s.dedup();
        s
    };
    if stages.contains(&Stage::Ingest) {
        return Err(Error::Usage(
            "ingest reads your files: use `churn ingest --users FILE --events FILE`".into(),
        ));
    }
    Ok(stages)
}

/// `churn run`: the stages, then the summary (`summary`).
pub fn run_pipeline(
    db: &std::path::Path,
    config: &Config,
    args: &RunArgs,
    show_progress: bool,
) -> Result<()> {
    let stages = select_stages(args)?;
    if args.json {
        // stdout carries the JSON object alone.
        crate::console::configure(false, false);
    }
    let store = if stages[0] == Stage::Generate {
        Store::open(db, Access::ReadWrite, lock_timeout(config))?
    } else {
        Store::open_existing(db, Access::ReadWrite, lock_timeout(config))?
    };
    if let Some(files) = &args.training_set {
        crate::stages::train::read_training_set_from(&store.conn, files)?;
    }
    let ctx = Ctx {
        config,
        run_id: new_run_id(),
        show_progress,
        rebuild: args.full,
    };
    let started = Instant::now();
    let mut rows: Vec<StageRow> = Vec::with_capacity(stages.len());
    // The monitoring stages all run: a drift FAIL does not hide what
    // evaluate would say. The first monitoring FAIL is the result.
    let mut monitoring_fail = None;
    let mut error = None;
    for &stage in &stages {
        if error.is_some() {
            rows.push(StageRow::skipped(stage));
            continue;
        }
        let mark = crate::console::warnings_mark();
        let start = Instant::now();
        let result = run_def(&store, &ctx, &*with_options(stage, args));
        let mut row = StageRow {
            stage: stage.name(),
            status: "OK",
            rows: None,
            seconds: start.elapsed().as_secs_f64(),
            warnings: crate::console::warnings_since(mark),
            summary: String::new(),
        };
        match result {
            Ok(out) => {
                row.rows = Some(out.rows_out);
                row.summary = out.summary;
                if !row.warnings.is_empty() {
                    row.status = "WARN";
                }
            }
            Err(e @ (Error::DriftFail(_) | Error::PerformanceFail(_))) => {
                row.status = "FAIL";
                row.summary = e.to_string();
                monitoring_fail.get_or_insert(e);
            }
            Err(e) => {
                row.status = "ERROR";
                row.summary = e.to_string();
                error = Some(e);
            }
        }
        rows.push(row);
    }
    let summary = Summary::new(&ctx.run_id, started.elapsed().as_secs_f64(), rows, db);
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    match error.or(monitoring_fail) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One stage's line of the run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct StageRow {
    pub stage: &'static str,
    /// OK, WARN (it logged warnings), FAIL (a monitoring verdict), ERROR
    /// (it stopped the run) or SKIP (not run after an ERROR).
    pub status: &'static str,
    pub rows: Option<i64>,
    pub seconds: f64,
    pub warnings: Vec<String>,
    /// The stage's one-line outcome, or its error.
    pub summary: String,
}

impl StageRow {
    fn skipped(stage: Stage) -> StageRow {
        StageRow {
            stage: stage.name(),
            status: "SKIP",
            rows: None,
            seconds: 0.0,
            warnings: Vec::new(),
            summary: String::new(),
        }
    }
}

/// The end of `churn run`, as dbt ends a run: a row per stage, the counts,
/// and what to open next.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub run_id: String,
    /// OK, WARN, FAIL or ERROR: the worst stage's.
    pub status: &'static str,
    pub seconds: f64,
    pub stages: Vec<StageRow>,
    pub next: Vec<String>,
}

impl Summary {
    pub fn new(run_id: &str, seconds: f64, stages: Vec<StageRow>, db: &std::path::Path) -> Summary {
        let worst = ["ERROR", "FAIL", "WARN"]
            .into_iter()
            .find(|w| stages.iter().any(|s| s.status == *w))
            .unwrap_or("OK");
        let at = |s: &str| stages.iter().any(|r| r.stage == s && r.status != "SKIP");
        let db_flag = if db == std::path::Path::new("data/churn.duckdb") {
            String::new()
        } else {
            format!(" --db {}", db.display())
        };
        let mut next = Vec::new();
        match worst {
            "ERROR" => {
                let failed = stages
                    .iter()
                    .find(|s| s.status == "ERROR")
                    .map_or("", |s| s.stage);
                next.push(format!(
                    "fix what the error says, then `churn{db_flag} run --from {failed}` (the stages before it are kept)"
                ));
            }
            "FAIL" => next.push(format!(
                "the production model is failing its checks: `churn{db_flag} report` shows why; \
                 `churn{db_flag} run --stage retrain` trains and gates a challenger"
            )),
            _ => {
                if at("score") || at("promote") || at("drift") {
                    next.push(format!(
                        "`churn{db_flag} report`: the risk list with reasons, the model card, drift"
                    ));
                    next.push(format!(
                        "`churn{db_flag} serve`: the API (/predict, /users/{{id}}/risk)"
                    ));
                }
                next.push(format!("`churn{db_flag} status`: the tables and the last runs"));
            }
        }
        Summary {
            run_id: run_id.to_string(),
            status: worst,
            seconds,
            stages,
            next,
        }
    }

    pub fn count(&self, status: &str) -> usize {
        self.stages.iter().filter(|s| s.status == status).count()
    }

    /// The summary as a person reads it.
    pub fn text(&self) -> String {
        use crate::console::status;
        let mut out = String::from("\n");
        out.push_str(&format!(
            "{:<14} {:<6} {:>12} {:>9}  {}\n",
            "stage", "status", "rows", "seconds", "warnings"
        ));
        for s in &self.stages {
            let rows = s.rows.map_or("-".to_string(), crate::format::thousands);
            let seconds = if s.status == "SKIP" {
                "-".to_string()
            } else {
                format!("{:.1}", s.seconds)
            };
            out.push_str(&format!(
                "{:<14} {} {:>12} {:>9}  {}\n",
                s.stage,
                status(s.status, 6),
                rows,
                seconds,
                s.warnings.len()
            ));
        }
        out.push_str(&format!(
            "\n{} in {:.1} s: OK={} WARN={} FAIL={} ERROR={} SKIP={} TOTAL={}\n",
            status(self.status, 0),
            self.seconds,
            self.count("OK"),
            self.count("WARN"),
            self.count("FAIL"),
            self.count("ERROR"),
            self.count("SKIP"),
            self.stages.len()
        ));
        for s in self.stages.iter().filter(|s| !s.warnings.is_empty()) {
            for w in &s.warnings {
                out.push_str(&format!("  {} {}: {w}\n", status("WARN", 0), s.stage));
            }
        }
        for s in self
            .stages
            .iter()
            .filter(|s| matches!(s.status, "FAIL" | "ERROR"))
        {
            out.push_str(&format!("  {} {}: {}\n", status(s.status, 0), s.stage, s.summary));
        }
        for (k, n) in self.next.iter().enumerate() {
            out.push_str(&format!("{} {n}\n", if k == 0 { "next:" } else { "     " }));
        }
        out
    }

    /// The summary as one JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\": \"summary: {e}\"}}"))
    }
}

/// The stage with the options `churn run` was given for it.
fn with_options(stage: Stage, args: &RunArgs) -> Box<dyn StageDef> {
    match stage {
        Stage::Score => Box::new(Score {
            args: ScoreArgs {
                as_of_date: args.as_of_date,
                from_date: args.from_date,
                to_date: args.to_date,
                export: args.export.clone(),
                // The whole pipeline also scores the new model's test
                // window, so that evaluate has matured predictions to show
                // at once.
                seed_test_window: args.stages.is_empty() && args.from.is_none(),
            },
        }),
        Stage::Drift => Box::new(Drift {
            json: args.drift_report.clone(),
        }),
        other => other.def(),
    }
}
