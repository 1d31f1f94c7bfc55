//! What the report shows, gathered from the DuckDB tables: the models' rows
//! and their stored metrics (curves, deciles, baselines, intervals),
//! model_terms, model_promotions, performance_runs, drift_runs/_results/_bins,
//! predictions, and, for synthetic data, the label's agreement with
//! synthetic_truth. No figure is computed here that a table does not hold,
//! but for that agreement and the drawing (`svg`).

use chrono::{NaiveDate, NaiveDateTime, Utc};
use duckdb::{Connection, OptionalExt};
use serde::Serialize;

use super::svg::{Bars, Plot, bars, paired, plot, round1};
use crate::db::Store;
use crate::error::{Context, Result};
use crate::model::Model;
use crate::model::baseline::Baseline;
use crate::model::bootstrap::Intervals;
use crate::model::metrics::Metrics;
use crate::model::registry::{self, ModelRow};

/// How many users the risk list shows, and how many of the model's inputs.
pub const RISK_ROWS: usize = 50;
const RISK_FEATURES: usize = 6;
/// How many coefficients the model card lists.
const TOP_COEFFICIENTS: usize = 15;
/// How many drifted inputs get their bins drawn.
const TOP_DRIFTED: usize = 5;

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub source: String,
    pub production: Option<ModelCard>,
    pub challenger: Option<ModelCard>,
    pub promotions: Vec<Promotion>,
    pub drift: Option<DriftView>,
    pub risk: Option<RiskList>,
    pub realised: Option<Realised>,
    /// How the labels agree with the generator's hidden truth (synthetic
    /// data only).
    pub truth: Option<LabelTruth>,
}

/// The production model's realised performance over time (`performance_runs`).
#[derive(Debug, Serialize)]
pub struct Realised {
    pub model_id: String,
    pub test_pr_auc: f64,
    pub days: Vec<RealisedDay>,
    /// Realised PR-AUC by day (x: the days' span, y: PR-AUC on [0, scale]).
    pub chart: Plot,
    pub scale: f64,
    /// The chart's first, middle and last day.
    pub x_labels: [String; 3],
    /// The pooled windows of the latest evaluate runs, newest first.
    pub windows: Vec<RealisedDay>,
}

#[derive(Debug, Serialize)]
pub struct RealisedDay {
    pub slice_from: NaiveDate,
    pub slice_to: NaiveDate,
    pub period: String,
    pub n: i64,
    pub observed_rate: f64,
    pub mean_risk: f64,
    pub pr_auc: Option<f64>,
    pub ece: f64,
    pub top10_lift: Option<f64>,
    pub status: Option<String>,
    pub evaluated_at: NaiveDateTime,
}

