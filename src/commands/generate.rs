//! `churn generate`: the generate stage on its own, or `--append-days`.

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::db::{Access, Store};
use crate::error::Result;
use crate::stages::generate::SimArgs;
use crate::stages::{Ctx, Stage, run_stage};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub sim: SimArgs,

    /// Continue the simulation in the database for this many more days
    /// instead of replacing it: the same users keep their hidden state, new
    /// users sign up at the original rate, [generate.drift] applies.
    #[arg(long, conflicts_with_all = ["users", "days", "start_date", "seed"])]
    pub append_days: Option<u32>,
}

impl GenerateArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&self.sim.overrides())?;
        let store = match self.append_days {
            Some(_) => Store::open_existing(g.db(), Access::ReadWrite, lock_timeout(&config))?,
            None => Store::open(g.db(), Access::ReadWrite, lock_timeout(&config))?,
        };
        let ctx = Ctx {
            append_days: self.append_days,
            ..Ctx::new(&config, g.show_progress)
        };
        run_stage(&store, &ctx, Stage::Generate)?;
        Ok(())
    }
}
