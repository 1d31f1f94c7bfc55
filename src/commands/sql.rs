//! `churn sql [--dialect duckdb|spark] STAGE`: the SQL a stage runs.
//!
//! DuckDB: the statements the stage runs on the file. Spark: the same
//! templates rendered for Spark SQL over a Parquet lake (`churn export`):
//! each input table a view of its folder, each output table written back as
//! a folder, so the text runs unchanged in `spark-sql -f`.

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::{Config, Overrides};
use crate::db::{Access, Store};
use crate::error::{Error, Result};
use crate::sql::{self, Dialect};
use crate::stages::{self, Stage};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The stage whose SQL to print.
    #[arg(value_enum, required_unless_present = "configmap")]
    pub stage: Option<Stage>,

    /// The engine to render for.
    #[arg(long, value_enum, default_value_t = Dialect::Duckdb)]
    pub dialect: Dialect,

    /// Spark: the folder or URL holding one Parquet folder per table (what
    /// `churn export --out` writes, e.g. s3a://bucket/lake); the stage reads
    /// its inputs from it and writes its outputs to it.
    #[arg(long, required_if_eq("dialect", "spark"))]
    pub lake: Option<String>,

    /// The run id the drift SQL writes into its rows (default: spark- and
    /// the time).
    #[arg(long)]
    pub run_id: Option<String>,

    /// Spark: print a Kubernetes ConfigMap of this name holding the SQL, one
    /// key per stage (`prepare.sql`), for the SparkApplications of
    /// k8s/spark: the given stage's, or without one every stage that needs
    /// no model (validate through training-set, and score).
    #[arg(long, value_name = "NAME", requires = "lake")]
    pub configmap: Option<String>,
}

/// The stages a static ConfigMap holds: drift is rendered after each model,
/// from its reference profile.
pub const CONFIGMAP_STAGES: [Stage; 6] = [
    Stage::Validate,
    Stage::Prepare,
    Stage::Features,
    Stage::Labels,
    Stage::TrainingSet,
    Stage::Score,
];

/// A ConfigMap named `name` with the Spark SQL of each `(stage, sql)`, as
/// YAML; `made_by` is the command that printed it.
pub fn spark_configmap(name: &str, made_by: &str, entries: &[(Stage, String)]) -> String {
    let mut out = format!(
        "# Made by `{made_by}`, with the\n\
         # pipeline's churn.toml: do not edit; render it again for another lake or config.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: churn\n  labels:\n    \
         app.kubernetes.io/name: churn\n    app.kubernetes.io/component: spark-sql\n    \
         app.kubernetes.io/part-of: churn\ndata:\n"
    );
    for (stage, sql) in entries {
        out.push_str(&format!("  {stage}.sql: |\n"));
        for line in sql.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out
}

impl SqlArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        if self.configmap.is_some() && self.dialect != Dialect::Spark {
            return Err(Error::Usage(
                "--configmap holds Spark SQL: add --dialect spark".into(),
            ));
        }
        let stages: Vec<Stage> = match self.stage {
            Some(stage) => vec![stage],
            None => CONFIGMAP_STAGES.to_vec(),
        };
        let mut rendered = Vec::new();
        for stage in stages {
            let text = match self.dialect {
                Dialect::Duckdb => render_stage_sql(stage, &config)?,
                Dialect::Spark => {
                    let lake = self
                        .lake
                        .as_deref()
                        .expect("clap requires --lake with --dialect spark");
                    let drift = if stage == Stage::Drift {
                        // The drift SQL bins by the production model's
                        // reference profile, kept in the registry.
                        let store = Store::open_existing(g.db(), Access::ReadOnly, lock_timeout(&config))?;
                        let run_id = self.run_id.clone().unwrap_or_else(|| {
                            format!("spark-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
                        });
                        stages::drift::render(&store.conn, &config, &run_id, Dialect::Spark)?
                    } else {
                        Vec::new()
                    };
                    render_spark_sql(stage, &config, lake, drift)?
                }
            };
            rendered.push((stage, text));
        }
        let text = match &self.configmap {
            Some(name) => {
                let made_by = format!(
                    "churn sql --dialect spark --lake {} --configmap {name}{}",
                    self.lake.as_deref().unwrap_or_default(),
                    self.stage.map(|s| format!(" {s}")).unwrap_or_default()
                );
                spark_configmap(name, &made_by, &rendered)
            }
            None => rendered.into_iter().map(|(_, t)| t).collect(),
        };
        print!("{text}");
        Ok(())
    }
}

