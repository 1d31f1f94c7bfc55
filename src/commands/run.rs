//! `churn run`: the pipeline stages, in pipeline order.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;

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
    #[arg(long)]
    pub json: Option<PathBuf>,

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

/// `churn run`.
pub fn run_pipeline(
    db: &std::path::Path,
    config: &Config,
    args: &RunArgs,
    show_progress: bool,
) -> Result<()> {
    let stages = select_stages(args)?;
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
    // The monitoring stages all run: a drift FAIL does not hide what
    // evaluate would say. The first monitoring FAIL is the result.
    let mut monitoring_fail = None;
    for stage in stages {
        match run_def(&store, &ctx, &*with_options(stage, args)) {
            Ok(_) => {}
            Err(e @ (Error::DriftFail(_) | Error::PerformanceFail(_))) => {
                monitoring_fail.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    monitoring_fail.map_or(Ok(()), Err)
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
            json: args.json.clone(),
        }),
        other => other.def(),
    }
}
