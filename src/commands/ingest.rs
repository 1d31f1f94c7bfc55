//! `churn ingest`: your own users and events.

use std::path::PathBuf;

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::db::{Access, Store};
use crate::error::Result;
use crate::stages::ingest::{self, IngestMode};
use crate::stages::{Ctx, Stage, run_recorded};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Users file (.csv or .parquet, or a folder of Parquet files): user_id,
    /// signup_date, plan [, is_paid, country, marketing_source].
    #[arg(long, required_unless_present = "predictions", requires = "events")]
    pub users: Option<PathBuf>,

    /// Events file (.csv or .parquet, or a folder of Parquet files, e.g.
    /// Hive-partitioned by month): event_id, user_id, event_time, event_type
    /// [, course_id, watch_minutes, quiz_score, amount].
    #[arg(long, required_unless_present = "predictions", requires = "users")]
    pub events: Option<PathBuf>,

    /// Instead: a scored slice another engine wrote (Spark's
    /// `churn sql --dialect spark score`): Parquet with as_of_date, user_id,
    /// model_id, churn_risk (a file, a folder, or an s3:// folder). It
    /// replaces the stored predictions of the same model and dates, ranked
    /// as the score stage ranks, for the API and evaluate.
    #[arg(long, conflicts_with_all = ["users", "events"])]
    pub predictions: Option<String>,

    /// replace: the files become the users and events; append: they are
    /// added, and a user_id or event_id already stored is refused.
    #[arg(long, value_enum, default_value_t = IngestMode::Replace)]
    pub mode: IngestMode,
}

impl IngestArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        let store = Store::open(g.db(), Access::ReadWrite, lock_timeout(&config))?;
        let ctx = Ctx::new(&config, g.show_progress);
        let name = Stage::Ingest.name();
        let load_id = ctx.load_id(name);
        run_recorded(&store, &ctx, name, &[], |conn| {
            match (&self.predictions, &self.users, &self.events) {
                (Some(predictions), _, _) => ingest::predictions(conn, predictions, &load_id),
                (None, Some(users), Some(events)) => ingest::run(conn, users, events, self.mode, &load_id),
                _ => unreachable!("clap requires --users and --events, or --predictions"),
            }
        })?;
        Ok(())
    }
}
