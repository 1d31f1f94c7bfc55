//! drift: the Population Stability Index of every input of the production
//! model (and of its score) between the model's training rows (reference)
//! and the population it scored last (current), as templated SQL
//! (`sql/drift/*.sql`, docs/design.md §4).
//!
//! The reference side is a profile of the model's training rows, binned
//! once and stored with the model (`model_reference_bins`, written by train
//! and retrain; built here from `training_set` for a model without one), so
//! a check reads only the current population. Numeric features:
//! `drift.bins` quantile bins of the reference (numpy's linear
//! interpolation to the last bit, duplicate edges merged), bin k holding
//! edge(k-1) < x <= edge(k), the outer bins open to -inf/+inf and NULL its
//! own bin. DuckDB's `quantile_cont` is not used for the edges: it rounds
//! `a*(1-g) + a*g` away from `a` between equal neighbours, which moves rows
//! lying on an edge into the next bin. Categorical features: one bin per
//! category, unseen categories and NULL included. The current sample is
//! binned and PSI computed by `sql/drift/*.sql`: shares clipped at 1e-4,
//! PSI = sum (cur - ref) * ln(cur / ref).

use std::path::Path;

use chrono::{NaiveDate, Utc};
use duckdb::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::model::frame::Rows;
use crate::model::profile::{ReferenceBin, reference_profile, reference_rows};
use crate::sql;
use crate::stages::{Ctx, Outcome, StageDef, Template};
use crate::store;
use crate::store::drift::{DriftRun, FeatureDrift};
use crate::store::frames::{load, numeric_features};
use crate::store::models::{self, ModelRow};
use crate::store::models::{load_reference, store_reference};
use crate::store::quote;
use crate::store::status::Verdict;

/// Shares below this are raised to it, so an empty bin has a finite PSI term.
pub const MIN_SHARE: f64 = 1e-4;

#[derive(Debug, Clone, Serialize)]
struct Bin {
    bin: i32,
    /// SQL literal of the bin's upper bound (lower < x <= upper).
    upper: String,
}

#[derive(Debug, Clone, Serialize)]
struct NumericFeature {
    name: String,
    bins: Vec<Bin>,
}

/// The values the drift templates are rendered with.
#[derive(Debug, Clone, Serialize, Default)]
struct DriftSql {
    dialect: sql::Dialect,
    run_id: String,
    model_id: String,
    /// The scored date of the current sample; none: the latest date the
    /// model scored (what the Spark rendering reads from the lake).
    current_date: Option<String>,
    n_bins: u32,
    reference_rows: i64,
    numeric: Vec<NumericFeature>,
    categorical: Vec<String>,
    min_share: String,
    warn_psi: f64,
    fail_psi: f64,
}

/// What to measure: the current sample (table `drift_current`) against the
/// reference profile stored for (`model_id`, `n_bins`) in
/// `model_reference_bins`, whose bins are `reference`.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub run_id: String,
    pub model_id: String,
    pub n_bins: u32,
    pub reference: &'a [ReferenceBin],
    pub warn_psi: f64,
    pub fail_psi: f64,
}

/// The check as `--json` writes it: its `drift_runs` row and the results
/// of every input.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    #[serde(flatten)]
    pub run: DriftRun,
    pub features: Vec<FeatureDrift>,
}

/// The date the production model last scored, and a warning when features
/// reach further than that.
fn current_date(conn: &Connection, production: &ModelRow) -> Result<NaiveDate> {
    let scored: Option<NaiveDate> = conn
        .query_row(
            "select max(as_of_date) from predictions where model_id = ?",
            [&production.model_id],
            |r| r.get(0),
        )
        .context(|| "drift: reading the scored dates".into())?;
    let Some(scored) = scored else {
        return Err(Error::MissingInput(format!(
            "drift compares the population scored by the production model {} with its training rows, and it \
             has scored nothing yet: run `churn run --stage score` first",
            production.model_id
        )));
    };
    let latest: Option<NaiveDate> = conn
        .query_row("select max(as_of_date) from user_features_daily", [], |r| {
            r.get(0)
        })
        .unwrap_or(None);
    if let Some(latest) = latest.filter(|&d| d > scored) {
        tracing::warn!(
            "drift checks the population scored on {scored}, but features reach {latest}: run \
             `churn run --stage score` first to check the newest data"
        );
    }
    Ok(scored)
}

