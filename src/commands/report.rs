//! `churn report`: the HTML report of the file.

use std::path::PathBuf;

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::{Context, Result};
use crate::store::{Access, Store};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The folder to write churn-report-<time>.html into.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,

    /// Print what the page shows as one JSON object on stdout instead of
    /// writing the page (the model cards, promotions, drift, realised
    /// performance, the risk list with its reasons).
    #[arg(long)]
    pub json: bool,
}

impl ReportArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        if self.json {
            let store = Store::open_existing(g.db(), Access::ReadOnly, lock_timeout(&config))?;
            let report = crate::report::gather(&store)?;
            if report.production.is_none() && report.drift.is_none() {
                return Err(crate::error::Error::MissingInput(format!(
                    "{} has no production model and no drift check to report on: run `churn run` first",
                    g.db().display()
                )));
            }
            println!(
                "{}",
                serde_json::to_string(&report).context(|| "report: writing the JSON".into())?
            );
            return Ok(());
        }
        let path = crate::report::write(g.db(), &self.out, lock_timeout(&config))?;
        println!("{}", path.display());
        Ok(())
    }
}
