//! `churn generate`: the generate stage on its own, or `--append-days`.

use chrono::NaiveDate;
use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::Result;
use crate::stages::generate::Generate;
use crate::stages::{Ctx, run_def};
use crate::store::{Access, Store};

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
        let ctx = Ctx::new(&config, g.show_progress);
        run_def(
            &store,
            &ctx,
            &Generate {
                append_days: self.append_days,
            },
        )?;
        Ok(())
    }
}

/// Flags of the generate stage that override config values.
#[derive(Debug, Clone, Default, Args)]
pub struct SimArgs {
    /// generate: number of users (overrides generate.users).
    #[arg(long)]
    pub users: Option<u32>,

    /// generate: number of days (overrides generate.days).
    #[arg(long)]
    pub days: Option<u32>,

    /// generate: first simulated day, YYYY-MM-DD (overrides generate.start_date).
    #[arg(long)]
    pub start_date: Option<NaiveDate>,

    /// generate: random seed (overrides generate.seed).
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SimArgs {
    /// The flags as config overrides (the highest precedence).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            users: self.users,
            days: self.days,
            start_date: self.start_date,
            seed: self.seed,
        }
    }
}