/// Builds the production model's reference profile from its training rows
/// in `training_set`, for a model stored without one (or with another
/// `drift.bins`).
fn profile_from_training_set(
    conn: &Connection,
    production: &ModelRow,
    model: &crate::model::Model,
    n_bins: u32,
) -> Result<Vec<ReferenceBin>> {
    let available = numeric_features(conn, "training_set")?;
    let wanted = model.numeric_features();
    let missing: Vec<&String> = wanted.iter().filter(|f| !available.contains(f)).collect();
    if !missing.is_empty() {
        return Err(Error::MissingInput(format!(
            "model {} reads columns that training_set lacks: {}; rebuild the training set with the windows \
             the model was trained on (`churn run --from features --to training-set`)",
            production.model_id,
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let rows = Rows::Dates(vec![(production.train_from, production.train_to)]);
    let frame = load(conn, "training_set", &rows, &wanted, false)?;
    if frame.is_empty() {
        return Err(Error::MissingInput(format!(
            "the training rows of the production model {} ({} to {}) are no longer in training_set: rebuild it \
             with `churn run --from prepare --to training-set`, or train and promote a model on the current data",
            production.model_id, production.train_from, production.train_to
        )));
    }
    let rows: Vec<usize> = (0..frame.len()).collect();
    let scores = model.predict(&frame, &rows);
    reference_profile(model, &frame, &rows, &scores, n_bins)
}

/// Bins the current sample (table `drift_current`) as the reference profile
/// of `spec` bins its training rows, writes the bins and per-feature PSI of
/// `spec.run_id` to `drift_bins` and `drift_results`, and returns the
/// results, largest PSI first.
pub fn measure(conn: &Connection, spec: &Spec<'_>) -> Result<Vec<FeatureDrift>> {
    let ctx = bins_sql(spec, sql::Dialect::Duckdb)?;
    execute(
        conn,
        "drift/binned.sql",
        "create or replace temp table drift_binned as",
        &ctx,
    )?;
    execute(conn, "drift/bins.sql", "insert into drift_bins", &ctx)?;
    execute(conn, "drift/results.sql", "insert into drift_results", &ctx)?;
    conn.execute_batch("drop table drift_binned")
        .context(|| "drift: dropping drift_binned".into())?;
    store::drift::results(conn, &spec.run_id)
}

/// The template values that bin the current sample by `spec`'s reference.
fn bins_sql(spec: &Spec<'_>, dialect: sql::Dialect) -> Result<DriftSql> {
    let mut numeric: Vec<NumericFeature> = Vec::new();
    let mut categorical: Vec<String> = Vec::new();
    for b in spec.reference {
        if b.kind == "categorical" {
            if categorical.last() != Some(&b.feature) {
                categorical.push(b.feature.clone());
            }
            continue;
        }
        if numeric.last().map(|f| &f.name) != Some(&b.feature) {
            numeric.push(NumericFeature {
                name: b.feature.clone(),
                bins: Vec::new(),
            });
        }
        if let (Some(upper), true) = (b.upper, b.bin > 0) {
            let f = numeric.last_mut().expect("pushed above");
            f.bins.push(Bin {
                bin: b.bin,
                upper: quote::double(upper),
            });
        }
    }
    for f in &mut numeric {
        f.bins.sort_by_key(|b| b.bin);
    }
    categorical.dedup();
    Ok(DriftSql {
        dialect,
        run_id: quote::string_in(dialect, &spec.run_id),
        model_id: quote::string_in(dialect, &spec.model_id),
        n_bins: spec.n_bins,
        reference_rows: reference_rows(spec.reference)?,
        numeric,
        categorical,
        min_share: format!("{MIN_SHARE:?}"),
        warn_psi: spec.warn_psi,
        fail_psi: spec.fail_psi,
        ..DriftSql::default()
    })
}

/// The drift check of the production model rendered for `dialect`, as
/// (table, select) in order: `drift_current`, `drift_binned`, `drift_bins`,
/// `drift_results` (what `churn sql --dialect spark drift` prints). The
/// reference profile comes from the registry; the current sample is the
/// latest date the model scored, in the engine that runs the SQL.
pub fn render(
    conn: &Connection,
    config: &Config,
    run_id: &str,
    dialect: sql::Dialect,
) -> Result<Vec<(&'static str, String)>> {
    let production = models::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "the drift SQL bins by the production model's reference profile and there is no production model: \
             run `churn run --to promote` first"
                .into(),
        )
    })?;
    let d = &config.drift;
    let reference = load_reference(conn, &production.model_id, d.bins)?;
    if reference.is_empty() {
        return Err(Error::MissingInput(format!(
            "model {} has no reference profile of {} bins: retrain it, or run `churn run --stage drift` once to \
             build it from its training rows",
            production.model_id, d.bins
        )));
    }
    let spec = Spec {
        run_id: run_id.to_string(),
        model_id: production.model_id.clone(),
        n_bins: d.bins,
        reference: &reference,
        warn_psi: d.warn_psi,
        fail_psi: d.fail_psi,
    };
    let ctx = bins_sql(&spec, dialect)?;
    Ok(vec![
        ("drift_current", sql::render_with("drift/current.sql", &ctx)?),
        ("drift_binned", sql::render_with("drift/binned.sql", &ctx)?),
        ("drift_bins", sql::render_with("drift/bins.sql", &ctx)?),
        ("drift_results", sql::render_with("drift/results.sql", &ctx)?),
    ])
}

fn execute(conn: &Connection, template: &str, prefix: &str, ctx: &DriftSql) -> Result<()> {
    let text = format!("{prefix}\n{}", sql::render_with(template, ctx)?);
    conn.execute_batch(&text)
        .context(|| format!("drift: running sql/{template}"))
}

/// Prints the features sorted by PSI.
fn print_report(report: &DriftReport) {
    println!(
        "drift of {} ({}): reference {} rows ({} to {}), current {} rows (scored {})",
        report.run.model_id,
        report.run.status,
        report.run.reference_rows,
        report.run.reference_from,
        report.run.reference_to,
        report.run.current_rows,
        report.run.current_as_of
    );
    println!("{:<28} {:<12} {:>10}  status", "feature", "kind", "psi");
    for f in &report.features {
        println!("{:<28} {:<12} {:>10.4}  {}", f.feature, f.kind, f.psi, f.status);
    }
}

fn write_json(path: &Path, report: &DriftReport) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            context: format!("drift: creating {}", dir.display()),
            source,
        })?;
    }
    let text = serde_json::to_string_pretty(report).expect("report serializes");
    std::fs::write(path, text).map_err(|source| Error::Io {
        context: format!("drift: writing {}", path.display()),
        source,
    })
}