/// The label against `synthetic_truth` over the training population.
#[derive(Debug, Serialize)]
pub struct LabelTruth {
    pub rows: i64,
    pub horizon_days: i64,
    pub allowance_days: i64,
    /// Of rows whose user's churn date is at most d + horizon, the share labelled 1.
    pub recall: Option<f64>,
    /// Of rows labelled 1, the share whose user's churn date is at most
    /// d + horizon + allowance (the pre-churn fade).
    pub precision: Option<f64>,
    /// The same against d + horizon alone.
    pub precision_at_horizon: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ModelCard {
    pub row: ModelRow,
    /// None for a model whose stored metrics do not parse.
    pub metrics: Option<Metrics>,
    /// The single inputs used alone as rankers, best first, and the
    /// bootstrap intervals (none for models trained before they were kept).
    pub baselines: Vec<Baseline>,
    pub intervals: Option<Intervals>,
    /// PR-AUC minus the best single input's.
    pub lift: Option<f64>,
    /// What a reader must know before trusting the model.
    pub warnings: Vec<String>,
    /// The reliability chart's axis scale (the largest mean risk or rate).
    pub calibration_scale: f64,
    /// The label the model was trained on (None for older models).
    pub horizon_days: Option<i64>,
    pub inactive_days: Option<i64>,
    pub coefficients: Vec<Coefficient>,
    pub pr: Plot,
    pub roc: Plot,
    pub calibration: Plot,
    pub deciles: Bars,
}

/// The parts of `metrics_json` beside the test metrics.
#[derive(Debug, Default, serde::Deserialize)]
struct Extras {
    #[serde(default)]
    baselines: Vec<Baseline>,
    #[serde(default)]
    intervals: Option<Intervals>,
}

#[derive(Debug, Serialize)]
pub struct Coefficient {
    pub term: String,
    pub coefficient: f64,
    pub positive: bool,
    /// Bar from the centre line, in percent of the half width.
    pub bar_pct: f64,
}

#[derive(Debug, Serialize)]
pub struct Promotion {
    pub promoted_at: NaiveDateTime,
    pub model_id: String,
    pub previous_model_id: Option<String>,
    pub decision: String,
    pub reason: String,
    pub candidate_score: Option<f64>,
    pub production_score: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DriftView {
    pub run_id: String,
    pub model_id: String,
    pub checked_at: NaiveDateTime,
    pub reference_from: NaiveDate,
    pub reference_to: NaiveDate,
    pub reference_rows: i64,
    pub current_as_of: NaiveDate,
    pub current_rows: i64,
    pub warn_psi: f64,
    pub fail_psi: f64,
    pub max_psi: f64,
    pub max_psi_feature: String,
    pub n_warn: i32,
    pub n_fail: i32,
    pub status: String,
    pub features: Vec<DriftFeature>,
    /// The PSI bar chart: bar length ∝ √PSI so 0.1 and 0.25 stay visible
    /// next to PSIs of 5 and more.
    pub scale_max: f64,
    pub warn_pct: f64,
    pub fail_pct: f64,
    pub top: Vec<BinsView>,
    pub score: Option<BinsView>,
}

#[derive(Debug, Serialize)]
pub struct DriftFeature {
    pub feature: String,
    pub kind: String,
    pub psi: f64,
    pub status: String,
    pub reference_count: i64,
    pub current_count: i64,
    pub bar_pct: f64,
}

#[derive(Debug, Serialize)]
pub struct BinsView {
    pub feature: String,
    pub psi: f64,
    pub status: String,
    pub bins: Vec<BinRow>,
    pub chart: Bars,
}

#[derive(Debug, Serialize)]
pub struct BinRow {
    pub bin: i32,
    pub label: String,
    pub reference_share: f64,
    pub current_share: f64,
    pub psi_term: f64,
}

#[derive(Debug, Serialize)]
pub struct RiskList {
    pub model_id: String,
    pub as_of_date: NaiveDate,
    pub scored: i64,
    pub columns: Vec<String>,
    pub rows: Vec<RiskRow>,
}

#[derive(Debug, Serialize)]
pub struct RiskRow {
    pub risk_rank: i64,
    pub user_id: String,
    pub churn_risk: f64,
    /// The feature values, as the table holds them (None = NULL).
    pub values: Vec<Option<String>>,
}

/// What the card warns about: base rates that moved between train and test,
/// and a model that does not clearly beat one input alone.
fn warnings(row: &ModelRow) -> Vec<String> {
    let mut out = Vec::new();
    let (train, test) = (row.pos_rate_train, row.pos_rate_test);
    if train > 0.0 && test > 0.0 && (train / test).max(test / train) > 1.5 {
        out.push(format!(
            "The base rate moved from {:.1}% in training to {:.1}% in the test window (more than 1.5×): \
             the risks may not be probabilities of the present.",
            train * 100.0,
            test * 100.0
        ));
    }
    let q = &row.quality;
    match (row.lift_over_baseline(), &q.baseline_feature) {
        (None, _) | (_, None) => out.push(
            "No single-input baseline was recorded for this model (trained before they were): retrain to \
             check it beats one input alone."
                .into(),
        ),
        (Some(lift), Some(feature)) if lift <= 0.0 => out.push(format!(
            "The model does not beat the best single input, {feature}, used alone (PR-AUC lift {lift:.3})."
        )),
        (Some(lift), Some(feature)) if q.lift_low.is_some_and(|lo| lo <= 0.0) => out.push(format!(
            "The model's lead over the best single input, {feature}, is not certain: lift {lift:.3}, 95% \
             interval {:.3} to {:.3}.",
            q.lift_low.unwrap_or(f64::NAN),
            q.lift_high.unwrap_or(f64::NAN)
        )),
        _ => {}
    }
    out
}

fn card(row: ModelRow, model: &Model) -> ModelCard {
    let metrics: Option<Metrics> = serde_json::from_str(&row.metrics_json).ok();
    let extras: Extras = serde_json::from_str(&row.metrics_json).unwrap_or_default();
    // The reliability bins (equal counts) when recorded, else the fixed ones.
    let reliability: Vec<(f64, f64, usize, f64, f64)> = metrics
        .iter()
        .flat_map(|m| {
            if m.reliability.is_empty() {
                &m.calibration
            } else {
                &m.reliability
            }
        })
        .filter_map(|b| Some((b.lower, b.upper, b.count, b.mean_predicted?, b.observed_rate?)))
        .collect();
    let calibration_scale = reliability
        .iter()
        .map(|b| b.3.max(b.4))
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    let mut coefs: Vec<_> = model.terms.iter().filter(|t| !t.is_intercept()).collect();
    coefs.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));
    coefs.truncate(TOP_COEFFICIENTS);
    let largest = coefs.first().map(|t| t.coefficient.abs()).unwrap_or(0.0);
    let coefficients = coefs
        .iter()
        .map(|t| Coefficient {
            term: t.term.clone(),
            coefficient: t.coefficient,
            positive: t.coefficient > 0.0,
            bar_pct: if largest > 0.0 {
                round1(t.coefficient.abs() / largest * 100.0)
            } else {
                0.0
            },
        })
        .collect();
    let (pr, roc, calibration, lift) =
        match &metrics {
            Some(m) => {
                let threshold =
                    |t: Option<f64>| t.map_or("no threshold".to_string(), |t| format!("threshold {t:.4}"));
                (
                plot(
                    m.pr_curve.iter().map(|c| {
                        (
                            c.x,
                            c.y,
                            format!(
                                "recall {:.3}, precision {:.3}, {}",
                                c.x,
                                c.y,
                                threshold(c.threshold)
                            ),
                        )
                    }),
                    false,
                ),
                plot(
                    m.roc_curve.iter().map(|c| {
                        (
                            c.x,
                            c.y,
                            format!("FPR {:.3}, TPR {:.3}, {}", c.x, c.y, threshold(c.threshold)),
                        )
                    }),
                    false,
                ),
                plot(
                    reliability.iter().map(|&(lower, upper, count, predicted, observed)| {
                        (
                            predicted / calibration_scale,
                            observed / calibration_scale,
                            format!(
                                "risks {}–{}: {count} rows, mean predicted {}, observed {}",
                                sig3(lower),
                                sig3(upper),
                                sig3(predicted),
                                sig3(observed)
                            ),
                        )
                    }),
                    true,
                ),
                bars(
                    &m.deciles
                        .iter()
                        .map(|d| {
                            (
                                d.decile.to_string(),
                                d.lift,
                                format!(
                                    "decile {}: {} of {} churned ({:.1}%), lift {:.2}, scores {:.3}–{:.3}",
                                    d.decile,
                                    d.positives,
                                    d.count,
                                    d.rate * 100.0,
                                    d.lift,
                                    d.min_score,
                                    d.max_score
                                ),
                            )
                        })
                        .collect::<Vec<_>>(),
                    1.0,
                ),
            )
            }
            None => Default::default(),
        };
    let params: serde_json::Value = serde_json::from_str(&row.params_json).unwrap_or_default();
    ModelCard {
        horizon_days: params["horizon_days"].as_i64(),
        inactive_days: params["inactive_days"].as_i64(),
        warnings: warnings(&row),
        lift: row.lift_over_baseline(),
        row,
        metrics,
        baselines: extras.baselines,
        intervals: extras.intervals,
        calibration_scale,
        coefficients,
        pr,
        roc,
        calibration,
        deciles: lift,
    }
}

