//! `churn sql [--dialect duckdb|spark] STAGE`: the SQL a stage runs.
//!
//! DuckDB: the statements the stage runs on the file. Spark: the same
//! templates rendered for Spark SQL over a Parquet lake (`crate::spark`).

use clap::Args;

use crate::commands::{Globals, lock_timeout};
use crate::config::{Config, Overrides};
use crate::error::{Context, Error, Result};
use crate::spark::{self, CONFIGMAP_STAGES, render_spark_sql, spark_configmap};
use crate::sql::{self, Dialect};
use crate::stages::{self, Stage};
use crate::store::{Access, Store, lake};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The stages whose SQL to print, in this order (those that run SQL).
    #[arg(value_parser = sql_stages(), required_unless_present = "configmap")]
    pub stages: Vec<Stage>,

    /// The engine to render for.
    #[arg(long, value_enum, default_value_t = Dialect::Duckdb)]
    pub dialect: Dialect,

    /// Spark: the folder or URL of the lake (what `churn export --out`
    /// writes, e.g. s3a://bucket/lake); the stage reads its inputs from it,
    /// those of an export where the lake's _manifest.json names them, and
    /// writes its outputs to LAKE/<table>.
    #[arg(long, required_if_eq("dialect", "spark"))]
    pub lake: Option<String>,

    /// Spark: do not read the lake's manifest; every input at LAKE/<table>,
    /// as a writer other than `churn export` (Spark itself, your own) keeps
    /// them. Renders without access to the lake (a static ConfigMap).
    #[arg(long, requires = "lake")]
    pub ignore_manifest: bool,

    /// The run id the drift SQL writes into its rows (default: spark- and
    /// the time).
    #[arg(long)]
    pub run_id: Option<String>,

    /// Spark: print a Kubernetes ConfigMap of this name holding the SQL, one
    /// key per stage (`prepare.sql`), for the SparkApplications of
    /// k8s/spark: the given stages', or without any every stage that reads
    /// no table of the model (validate through training-set).
    #[arg(long, value_name = "NAME", requires = "lake")]
    pub configmap: Option<String>,
}

/// The stages that run SQL templates, as `churn sql` accepts and lists them.
fn sql_stages() -> impl clap::builder::TypedValueParser<Value = Stage> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = Stage::with_sql(&Config::default())
        .into_iter()
        .map(|s| s.name())
        .collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| Stage::from_name(&name).expect("a stage's own name"))
}

impl SqlArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        if self.configmap.is_some() && self.dialect != Dialect::Spark {
            return Err(Error::Usage(
                "--configmap holds Spark SQL: add --dialect spark".into(),
            ));
        }
        let stages: Vec<Stage> = if self.stages.is_empty() {
            CONFIGMAP_STAGES.to_vec()
        } else {
            self.stages.clone()
        };
        // The lake's manifest, read once for every stage.
        let manifest = match (&self.lake, self.dialect, self.ignore_manifest) {
            (Some(lake), Dialect::Spark, false) => {
                let conn =
                    duckdb::Connection::open_in_memory().context(|| "opening DuckDB in memory".into())?;
                lake::read_manifest(&conn, lake)?
            }
            _ => None,
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
                    render_spark_sql(stage, &config, lake, manifest.as_ref(), drift)?
                }
            };
            rendered.push((stage, text));
        }
        let text = match &self.configmap {
            Some(name) => {
                let made_by = format!(
                    "churn sql --dialect spark --lake {}{} --configmap {name}{}",
                    self.lake.as_deref().unwrap_or_default(),
                    if self.ignore_manifest {
                        " --ignore-manifest"
                    } else {
                        ""
                    },
                    self.stages.iter().map(|s| format!(" {s}")).collect::<String>()
                );
                spark_configmap(name, &made_by, &rendered)
            }
            None => rendered.into_iter().map(|(_, t)| t).collect(),
        };
        print!("{text}");
        Ok(())
    }
}

/// The SQL a stage runs, as `churn sql STAGE` prints it.
pub fn render_stage_sql(stage: Stage, config: &Config) -> Result<String> {
    let ctx = sql::SqlContext::new(config);
    let templates = stage.def().templates(config);
    if templates.is_empty() {
        return Err(spark::no_sql(stage, config));
    }
    let mut out = String::new();
    match stage {
        // The drift templates are rendered at run time with the production
        // model's features and the reference's bin edges: print them raw.
        Stage::Drift => {
            out.push_str(
                "-- drift renders these templates at run time with the production model's features and the\n\
                 -- bins of its training rows (model_reference_bins; drift_bins keeps the bins of each run).\n\n",
            );
            for t in &templates {
                out.push_str(&format!(
                    "-- sql/{}\n{}\n",
                    t.name,
                    sql::source(t.name).unwrap_or_default()
                ));
            }
            return Ok(out);
        }
        Stage::Score => out.push_str(
            "-- The production model in plain SQL, from its rows in model_terms: what Spark runs.\n\
             -- The score stage scores the same model in Rust (src/model), equal to this to 1e-9.\n\n",
        ),
        _ => {}
    }
    for t in templates {
        out.push_str(&format!("-- sql/{}\n", t.name));
        match t.table {
            Some(table) if stage != Stage::Score => out.push_str(&sql::create_table_as(table, t.name, &ctx)?),
            _ => {
                out.push_str(&sql::render(t.name, &ctx)?);
                out.push_str("\n;");
            }
        }
        out.push_str("\n\n");
    }
    Ok(out)
}
