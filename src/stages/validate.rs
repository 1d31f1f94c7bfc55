//! validate: one SQL check per file under sql/validate/, each returning the
//! offending rows. Results go to `validation_results`; any error-level
//! failure fails the stage (exit 1) after the results are stored.

use std::collections::BTreeMap;

use chrono::Utc;
use duckdb::{Connection, params};

use crate::config::Config;
use crate::config::Severity;
use crate::error::{Context, Error, Result};
use crate::sql::{self, SqlContext};
use crate::stages::{Ctx, Outcome, StageDef, Template};

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub name: String,
    pub severity: String,
    pub description: String,
    pub violations: i64,
    pub sample_json: String,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.violations == 0
    }
}

/// A check to run: its template, name and severity.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub template: &'static str,
    pub name: String,
    pub severity: &'static str,
    pub description: &'static str,
}

/// The names of the checks (`sql/validate/NAME.sql`), in file order.
pub fn check_names() -> impl Iterator<Item = &'static str> {
    sql::names_under("validate/").map(|n| n.trim_start_matches("validate/").trim_end_matches(".sql"))
}

/// Refuses a `[validate] severity.NAME` that names no check (a typo would
/// otherwise leave the intended check at its own severity).
pub fn check_severity_names(severities: &BTreeMap<String, Severity>) -> Result<()> {
    let checks: Vec<&str> = check_names().collect();
    match severities.keys().find(|k| !checks.contains(&k.as_str())) {
        Some(unknown) => Err(Error::Config(format!(
            "validate.severity.{unknown} names no check; the checks are: {}",
            checks.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The checks a validate run makes, in file order: each with its own
/// severity (its file's header) unless `severities` sets another; a check
/// set to "off" is left out. The DuckDB stage and the Spark rendering both
/// run these.
pub fn planned(severities: &BTreeMap<String, Severity>) -> Vec<Planned> {
    sql::names_under("validate/")
        .filter_map(|template| {
            let name = template
                .trim_start_matches("validate/")
                .trim_end_matches(".sql")
                .to_string();
            let severity = match severities.get(&name) {
                Some(Severity::Off) => return None,
                Some(s) => s.as_str(),
                None => sql::header(template, "severity").unwrap_or("error"),
            };
            Some(Planned {
                template,
                name,
                severity,
                description: sql::header(template, "assert").unwrap_or_default(),
            })
        })
        .collect()
}

/// Runs the `planned` checks against `users`, `events` and `loads`.
pub fn check_all(
    conn: &Connection,
    ctx: &SqlContext,
    severities: &BTreeMap<String, Severity>,
) -> Result<Vec<CheckResult>> {
    planned(severities)
        .into_iter()
        .map(
            |Planned {
                 template,
                 name,
                 severity,
                 description,
             }| {
                let check = sql::render(template, ctx)?;
                let violations: i64 = conn
                    .query_row(&format!("select count(*) from (\n{check}\n)"), [], |r| r.get(0))
                    .context(|| format!("validate: running check sql/{template}"))?;
                // A passing check has nothing to sample: skip the second pass
                // (at 100,000 users the event-key check's hash aggregate over
                // every event dominates this stage).
                let sample_json: String = if violations == 0 {
                    "[]".to_string()
                } else {
                    conn.query_row(
                        &format!(
                            "select coalesce(json_group_array(to_json(sample)), '[]')::varchar \
                         from (select * from (\n{check}\n) limit 5) as sample"
                        ),
                        [],
                        |r| r.get(0),
                    )
                    .context(|| format!("validate: sampling check sql/{template}"))?
                };
                Ok(CheckResult {
                    name,
                    severity: severity.to_string(),
                    description: description.to_string(),
                    violations,
                    sample_json,
                })
            },
        )
        .collect()
}

pub fn run(
    conn: &Connection,
    ctx: &SqlContext,
    severities: &BTreeMap<String, Severity>,
    run_id: &str,
) -> Result<Outcome> {
    let results = check_all(conn, ctx, severities)?;
    conn.execute_batch("delete from validation_results")
        .context(|| "validate: clearing validation_results".into())?;
    let checked_at = Utc::now().naive_utc();
    for r in &results {
        conn.execute(
            "insert into validation_results values (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                run_id,
                checked_at,
                r.name,
                r.severity,
                r.description,
                r.violations,
                r.passed(),
                r.sample_json
            ],
        )
        .context(|| "validate: storing validation_results".into())?;
    }

    let failed: Vec<&CheckResult> = results.iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        println!(
            "{:<36} {:<8} {:>10}  assertion",
            "check", "severity", "violations"
        );
        for r in &failed {
            println!(
                "{:<36} {:<8} {:>10}  {}",
                r.name, r.severity, r.violations, r.description
            );
        }
    }
    let errors: Vec<String> = failed
        .iter()
        .filter(|r| r.severity == "error")
        .map(|r| format!("{} ({} rows)", r.name, r.violations))
        .collect();
    let failure = (!errors.is_empty()).then(|| {
        Error::ValidationFailed(format!(
            "{} error-level check(s) failed: {}. Sample rows are in table validation_results \
             (select * from validation_results where not passed); fix the input data and rerun",
            errors.len(),
            errors.join(", ")
        ))
    });
    let warnings = failed.len() - errors.len();
    Ok(Outcome {
        rows_out: results.len() as i64,
        params: serde_json::json!({"checks": results.len()}),
        failure,
        summary: format!(
            "{} checks, {} passed, {} error(s), {} warning(s)",
            results.len(),
            results.len() - failed.len(),
            errors.len(),
            warnings
        ),
    })
}

/// The validate stage (docs/design.md §1): every check of `sql/validate/`
/// not turned off, its violations stored in `validation_results`.
#[derive(Debug, Default)]
pub struct Validate;

impl StageDef for Validate {
    fn name(&self) -> &'static str {
        "validate"
    }

    fn writes(&self) -> &'static [&'static str] {
        &["validation_results"]
    }

    fn templates(&self, config: &Config) -> Vec<Template> {
        planned(&config.validate.severity)
            .into_iter()
            .map(|c| Template::select(c.template))
            .collect()
    }

    fn spark_inputs(&self) -> &'static [&'static str] {
        &["users", "events", "loads"]
    }

    fn invalidated_by(&self) -> &'static [&'static str] {
        &["users", "events"]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, &ctx.sql(), &ctx.config.validate.severity, &ctx.run_id)
    }
}
