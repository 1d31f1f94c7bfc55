//! `churn train [--training-set PATH_OR_GLOB] [--promote]`: the train stage
//! alone (and the promotion gate), from the table `training_set` or from
//! Parquet files another engine wrote (Spark's `training-set` stage).

use clap::Args;

use crate::commands::Globals;
use crate::commands::run::{RunArgs, run_pipeline};
use crate::error::Result;
use crate::stages::Stage;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Read the training set from these Parquet files (a folder, a file or a
    /// glob, local or s3://) instead of the table training_set.
    #[arg(long, value_name = "PATH_OR_GLOB")]
    pub training_set: Option<String>,

    /// Then run the promotion gate on the new model (as `churn run --stage
    /// train --stage promote`).
    #[arg(long)]
    pub promote: bool,
}

impl TrainArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let mut stages = vec![Stage::Train];
        if self.promote {
            stages.push(Stage::Promote);
        }
        let args = RunArgs {
            stages,
            training_set: self.training_set.clone(),
            ..RunArgs::default()
        };
        let config = g.config(&args.sim.overrides())?;
        run_pipeline(g.db(), &config, &args, g.show_progress)
    }
}
