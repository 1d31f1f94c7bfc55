//! drift: the Population Stability Index of every input of the production
//! model (and of its score) between the model's training rows (reference)
//! and the population it scored last (current), as templated SQL
//! (`sql/drift/*.sql`, DESIGN §4).
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
use crate::model::data::{Frame, Rows, load, numeric_features};
use crate::model::registry::{self, ModelRow};
use crate::sql;
use crate::stages::Outcome;

/// Shares below this are raised to it, so an empty bin has a finite PSI term.
pub const MIN_SHARE: f64 = 1e-4;

/// The name the model's score goes by in the drift tables.
pub const SCORE_FEATURE: &str = "churn_risk";

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

/// One feature's result, as printed and written to `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub kind: String,
    pub psi: f64,
    pub status: String,
    pub reference_count: i64,
    pub current_count: i64,
    pub reference_nulls: i64,
    pub current_nulls: i64,
}

/// The run summary, as written to `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub run_id: String,
    pub model_id: String,
    pub status: String,
    pub reference_from: NaiveDate,
    pub reference_to: NaiveDate,
    pub reference_rows: i64,
    pub current_as_of: NaiveDate,
    pub current_rows: i64,
    pub bins: u32,
    pub warn_psi: f64,
    pub fail_psi: f64,
    pub max_psi: f64,
    pub max_psi_feature: String,
    pub features: Vec<FeatureDrift>,
}

/// A double as a SQL literal that DuckDB parses back to the same value.
fn literal(x: f64) -> String {
    if x == f64::INFINITY {
        "'inf'::double".to_string()
    } else if x == f64::NEG_INFINITY {
        "'-inf'::double".to_string()
    } else {
        format!("'{x:?}'::double")
    }
}

/// A string as a SQL string literal body.
fn quoted(s: &str) -> String {
    s.replace('\'', "''")
}

/// The bins of a numeric feature from its reference quantiles: duplicate
/// edges merged, outer bins open.
pub fn bins_from_edges(edges: &[f64]) -> Vec<(f64, f64)> {
    let mut e: Vec<f64> = edges.iter().copied().filter(|x| x.is_finite()).collect();
    e.sort_by(f64::total_cmp);
    e.dedup();
    let mut bounds = vec![f64::NEG_INFINITY];
    bounds.extend(e);
    bounds.push(f64::INFINITY);
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

fn psi_status(psi: f64, warn: f64, fail: f64) -> &'static str {
    if psi >= fail {
        "FAIL"
    } else if psi >= warn {
        "WARN"
    } else {
        "OK"
    }
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

/// One bin of a model's reference profile: its training rows binned for
/// drift (table `model_reference_bins`). Numeric and score bins are
/// numbered 1.. with their bounds (lower < x <= upper), the NULL bin is 0;
/// categorical bins hold one category each (NULL: bin 0), numbered by
/// category.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceBin {
    pub feature: String,
    /// numeric, score or categorical.
    pub kind: String,
    pub bin: i32,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub category: Option<String>,
    pub count: i64,
}

/// The reference bins of one numeric input (NaN = NULL): `n_bins` quantile
/// bins of its values (numpy linear quantiles, duplicate edges merged, outer
/// bins open), each value in the bin with lower < x <= upper, and the NULL
/// bin when there are NULLs.
pub fn numeric_reference(feature: &str, kind: &str, values: &[f64], n_bins: u32) -> Vec<ReferenceBin> {
    let qs: Vec<f64> = (1..n_bins).map(|k| f64::from(k) / f64::from(n_bins)).collect();
    let bounds = bins_from_edges(&quantiles(values.iter().copied(), &qs));
    let uppers: Vec<f64> = bounds.iter().map(|&(_, upper)| upper).collect();
    let mut counts = vec![0i64; bounds.len()];
    let mut nulls = 0i64;
    for &x in values {
        if x.is_nan() {
            nulls += 1;
        } else {
            // The first bin whose upper bound is >= x; the last is +inf.
            let k = uppers.partition_point(|&u| u < x).min(counts.len() - 1);
            counts[k] += 1;
        }
    }
    let bin = |bin: i32, lower: Option<f64>, upper: Option<f64>, count: i64| ReferenceBin {
        feature: feature.to_string(),
        kind: kind.to_string(),
        bin,
        lower,
        upper,
        category: None,
        count,
    };
    let mut out = Vec::with_capacity(bounds.len() + 1);
    if nulls > 0 {
        out.push(bin(0, None, None, nulls));
    }
    for (k, (&(lower, upper), &count)) in bounds.iter().zip(&counts).enumerate() {
        out.push(bin(k as i32 + 1, Some(lower), Some(upper), count));
    }
    out
}

