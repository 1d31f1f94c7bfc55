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
use crate::store::status::LoadVerdict;
use crate::stages::{Ctx, Outcome, StageDef, Template, incremental};

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
                let started = std::time::Instant::now();
                let violations: i64 = conn
                    .query_row(&format!("select count(*) from (\n{check}\n)"), [], |r| r.get(0))
                    .context(|| format!("validate: running check sql/{template}"))?;
                tracing::debug!(check = %name, violations, seconds = started.elapsed().as_secs_f64(), "checked");
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
    if !failed.is_empty() && crate::console::detail() {
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
        let examples: Vec<String> = failed
            .iter()
            .filter(|r| r.severity == "error")
            .map(|r| format!("{}: {}", r.name, first_rows(&r.sample_json, 3)))
            .collect();
        let first = failed.iter().find(|r| r.severity == "error").map_or("", |r| r.name.as_str());
        Error::ValidationFailed(format!(
            "{} error-level check(s) failed: {}. First rows: {}. Fix the data (all sampled rows: select * \
             from validation_results where not passed), or, when such rows are expected in your data, lower \
             the check in the config: [validate] severity.{first} = \"warn\" (stored and shown, the run \
             goes on) or \"off\"",
            errors.len(),
            errors.join(", "),
            examples.join("; ")
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

/// The first `n` sampled rows of a check, as compact JSON objects.
fn first_rows(sample_json: &str, n: usize) -> String {
    match serde_json::from_str::<Vec<serde_json::Value>>(sample_json) {
        Ok(rows) if !rows.is_empty() => rows
            .iter()
            .take(n)
            .map(serde_json::Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "(none sampled)".into(),
    }
}

/// The stage's work (docs/design.md §9): checks the rows of the loads it
/// has not checked yet (generate and ingest loads, and rows without a
/// load), a key of theirs looked up among every row, and records its
/// verdict on each in `load_checks`: refused when an error-level check
/// fails, and then prepare leaves their events out. The first time, with
/// `--full`, and when a check or a severity changed since the last run,
/// every row is checked and every load given the verdict.
pub fn check_new_loads(conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
    let base = ctx.sql();
    let severities = &ctx.config.validate.severity;
    let mut checks = String::new();
    for check in planned(severities) {
        checks.push_str(&format!("-- {} {}\n", check.name, check.severity));
        checks.push_str(&sql::render(check.template, &base)?);
    }
    let definition = incremental::definition(conn, &checks)?;
    let changed = incremental::read(conn, "load_checks")?.is_none_or(|w| w.definition != definition);
    let checked_before: i64 = conn
        .query_row(
            "select count(*) from load_checks where load_id in (select load_id from loads)",
            [],
            |r| r.get(0),
        )
        .context(|| "validate: reading load_checks".into())?;
    let whole = ctx.rebuild || checked_before == 0 || changed;
    let unchecked = if whole {
        "select load_id from loads where stage in ('generate', 'ingest')"
    } else {
        "select load_id from loads where stage in ('generate', 'ingest') \
         and load_id not in (select load_id from load_checks)"
    };
    conn.execute_batch(&format!(
        "create or replace temp table _unchecked as {unchecked}; \
         delete from load_checks where load_id in (select load_id from _unchecked);"
    ))
    .context(|| "validate: listing the loads to check".into())?;
    let sql_ctx = if whole {
        base
    } else {
        // Two scans, not one with `or`: a semi join and an is-null filter
        // each skip most of the table, an `or` of them reads all of it (at
        // 100,000 users, 0.4 s instead of 1.9 s).
        conn.execute_batch(
            "create or replace temp table _checked_events as \
                 select * from events semi join _unchecked using (load_id) \
                 union all select * from events where load_id is null; \
             create or replace temp table _checked_users as \
                 select * from users semi join _unchecked using (load_id) \
                 union all select * from users where load_id is null;",
        )
        .context(|| "validate: reading the new loads".into())?;
        SqlContext {
            checked_events: "_checked_events",
            checked_users: "_checked_users",
            ..base
        }
    };
    let mut out = run(conn, &sql_ctx, severities, &ctx.run_id)?;
    incremental::write(
        conn,
        &incremental::Watermark {
            table: "load_checks".into(),
            definition,
            ..Default::default()
        },
        &ctx.run_id,
    )?;
    let verdict = if out.failure.is_some() {
        LoadVerdict::Refused
    } else {
        LoadVerdict::Passed
    };
    let loads: Vec<String> = {
        let mut stmt = conn
            .prepare("select load_id from _unchecked order by 1")
            .context(|| "validate: listing the loads checked".into())?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .context(|| "validate: listing the loads checked".into())?
    };
    conn.execute(
        "insert into load_checks select load_id, ?, ?, now()::timestamp from _unchecked",
        params![ctx.run_id, verdict],
    )
    .context(|| "validate: recording the verdicts in load_checks".into())?;
    if let Some(Error::ValidationFailed(message)) = &out.failure {
        out.failure = Some(Error::ValidationFailed(format!(
            "{message}. Refused load(s) {}: their events stay in events but are left out of user_daily and \
             every table after it; after a change of a check's severity validate checks every load again",
            loads.join(", ")
        )));
    }
    out.params = serde_json::json!({
        "checks": out.rows_out,
        "scope": if whole { "every row" } else { "new loads" },
        "loads": loads,
        "verdict": verdict,
    });
    out.summary = format!(
        "{} ({} of {} load(s){})",
        out.summary,
        if whole { "every row" } else { "the rows" },
        loads.len(),
        if verdict == LoadVerdict::Refused { ", refused" } else { "" }
    );
    Ok(out)
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
        check_new_loads(conn, ctx)
    }
}