fn no_sql(stage: Stage) -> Error {
    Error::Usage(format!(
        "stage {stage} runs no SQL template; the SQL stages are: {}",
        stages::DEFAULT_PIPELINE
            .iter()
            .filter(|s| !s.templates().is_empty() || **s == Stage::Drift)
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    ))
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
    let templates = match stage {
        // The checks the run makes: "off" ones left out.
        Stage::Validate => stages::validate::planned(&config.validate.severity)
            .into_iter()
            .map(|c| (None, c.template))
            .collect(),
        _ => stage.templates(),
    };
    if templates.is_empty() {
        return Err(no_sql(stage));
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

/// The tables a stage's Spark SQL reads from the lake.
fn spark_inputs(stage: Stage) -> &'static [&'static str] {
    match stage {
        Stage::Validate => &["users", "events", "loads"],
        Stage::Prepare => &["users", "events"],
        Stage::Features | Stage::Labels => &["user_daily"],
        Stage::TrainingSet => &["user_features_daily", "labels_daily"],
        Stage::Score => &["user_features_daily", "production_model", "model_terms"],
        Stage::Drift => &["user_features_daily", "predictions", "model_reference_bins"],
        _ => &[],
    }
}

/// A string literal of Spark SQL.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The Spark SQL of a stage over the lake at `lake`: a view per input
/// folder, a view per output built by the stage's template, each output
/// written back to its folder. `drift` holds the rendered drift selects
/// (`stages::drift::render`), used when `stage` is drift.
pub fn render_spark_sql(
    stage: Stage,
    config: &Config,
    lake: &str,
    drift: Vec<(&'static str, String)>,
) -> Result<String> {
    let ctx = sql::SqlContext::new(config).for_dialect(Dialect::Spark);
    let lake = lake.trim_end_matches('/');
    let folder = |table: &str| literal(&format!("{lake}/{table}"));
    // (view, select, written to the lake)
    let mut views: Vec<(String, String, bool)> = Vec::new();
    match stage {
        Stage::Validate => {
            let mut checks = Vec::new();
            for check in stages::validate::planned(&config.validate.severity) {
                checks.push(format!(
                    "select\n    {} as check_name,\n    {} as severity,\n    {} as description,\n    \
                     count(*) as violations,\n    count(*) = 0 as passed\nfrom (\n{}\n) as failing",
                    literal(&check.name),
                    literal(check.severity),
                    literal(check.description),
                    sql::render(check.template, &ctx)?
                ));
            }
            views.push(("validation_results".into(), checks.join("\nunion all\n"), true));
        }
        Stage::Drift => {
            for (table, select) in drift {
                let written = matches!(table, "drift_bins" | "drift_results");
                views.push((table.to_string(), select, written));
            }
        }
        Stage::Score => {
            views.push((
                "predictions".into(),
                sql::render("scoring/score.sql", &ctx)?,
                true,
            ));
        }
        _ => {
            let templates = stage.templates();
            if templates.is_empty() {
                return Err(no_sql(stage));
            }
            for (table, name) in templates {
                let table = table.ok_or_else(|| no_sql(stage))?;
                views.push((table.to_string(), sql::render(name, &ctx)?, true));
            }
        }
    }
    let mut out = format!(
        "-- churn sql --dialect spark --lake {lake} {stage}\n\
         -- Spark SQL over the Parquet lake {lake}: the inputs are views of their folders;\n\
         -- each output is built as a view, then written over its folder.\n\n"
    );
    for input in spark_inputs(stage) {
        out.push_str(&format!(
            "create or replace temporary view {input} using parquet options (path {});\n",
            folder(input)
        ));
    }
    for (view, select, written) in &views {
        out.push_str(&format!(
            "\ncreate or replace temporary view {view} as\n{select}\n;\n"
        ));
        if *written {
            out.push_str(&format!(
                "insert overwrite directory {} using parquet\nselect * from {view};\n",
                folder(view)
            ));
        }
    }
    Ok(out)
}