/// A count with thousands separators: 28881628 -> "28,881,628".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A probability to three significant digits: 0.0576, 0.153, 0.999; a
/// risk that would round to 1 shows as "> 0.999", never "1.000".
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.digits$}");
    if v < 1.0 && text.parse::<f64>().is_ok_and(|r| r >= 1.0) {
        "> 0.999".into()
    } else {
        text
    }
}

/// The production model's realised performance, when evaluate has run.
fn realised(store: &Store, production: &ModelCard) -> Result<Option<Realised>> {
    if !store.table_exists("performance_runs")? {
        return Ok(None);
    }
    let read = |kind: &str, order: &str, limit: usize| -> Result<Vec<RealisedDay>> {
        store
            .conn
            .prepare(&format!(
                "select slice_from, slice_to, period, n, observed_rate, mean_risk, pr_auc, ece, top10_lift, status, \
                 evaluated_at from performance_runs where model_id = ? and kind = ? order by {order} limit {limit}"
            ))
            .and_then(|mut s| {
                s.query_map(duckdb::params![production.row.model_id, kind], |r| {
                    Ok(RealisedDay {
                        slice_from: r.get(0)?,
                        slice_to: r.get(1)?,
                        period: r.get(2)?,
                        n: r.get(3)?,
                        observed_rate: r.get(4)?,
                        mean_risk: r.get(5)?,
                        pr_auc: r.get(6)?,
                        ece: r.get(7)?,
                        top10_lift: r.get(8)?,
                        status: r.get(9)?,
                        evaluated_at: r.get(10)?,
                    })
                })?
                .collect()
            })
            .context(|| "reading performance_runs".into())
    };
    let days = read("day", "slice_from", 10_000)?;
    let windows = read("window", "evaluated_at desc", 10)?;
    if days.is_empty() && windows.is_empty() {
        return Ok(None);
    }
    let test_pr_auc = production.row.pr_auc;
    let scale = days
        .iter()
        .filter_map(|d| d.pr_auc)
        .fold(test_pr_auc, f64::max)
        .max(0.05)
        * 1.1;
    let (first, last) = match (days.first(), days.last()) {
        (Some(a), Some(b)) => (a.slice_from, b.slice_from),
        _ => (Utc::now().date_naive(), Utc::now().date_naive()),
    };
    let span = ((last - first).num_days().max(1)) as f64;
    let chart = plot(
        days.iter().filter_map(|d| {
            let v = d.pr_auc?;
            Some((
                (d.slice_from - first).num_days() as f64 / span,
                v / scale,
                format!(
                    "{}: PR-AUC {v:.3}, {} rows, observed {}, mean risk {}",
                    d.slice_from,
                    d.n,
                    sig3(d.observed_rate),
                    sig3(d.mean_risk)
                ),
            ))
        }),
        true,
    );
    let middle = first + chrono::Duration::days((last - first).num_days() / 2);
    Ok(Some(Realised {
        model_id: production.row.model_id.clone(),
        test_pr_auc,
        days,
        chart,
        scale,
        x_labels: [first.to_string(), middle.to_string(), last.to_string()],
        windows,
    }))
}

