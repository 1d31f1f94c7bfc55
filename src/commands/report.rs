//! `churn report`: the HTML report of the file.

use std::path::PathBuf;

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The folder to write churn-report-<time>.html into.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

impl ReportArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        let path = crate::report::write(g.db(), &self.out, lock_timeout(&config))?;
        println!("{}", path.display());
        Ok(())
    }
}