/// The reference bins of one categorical input: one per category seen,
/// numbered in category order, and bin 0 for NULL when there are NULLs.
pub fn categorical_reference<'a>(
    feature: &str,
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<ReferenceBin> {
    let mut counts: std::collections::BTreeMap<Option<&str>, i64> = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    // None sorts first: the NULL bin is 0, the categories 1.. in order.
    let offset = i32::from(!counts.contains_key(&None));
    counts
        .into_iter()
        .enumerate()
        .map(|(k, (category, count))| ReferenceBin {
            feature: feature.to_string(),
            kind: "categorical".to_string(),
            bin: k as i32 + offset,
            lower: None,
            upper: None,
            category: category.map(str::to_string),
            count,
        })
        .collect()
}

/// The reference profile of `model`: `rows` of `frame` (its training rows)
/// and their scores, binned for every input the model reads and its score.
pub fn reference_profile(
    model: &crate::model::Model,
    frame: &Frame,
    rows: &[usize],
    scores: &[f64],
    n_bins: u32,
) -> Result<Vec<ReferenceBin>> {
    let mut out = Vec::new();
    for name in model.numeric_features() {
        let j = frame
            .numeric_index(&name)
            .ok_or_else(|| Error::Other(format!("drift: the reference rows lack column {name}")))?;
        let column = frame.numeric.column(j);
        let values: Vec<f64> = rows.iter().map(|&i| column[i]).collect();
        out.extend(numeric_reference(&name, "numeric", &values, n_bins));
    }
    out.extend(numeric_reference(SCORE_FEATURE, "score", scores, n_bins));
    for name in model.categorical_features() {
        let k = Frame::categorical_index(&name)
            .ok_or_else(|| Error::Other(format!("drift: {name} is not a categorical input")))?;
        out.extend(categorical_reference(
            &name,
            rows.iter().map(|&i| frame.category(k, i)),
        ));
    }
    Ok(out)
}

/// Stores `model_id`'s reference profile for `n_bins` numeric bins.
pub fn store_reference(conn: &Connection, model_id: &str, n_bins: u32, bins: &[ReferenceBin]) -> Result<()> {
    let mut app = conn
        .appender("model_reference_bins")
        .context(|| "opening the model_reference_bins appender".into())?;
    for b in bins {
        app.append_row(duckdb::params![
            model_id, n_bins, b.feature, b.kind, b.bin, b.lower, b.upper, b.category, b.count
        ])
        .context(|| format!("storing the reference profile of {model_id}"))?;
    }
    app.flush()
        .context(|| format!("storing the reference profile of {model_id}"))
}

