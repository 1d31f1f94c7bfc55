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
    /// Users file (.csv or .parquet): user_id, signup_date, plan
    /// [, is_paid, country, marketing_source].
    #[arg(long)]
    pub users: PathBuf,

    /// Events file (.csv or .parquet): event_id, user_id, event_time, event_type
    /// [, course_id, watch_minutes, quiz_score, amount].
    #[arg(long)]
    pub events: PathBuf,

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
            ingest::run(conn, &self.users, &self.events, self.mode, &load_id)
        })?;
        Ok(())
    }
}
