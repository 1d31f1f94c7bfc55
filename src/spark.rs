//! The stage SQL rendered for Spark SQL over a Parquet lake (`churn sql
//! --dialect spark`, docs/design.md §8): each input table a view of its
//! folder, each output built as a view and written back as a folder, so the
//! text runs unchanged in `spark-sql -f`; and the Kubernetes ConfigMap that
//! carries it to the SparkApplications of k8s/spark.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sql::{self, Dialect};
use crate::stages::{Stage, validate};
use crate::store::lake::{self, Manifest};
use crate::store::quote;

/// The stages a static ConfigMap holds: those that read no table of the
/// model. Score and drift read the production model's tables, which
/// `churn export` writes to a folder of each export (`store::lake`): they
/// are rendered after each export of a model, the folders named.
pub const CONFIGMAP_STAGES: [Stage; 5] = [
    Stage::Validate,
    Stage::Prepare,
    Stage::Features,
    Stage::Labels,
    Stage::TrainingSet,
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

/// The error for a stage that renders no SQL, naming those that do.
pub fn no_sql(stage: Stage, config: &Config) -> Error {
    Error::Usage(format!(
        "stage {stage} runs no SQL template; the SQL stages are: {}",
        Stage::with_sql(config)
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A string literal of Spark SQL.
fn literal(s: &str) -> String {
    quote::string_in(Dialect::Spark, s)
}

/// The Spark SQL of a stage over the lake at `lake`: a view per input
/// folder, a view per output built by the stage's template, each output
/// written back to its folder. An input the lake's `manifest` names is read
/// from the folder it names (the export that wrote it), others from
/// `LAKE/<table>`. `drift` holds the rendered drift selects
/// (`stages::drift::render`), used when `stage` is drift.
pub fn render_spark_sql(
    stage: Stage,
    config: &Config,
    lake: &str,
    manifest: Option<&Manifest>,
    drift: Vec<(&'static str, String)>,
) -> Result<String> {
    let ctx = sql::SqlContext::new(config).for_dialect(Dialect::Spark);
    let lake = lake.trim_end_matches('/');
    let exported = |table: &str| manifest.and_then(|m| m.tables.get(table));
    let input = |table: &str| match exported(table) {
        Some(entry) => literal(&lake::join(lake, &entry.path)),
        None => literal(&format!("{lake}/{table}")),
    };
    let folder = |table: &str| literal(&format!("{lake}/{table}"));
    // (view, select, written to the lake)
    let mut views: Vec<(String, String, bool)> = Vec::new();
    match stage {
        Stage::Validate => {
            let mut checks = Vec::new();
            for check in validate::planned(&config.validate.severity) {
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
            let templates = stage.def().templates(config);
            if templates.is_empty() {
                return Err(no_sql(stage, config));
            }
            for t in templates {
                let table = t.table.ok_or_else(|| no_sql(stage, config))?;
                views.push((table.to_string(), sql::render(t.name, &ctx)?, true));
            }
        }
    }
    let mut out = format!(
        "-- churn sql --dialect spark --lake {lake} {stage}\n\
         -- Spark SQL over the Parquet lake {lake}: the inputs are views of their folders;\n\
         -- each output is built as a view, then written over its folder.\n\n"
    );
    if let Some(m) = manifest.filter(|m| {
        stage
            .def()
            .spark_inputs()
            .iter()
            .any(|t| m.tables.contains_key(*t))
    }) {
        out.push_str(&format!(
            "-- Exported inputs are read where {lake}/{} names them (export {}).\n\n",
            lake::MANIFEST,
            m.export_id
        ));
    }
    for table in stage.def().spark_inputs() {
        out.push_str(&format!(
            "create or replace temporary view {table} using parquet options (path {});\n",
            input(table)
        ));
    }
    for (view, select, written) in &views {
        out.push_str(&format!(
            "\ncreate or replace temporary view {view} as\n{select}\n;\n"
        ));
        if *written && let Some(entry) = exported(view) {
            return Err(Error::Usage(format!(
                "{stage} writes {view} to {lake}/{view}, but the lake's manifest ({lake}/{}) names the \
                 folder of export {} for it, which readers follow: Spark's {view} would go unread. Export \
                 only the tables Spark reads (e.g. `churn export --out LAKE users events loads`), or give \
                 Spark a lake of its own",
                lake::MANIFEST,
                entry.export_id
            )));
        }
        if *written {
            out.push_str(&format!(
                "insert overwrite directory {} using parquet\nselect * from {view};\n",
                folder(view)
            ));
        }
    }
    Ok(out)
}
