//! `churn ingest`: your own users and events.

use std::path::PathBuf;

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::Result;
use crate::stages::ingest::{self, IngestMode, Source};
use crate::stages::{Ctx, run_def};
use crate::store::{Access, Store};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Users file (.csv or .parquet, or a folder of Parquet files): user_id,
    /// signup_date, plan [, is_paid, country, marketing_source].
    #[arg(long, required_unless_present_any = ["predictions", "transactions"], requires = "events")]
    pub users: Option<PathBuf>,

    /// Events file (.csv or .parquet, or a folder of Parquet files, e.g.
    /// Hive-partitioned by month): event_id, user_id, event_time, event_type
    /// [, course_id, watch_minutes, quiz_score, amount].
    #[arg(long, required_unless_present_any = ["predictions", "transactions"], requires = "users")]
    pub events: Option<PathBuf>,

    /// Instead: a scored slice another engine wrote (Spark's
    /// `churn sql --dialect spark score`): Parquet with as_of_date, user_id,
    /// model_id, churn_risk (a file, a folder, or an s3:// folder). It
    /// replaces the stored predictions of the same model and dates, ranked
    /// as the score stage ranks, for the API and evaluate.
    #[arg(long, conflicts_with_all = ["users", "events", "transactions"])]
    pub predictions: Option<String>,

    /// Instead: a bare purchase log (.csv or .parquet), one row per
    /// purchase. It replaces users and events: each row a payment_success
    /// event, each user signed up on the day of their first purchase (plan
    /// paid, country and source unknown).
    #[arg(long, conflicts_with_all = ["users", "events"], requires_all = ["user_col", "time_col"])]
    pub transactions: Option<PathBuf>,

    /// --transactions: the column naming the customer.
    #[arg(long, requires = "transactions")]
    pub user_col: Option<String>,

    /// --transactions: the column holding the purchase's date or time.
    #[arg(long, requires = "transactions")]
    pub time_col: Option<String>,

    /// --transactions: the column holding the amount paid (optional).
    #[arg(long, requires = "transactions")]
    pub amount_col: Option<String>,

    /// --transactions: the time column's strptime format, e.g. %Y%m%d
    /// (default: ISO dates or timestamps).
    #[arg(long, requires = "transactions")]
    pub time_format: Option<String>,

    /// replace: the files become the users and events; append: they are
    /// added, and a user_id or event_id already stored is refused.
    #[arg(long, value_enum, default_value_t = ModeArg::Replace)]
    pub mode: ModeArg,
}

impl IngestArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        if self.transactions.is_some() && self.mode == ModeArg::Append {
            return Err(crate::error::Error::Usage(
                "--transactions replaces users and events; --mode append is for --users and --events files"
                    .into(),
            ));
        }
        let source = match (&self.predictions, &self.transactions, &self.users, &self.events) {
            (Some(predictions), _, _, _) => Source::Predictions(predictions.clone()),
            (None, Some(file), _, _) => Source::Transactions(ingest::Transactions {
                file: file.clone(),
                user_col: self.user_col.clone().expect("clap requires --user-col"),
                time_col: self.time_col.clone().expect("clap requires --time-col"),
                amount_col: self.amount_col.clone(),
                time_format: self.time_format.clone(),
            }),
            (None, None, Some(users), Some(events)) => Source::Files {
                users: users.clone(),
                events: events.clone(),
                mode: match self.mode {
                    ModeArg::Replace => IngestMode::Replace,
                    ModeArg::Append => IngestMode::Append,
                },
            },
            _ => unreachable!("clap requires --users and --events, --transactions or --predictions"),
        };
        let store = Store::open(g.db(), Access::ReadWrite, lock_timeout(&config))?;
        let ctx = Ctx::new(&config, g.show_progress);
        run_def(&store, &ctx, &ingest::Ingest { source: Some(source) })?;
        Ok(())
    }
}

/// `--mode`: replace the stored users and events, or add to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Replace,
    Append,
}