/// The label against the hidden truth, when the data is synthetic: over
/// training_set, with the production model's horizon and the generator's
/// pre-churn fade as the allowance.
fn label_truth(store: &Store, production: &ModelCard) -> Result<Option<LabelTruth>> {
    for table in ["synthetic_truth", "training_set", "simulation"] {
        if !store.table_exists(table)? {
            return Ok(None);
        }
    }
    let params: serde_json::Value = serde_json::from_str(&production.row.params_json).unwrap_or_default();
    let Some(horizon) = params["horizon_days"].as_i64() else {
        return Ok(None);
    };
    let allowance: Option<i64> = store
        .conn
        .query_row(
            "select (config_json->>'pre_churn_decay_days')::bigint from simulation where mode = 'generate' \
             order by generated_at limit 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .context(|| "reading the simulation's config".into())?
        .flatten();
    let Some(allowance) = allowance else {
        return Ok(None);
    };
    store
        .conn
        .query_row(
            "select count(*),
                 avg(s.churn_label) filter (where t.churn_date <= s.as_of_date + ?::integer),
                 avg((t.churn_date <= s.as_of_date + ?::integer)::int) filter (where s.churn_label = 1),
                 avg((t.churn_date <= s.as_of_date + ?::integer)::int) filter (where s.churn_label = 1)
             from training_set s join synthetic_truth t using (user_id)",
            duckdb::params![horizon, horizon + allowance, horizon],
            |r| {
                Ok(LabelTruth {
                    rows: r.get(0)?,
                    horizon_days: horizon,
                    allowance_days: allowance,
                    recall: r.get(1)?,
                    precision: r.get(2)?,
                    precision_at_horizon: r.get(3)?,
                })
            },
        )
        .map(|t| (t.rows > 0).then_some(t))
        .context(|| "comparing the labels with synthetic_truth".into())
}

fn promotions(conn: &Connection) -> Result<Vec<Promotion>> {
    let mut stmt = conn
        .prepare(
            "select promoted_at, model_id, previous_model_id, decision, reason, candidate_score, production_score \
             from model_promotions order by promoted_at desc limit 20",
        )
        .context(|| "reading model_promotions".into())?;
    stmt.query_map([], |r| {
        Ok(Promotion {
            promoted_at: r.get(0)?,
            model_id: r.get(1)?,
            previous_model_id: r.get(2)?,
            decision: r.get(3)?,
            reason: r.get(4)?,
            candidate_score: r.get(5)?,
            production_score: r.get(6)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading model_promotions".into())
}

fn bin_label(lower: Option<f64>, upper: Option<f64>, category: Option<String>, bin: i32) -> String {
    if bin == 0 {
        return "NULL".into();
    }
    if let Some(c) = category {
        return c;
    }
    let num = |v: f64| {
        if v.abs() >= 100.0 || v == v.trunc() {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    let lower = lower.filter(|l| l.is_finite());
    let upper = upper.filter(|u| u.is_finite());
    match (lower, upper) {
        (None, Some(u)) => format!("≤ {}", num(u)),
        (Some(l), None) => format!("> {}", num(l)),
        (Some(l), Some(u)) => format!("{}–{}", num(l), num(u)),
        (None, None) => "all".into(),
    }
}

fn bins_of(conn: &Connection, run_id: &str, feature: &str, psi: f64, status: &str) -> Result<BinsView> {
    let mut stmt = conn
        .prepare(
            "select bin, lower, upper, category, reference_share, current_share, psi_term \
             from drift_bins where run_id = ? and feature = ? order by bin, category",
        )
        .context(|| "reading drift_bins".into())?;
    let bins: Vec<BinRow> = stmt
        .query_map([run_id, feature], |r| {
            let bin: i32 = r.get(0)?;
            Ok(BinRow {
                bin,
                label: bin_label(r.get(1)?, r.get(2)?, r.get(3)?, bin),
                reference_share: r.get(4)?,
                current_share: r.get(5)?,
                psi_term: r.get(6)?,
            })
        })
        .and_then(|rows| rows.collect())
        .context(|| "reading drift_bins".into())?;
    let chart = paired(&bins);
    Ok(BinsView {
        feature: feature.to_string(),
        psi,
        status: status.to_string(),
        bins,
        chart,
    })
}

fn drift(store: &Store) -> Result<Option<DriftView>> {
    if !store.table_exists("drift_runs")? {
        return Ok(None);
    }
    let conn = &store.conn;
    let run = conn
        .query_row(
            "select run_id, model_id, checked_at, reference_from, reference_to, reference_rows, current_as_of, \
             current_rows, warn_psi, fail_psi, max_psi, max_psi_feature, n_warn, n_fail, status \
             from drift_runs order by checked_at desc limit 1",
            [],
            |r| {
                Ok(DriftView {
                    run_id: r.get(0)?,
                    model_id: r.get(1)?,
                    checked_at: r.get(2)?,
                    reference_from: r.get(3)?,
                    reference_to: r.get(4)?,
                    reference_rows: r.get(5)?,
                    current_as_of: r.get(6)?,
                    current_rows: r.get(7)?,
                    warn_psi: r.get(8)?,
                    fail_psi: r.get(9)?,
                    max_psi: r.get(10)?,
                    max_psi_feature: r.get(11)?,
                    n_warn: r.get(12)?,
                    n_fail: r.get(13)?,
                    status: r.get(14)?,
                    features: Vec::new(),
                    scale_max: 0.0,
                    warn_pct: 0.0,
                    fail_pct: 0.0,
                    top: Vec::new(),
                    score: None,
                })
            },
        )
        .optional()
        .context(|| "reading drift_runs".into())?;
    let Some(mut run) = run else {
        return Ok(None);
    };
    run.features = crate::stages::drift::read_results(conn, &run.run_id)?
        .into_iter()
        .map(|f| DriftFeature {
            feature: f.feature,
            kind: f.kind,
            psi: f.psi,
            status: f.status,
            reference_count: f.reference_count,
            current_count: f.current_count,
            bar_pct: 0.0,
        })
        .collect();
    run.scale_max = run.max_psi.max(run.fail_psi) * 1.05;
    let pct = |psi: f64| round1((psi.max(0.0) / run.scale_max).sqrt() * 100.0);
    run.warn_pct = pct(run.warn_psi);
    run.fail_pct = pct(run.fail_psi);
    for f in &mut run.features {
        f.bar_pct = pct(f.psi);
    }
    let top: Vec<(String, f64, String)> = run
        .features
        .iter()
        .filter(|f| f.kind != "score")
        .take(TOP_DRIFTED)
        .map(|f| (f.feature.clone(), f.psi, f.status.clone()))
        .collect();
    for (feature, psi, status) in top {
        run.top.push(bins_of(conn, &run.run_id, &feature, psi, &status)?);
    }
    let score = run
        .features
        .iter()
        .find(|f| f.kind == "score")
        .map(|f| (f.feature.clone(), f.psi, f.status.clone()));
    if let Some((feature, psi, status)) = score {
        run.score = Some(bins_of(conn, &run.run_id, &feature, psi, &status)?);
    }
    Ok(Some(run))
}

fn risk_list(store: &Store, production: &ModelCard) -> Result<Option<RiskList>> {
    if !store.table_exists("predictions")? || !store.table_exists("user_features_daily")? {
        return Ok(None);
    }
    let conn = &store.conn;
    let model_id = &production.row.model_id;
    let latest: Option<(NaiveDate, i64)> = conn
        .query_row(
            "select as_of_date, count(*) from predictions where model_id = ? \
             group by as_of_date order by as_of_date desc limit 1",
            [model_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .context(|| "reading predictions".into())?;
    let Some((as_of_date, scored)) = latest else {
        return Ok(None);
    };
    // The model's inputs with the largest coefficients, categorical ones by
    // their largest category, in that order.
    let mut columns: Vec<String> = Vec::new();
    for c in &production.coefficients {
        let feature = c.term.split('=').next().unwrap_or(&c.term).to_string();
        if !columns.contains(&feature) {
            columns.push(feature);
        }
        if columns.len() == RISK_FEATURES {
            break;
        }
    }
    let present: Vec<String> = conn
        .prepare(
            "select column_name from information_schema.columns where table_name = 'user_features_daily'",
        )
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
        .context(|| "reading the columns of user_features_daily".into())?;
    columns.retain(|c| present.contains(c));
    let select: String = columns
        .iter()
        .map(|c| format!(", f.\"{}\"", c.replace('"', "\"\"")))
        .collect();
    // The top rows first, then their features: a join of the whole slice
    // with user_features_daily would hash a million rows to print twenty.
    let sql = format!(
        "with top as (select risk_rank, user_id, churn_risk, as_of_date from predictions \
             where model_id = $1 and as_of_date = $2 order by risk_rank, user_id limit {RISK_ROWS}) \
         select p.risk_rank, p.user_id, p.churn_risk{select} from top p \
         left join user_features_daily f on f.user_id = p.user_id and f.as_of_date = p.as_of_date \
             and f.as_of_date = $2 \
         order by p.risk_rank, p.user_id"
    );
    let n = columns.len();
    let rows = conn
        .prepare(&sql)
        .and_then(|mut s| {
            s.query_map(duckdb::params![model_id, as_of_date], |r| {
                Ok(RiskRow {
                    risk_rank: r.get(0)?,
                    user_id: r.get(1)?,
                    churn_risk: r.get(2)?,
                    values: (0..n)
                        .map(|k| r.get::<_, duckdb::types::Value>(3 + k).map(|v| show_value(&v)))
                        .collect::<duckdb::Result<_>>()?,
                })
            })?
            .collect()
        })
        .context(|| "reading the risk list".into())?;
    Ok(Some(RiskList {
        model_id: model_id.clone(),
        as_of_date,
        scored,
        columns,
        rows,
    }))
}

/// A feature value as the risk list prints it: numbers to three decimals
/// (trailing zeros dropped), text as it is, NULL as None.
fn show_value(v: &duckdb::types::Value) -> Option<String> {
    use duckdb::types::Value as V;
    let float = |x: f64| {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".to_string() } else { s.to_string() }
    };
    Some(match v {
        V::Null => return None,
        V::Boolean(b) => b.to_string(),
        V::TinyInt(x) => x.to_string(),
        V::SmallInt(x) => x.to_string(),
        V::Int(x) => x.to_string(),
        V::BigInt(x) => x.to_string(),
        V::HugeInt(x) => x.to_string(),
        V::UTinyInt(x) => x.to_string(),
        V::USmallInt(x) => x.to_string(),
        V::UInt(x) => x.to_string(),
        V::UBigInt(x) => x.to_string(),
        V::Float(x) => float(*x as f64),
        V::Double(x) => float(*x),
        V::Text(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

/// Everything the page shows, read from an open store.
pub fn gather(store: &Store) -> Result<Report> {
    let production = if store.table_exists("models")? {
        registry::production(&store.conn)?
    } else {
        None
    };
    match production {
        Some(row) => {
            let model = registry::load(&store.conn, &row.model_id)?;
            gather_for(store, Some((row, &model)))
        }
        None => gather_for(store, None),
    }
}

/// The page for a production model already in hand (the API has just loaded
/// it from the same open file); the rest is read from the store.
pub fn gather_for(store: &Store, production: Option<(ModelRow, &Model)>) -> Result<Report> {
    let conn = &store.conn;
    let production = production.map(|(row, model)| card(row, model));
    let challenger = if store.table_exists("models")? {
        match registry::newest_challenger(conn)? {
            Some(row) => {
                let model = registry::load(conn, &row.model_id)?;
                Some(card(row, &model))
            }
            None => None,
        }
    } else {
        None
    };
    let promotions = if store.table_exists("model_promotions")? {
        promotions(conn)?
    } else {
        Vec::new()
    };
    let (risk, realised, truth) = match &production {
        Some(p) => (risk_list(store, p)?, realised(store, p)?, label_truth(store, p)?),
        None => (None, None, None),
    };
    Ok(Report {
        generated_at: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        source: store.path().display().to_string(),
        production,
        challenger,
        promotions,
        drift: drift(store)?,
        risk,
        realised,
        truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_labels_name_their_interval() {
        assert_eq!(bin_label(None, Some(2.0), None, 1), "≤ 2");
        assert_eq!(bin_label(Some(2.0), Some(3.5), None, 2), "2–3.500");
        assert_eq!(bin_label(Some(3.5), None, None, 3), "> 3.500");
        assert_eq!(bin_label(None, None, None, 0), "NULL");
        assert_eq!(bin_label(Some(f64::NEG_INFINITY), Some(18.0), None, 1), "≤ 18");
        assert_eq!(bin_label(Some(63.0), Some(f64::INFINITY), None, 9), "> 63");
        assert_eq!(bin_label(None, None, Some("pro".into()), 2), "pro");
    }

    #[test]
    fn risks_show_three_significant_digits() {
        assert_eq!(sig3(0.0576123), "0.0576");
        assert_eq!(sig3(0.15291), "0.153");
        assert_eq!(sig3(0.000123456), "0.000123");
        assert_eq!(sig3(0.9991), "0.999");
        assert_eq!(sig3(0.99991), "> 0.999");
        assert_eq!(sig3(0.0), "0");
    }
}