/// `model_id`'s stored reference profile for `n_bins` numeric bins (empty
/// when it has none).
pub fn load_reference(conn: &Connection, model_id: &str, n_bins: u32) -> Result<Vec<ReferenceBin>> {
    let mut stmt = conn
        .prepare(
            "select feature, kind, bin, lower, upper, category, reference_count from model_reference_bins \
             where model_id = ? and bins = ? order by feature, bin",
        )
        .context(|| "drift: reading model_reference_bins".into())?;
    stmt.query_map(duckdb::params![model_id, n_bins], |r| {
        Ok(ReferenceBin {
            feature: r.get(0)?,
            kind: r.get(1)?,
            bin: r.get(2)?,
            lower: r.get(3)?,
            upper: r.get(4)?,
            category: r.get(5)?,
            count: r.get(6)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "drift: reading model_reference_bins".into())
}

/// The number of rows behind a profile: every input counts each row once.
pub fn reference_rows(bins: &[ReferenceBin]) -> Result<i64> {
    let mut per_feature: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for b in bins {
        *per_feature.entry(&b.feature).or_default() += b.count;
    }
    let mut totals = per_feature.values().copied();
    let first = totals.next().unwrap_or(0);
    if totals.any(|n| n != first) {
        return Err(Error::Other(format!(
            "the stored reference profile is inconsistent (inputs count different rows: {per_feature:?}); \
             delete its rows from model_reference_bins and run drift again to rebuild it"
        )));
    }
    Ok(first)
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

/// Quantiles at `qs` of the non-NaN `values` with numpy's default (linear)
/// method: virtual index h = (n-1)q between order statistics a and b, and
/// numpy's rounding of the interpolation (from b when h's fraction is 0.5 or
/// more). Empty input gives no quantiles.
pub fn quantiles(values: impl IntoIterator<Item = f64>, qs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    let n = v.len();
    if n == 0 {
        return Vec::new();
    }
    let positions: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let h = (n - 1) as f64 * q;
            let lo = (h.floor() as usize).min(n - 1);
            (lo, (lo + 1).min(n - 1), h - h.floor())
        })
        .collect();
    let mut needed: Vec<usize> = positions.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    needed.sort_unstable();
    needed.dedup();
    // Order statistics by successive selection on the remaining right part.
    let mut stats = std::collections::HashMap::new();
    let mut start = 0;
    for k in needed {
        let (_, nth, _) = v[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        stats.insert(k, *nth);
        start = k + 1;
        if start >= n {
            break;
        }
    }
    positions
        .into_iter()
        .map(|(lo, hi, g)| {
            let (a, b) = (stats[&lo], stats[&hi]);
            let diff = b - a;
            if g >= 0.5 {
                b - diff * (1.0 - g)
            } else {
                a + diff * g
            }
        })
        .collect()
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
    read_results(conn, &spec.run_id)
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
                upper: literal(upper),
            });
        }
    }
    for f in &mut numeric {
        f.bins.sort_by_key(|b| b.bin);
    }
    categorical.dedup();
    Ok(DriftSql {
        dialect,
        run_id: quoted(&spec.run_id),
        model_id: quoted(&spec.model_id),
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
    let production = registry::production(conn)?.ok_or_else(|| {
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

/// The stored results of a run, largest PSI first.
pub fn read_results(conn: &Connection, run_id: &str) -> Result<Vec<FeatureDrift>> {
    let mut stmt = conn
        .prepare(
            "select feature, kind, psi, status, reference_count, current_count, reference_nulls, current_nulls \
             from drift_results where run_id = ? order by psi desc, feature",
        )
        .context(|| "drift: reading drift_results".into())?;
    stmt.query_map([run_id], |r| {
        Ok(FeatureDrift {
            feature: r.get(0)?,
            kind: r.get(1)?,
            psi: r.get(2)?,
            status: r.get(3)?,
            reference_count: r.get(4)?,
            current_count: r.get(5)?,
            reference_nulls: r.get(6)?,
            current_nulls: r.get(7)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "drift: reading drift_results".into())
}

/// Prints the features sorted by PSI.
fn print_report(report: &DriftReport) {
    println!(
        "drift of {} ({}): reference {} rows ({} to {}), current {} rows (scored {})",
        report.model_id,
        report.status,
        report.reference_rows,
        report.reference_from,
        report.reference_to,
        report.current_rows,
        report.current_as_of
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
    let _memory = crate::db::leave_memory_to_rust(conn, "drift");
    let production = registry::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "drift checks the production model's inputs and there is no production model: run \
             `churn run --to score` first"
                .into(),
        )
    })?;
    let model = registry::load(conn, &production.model_id)?;
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
        model_id: quoted(&production.model_id),
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
        .ok_or_else(|| Error::Other("drift: no feature was measured".into()))?;
    let n_fail = features.iter().filter(|f| f.status == "FAIL").count();
    let n_warn = features.iter().filter(|f| f.status == "WARN").count();
    let status = psi_status(worst.psi, d.warn_psi, d.fail_psi);
    conn.execute(
        "insert into drift_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        duckdb::params![
            run_id,
            production.model_id,
            Utc::now().naive_utc(),
            production.train_from,
            production.train_to,
            reference_rows,
            current,
            current_rows,
            d.bins,
            d.warn_psi,
            d.fail_psi,
            worst.psi,
            worst.feature,
            n_warn as i32,
            n_fail as i32,
            status,
        ],
    )
    .context(|| "drift: recording the run".into())?;

    let report = DriftReport {
        run_id: run_id.to_string(),
        model_id: production.model_id.clone(),
        status: status.to_string(),
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
        features,
    };
    print_report(&report);
    if let Some(path) = json {
        write_json(path, &report)?;
    }
    let failing: Vec<String> = report
        .features
        .iter()
        .filter(|f| f.status == "FAIL")
        .map(|f| format!("{} {:.3}", f.feature, f.psi))
        .collect();
    let failure = (status == "FAIL").then(|| {
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
            "model_id": report.model_id,
            "current_as_of": current,
            "status": status,
            "max_psi": report.max_psi,
            "max_psi_feature": report.max_psi_feature,
        }),
        failure,
        summary: format!(
            "{status}: max PSI {:.4} ({}), {n_warn} WARN, {n_fail} FAIL over {} inputs",
            report.max_psi,
            report.max_psi_feature,
            report.features.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_edges_merge_and_outer_bins_are_open() {
        let bins = bins_from_edges(&[0.0, 0.0, 1.0, 2.5, 2.5]);
        assert_eq!(
            bins,
            vec![
                (f64::NEG_INFINITY, 0.0),
                (0.0, 1.0),
                (1.0, 2.5),
                (2.5, f64::INFINITY)
            ]
        );
        assert_eq!(bins_from_edges(&[]), vec![(f64::NEG_INFINITY, f64::INFINITY)]);
    }

    #[test]
    fn quantiles_follow_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.1, 0.5, 0.9, 0.95]) = 1.4, 3, 7.6, 8.8
        let q = quantiles([10.0, 3.0, f64::NAN, 1.0, 4.0, 2.0], &[0.1, 0.5, 0.9, 0.95]);
        let want = [1.4, 3.0, 7.6, 8.8];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        // Between equal neighbours the edge is the value itself, to the bit.
        let x = 176.0 / 3.0;
        assert_eq!(quantiles([x; 7], &[0.2, 0.7]), vec![x, x]);
        assert!(quantiles([f64::NAN], &[0.5]).is_empty());
        assert_eq!(quantiles([5.0], &[0.1, 0.9]), vec![5.0, 5.0]);
    }

    #[test]
    fn literals_round_trip() {
        for x in [0.1, 1.0 / 3.0, 1e-7, -2.5e300, 42.0] {
            let l = literal(x);
            let inner = l.trim_start_matches('\'').split('\'').next().unwrap();
            assert_eq!(inner.parse::<f64>().unwrap(), x);
        }
        assert_eq!(literal(f64::INFINITY), "'inf'::double");
    }

    #[test]
    fn status_thresholds_are_inclusive_at_the_top() {
        assert_eq!(psi_status(0.0999, 0.1, 0.25), "OK");
        assert_eq!(psi_status(0.1, 0.1, 0.25), "WARN");
        assert_eq!(psi_status(0.25, 0.1, 0.25), "FAIL");
    }
}
