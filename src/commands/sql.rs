//! `churn sql STAGE`: the SQL a stage runs.

use clap::Args;

use crate::commands::Globals;
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};
use crate::sql;
use crate::stages::{self, Stage};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The stage whose SQL to print.
    #[arg(value_enum)]
    pub stage: Stage,
}

impl SqlArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        print!("{}", render_stage_sql(self.stage, &config)?);
        Ok(())
    }
}

/// The SQL a stage runs, as `churn sql STAGE` prints it.
pub fn render_stage_sql(stage: Stage, config: &Config) -> Result<String> {
    let ctx = sql::SqlContext::new(config);
    if stage == Stage::Drift {
        // The drift templates are rendered at run time with the production
        // model's features and the reference's bin edges: print them raw.
        let mut out = String::from(
            "-- drift renders these templates at run time with the production model's features and the\n\
             -- bins of its training rows (model_reference_bins; drift_bins keeps the bins of each run).\n\n",
        );
        for name in sql::names_under("drift/") {
            out.push_str(&format!(
                "-- sql/{name}\n{}\n",
                sql::source(name).unwrap_or_default()
            ));
        }
        return Ok(out);
    }
    let templates = stage.templates();
    if templates.is_empty() {
        return Err(Error::Usage(format!(
            "stage {stage} runs no SQL template; the SQL stages are: {}",
            stages::DEFAULT_PIPELINE
                .iter()
                .filter(|s| !s.templates().is_empty())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut out = String::new();
    for (table, name) in templates {
        out.push_str(&format!("-- sql/{name}\n"));
        match table {
            Some(table) => out.push_str(&sql::create_table_as(table, name, &ctx)?),
            None => {
                out.push_str(&sql::render(name, &ctx)?);
                out.push_str("\n;");
            }
        }
        out.push_str("\n\n");
    }
    Ok(out)
}