pub fn run(conn: &Connection, config: &Config, run_id: &str, json: Option<&Path>) -> Result<Outcome> {
    let _memory = crate::store::leave_memory_to_rust(conn, "drift");
    let production = models::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "drift checks the production model's inputs and there is no production model: run \
             `churn run --to score` first"
                .into(),
        )
    })?;
    let model = models::load(conn, &production.model_id)?;
    let current = current_date(conn, &production)?;
    let clock = std::time::Instant::now();
    let lap = |step: &str| tracing::debug!(step, seconds = clock.elapsed().as_secs_f64(), "drift timing");
    let d = &config.drift;
    let mut reference = load_reference(conn, &production.model_id, d.bins)?;
    if reference.is_empty() {
        // Models trained before profiles were stored, or profiled with
        // another drift.bins: bin the training rows once and keep it.
        tracing::info!(
            model_id = %production.model_id,
            bins = d.bins,
            "drift: building the reference profile of the production model from its training rows"
        );
        reference = profile_from_training_set(conn, &production, &model, d.bins)?;
        store_reference(conn, &production.model_id, d.bins, &reference)?;
        lap("reference profile built from training_set");
    }
    let reference_rows = reference_rows(&reference)?;

    let samples = DriftSql {
        model_id: quote::string(&production.model_id),
        current_date: Some(current.to_string()),
        ..DriftSql::default()
    };
    execute(
        conn,
        "drift/current.sql",
        "create or replace temp table drift_current as",
        &samples,
    )?;
    let current_rows: i64 = conn
        .query_row("select count(*) from drift_current", [], |r| r.get(0))
        .context(|| "drift: counting the current sample".into())?;
    if current_rows == 0 {
        return Err(Error::MissingInput(format!(
            "the users scored on {current} have no rows in user_features_daily for that date: rebuild features \
             and score again (`churn run --from features --to score`)"
        )));
    }

    // A rerun for the same model and date replaces the earlier check.
    for sql in [
        "delete from drift_bins where run_id in (select run_id from drift_runs where model_id = ? and current_as_of = ?)",
        "delete from drift_results where run_id in (select run_id from drift_runs where model_id = ? and current_as_of = ?)",
        "delete from drift_runs where model_id = ? and current_as_of = ?",
    ] {
        conn.execute(sql, duckdb::params![production.model_id, current])
            .context(|| "drift: replacing the earlier check of this date".into())?;
    }
    lap("current sample built");
    let features = measure(
        conn,
        &Spec {
            run_id: run_id.to_string(),
            model_id: production.model_id.clone(),
            n_bins: d.bins,
            reference: &reference,
            warn_psi: d.warn_psi,
            fail_psi: d.fail_psi,
        },
    )?;
    conn.execute_batch("drop table drift_current")
        .context(|| "drift: dropping the current sample".into())?;
    lap("bins and PSI measured");
    let worst = features
        .first()
        .cloned()
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "drift: the reference profile of {} holds no input to measure: train and promote a model again",
                production.model_id
            ))
        })?;
    let count = |v: Verdict| features.iter().filter(|f| f.status == v).count() as i32;
    let (n_warn, n_fail) = (count(Verdict::Warn), count(Verdict::Fail));
    // The run's verdict is its worst input's, as the SQL decided it.
    let status = features.iter().map(|f| f.status).max().unwrap_or(Verdict::Ok);
    let run = DriftRun {
        run_id: run_id.to_string(),
        model_id: production.model_id.clone(),
        checked_at: Utc::now().naive_utc(),
        reference_from: production.train_from,
        reference_to: production.train_to,
        reference_rows,
        current_as_of: current,
        current_rows,
        bins: d.bins,
        warn_psi: d.warn_psi,
        fail_psi: d.fail_psi,
        max_psi: worst.psi,
        max_psi_feature: worst.feature.clone(),
        n_warn,
        n_fail,
        status,
    };
    store::drift::insert_run(conn, &run)?;
    let report = DriftReport { run, features };
    if crate::console::detail() {
        print_report(&report);
    }
    if let Some(path) = json {
        write_json(path, &report)?;
    }
    // The inputs of one verdict, as "feature psi".
    let with = |verdict: Verdict| -> Vec<String> {
        report
            .features
            .iter()
            .filter(|f| f.status == verdict)
            .map(|f| format!("{} {:.3}", f.feature, f.psi))
            .collect()
    };
    let failing = with(Verdict::Fail);
    if status == Verdict::Warn {
        let warned = with(Verdict::Warn);
        tracing::warn!(
            "drift WARN: {} input(s) at or above PSI {}: {}",
            warned.len(),
            d.warn_psi,
            warned.join(", ")
        );
    }
    let failure = (status == Verdict::Fail).then(|| {
        Error::DriftFail(format!(
            "{} input(s) at or above PSI {}: {}; retrain with `churn run --stage retrain`",
            failing.len(),
            d.fail_psi,
            failing.join(", ")
        ))
    });
    Ok(Outcome {
        rows_out: report.features.len() as i64,
        params: serde_json::json!({
            "model_id": report.run.model_id,
            "current_as_of": current,
            "status": status,
            "max_psi": report.run.max_psi,
            "max_psi_feature": report.run.max_psi_feature,
        }),
        failure,
        summary: format!(
            "{status}: max PSI {:.4} ({}), {n_warn} WARN, {n_fail} FAIL over {} inputs",
            report.run.max_psi,
            report.run.max_psi_feature,
            report.features.len()
        ),
    })
}

/// The drift stage (docs/design.md §4). `json`: also write the report to
/// this file.
#[derive(Debug, Default)]
pub struct Drift {
    pub json: Option<std::path::PathBuf>,
}

impl StageDef for Drift {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["predictions", "models", "training_set", "user_features_daily"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &[
            "drift_runs",
            "drift_results",
            "drift_bins",
            "model_reference_bins",
        ]
    }

    /// Rendered at run time with the production model's inputs and the
    /// bins of its training rows: `churn sql drift` prints them raw.
    fn templates(&self, _config: &Config) -> Vec<Template> {
        sql::names_under("drift/").map(Template::select).collect()
    }

    fn spark_inputs(&self) -> &'static [&'static str] {
        &["user_features_daily", "predictions", "model_reference_bins"]
    }

    fn invalidated_by(&self) -> &'static [&'static str] {
        &["predictions"]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config, &ctx.run_id, self.json.as_deref())
    }
}
