//! `churn report`: one self-contained HTML page (model card, drift report,
//! risk list) rendered from `templates/` with minijinja, HTML auto-escaped.
//!
//! Every figure is read from the DuckDB tables: the models' rows and their
//! stored metrics (curves and deciles included), model_terms,
//! model_promotions, drift_runs/_results/_bins and predictions. The only
//! arithmetic here is drawing: mapping those numbers to SVG coordinates.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use duckdb::{Connection, OptionalExt};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::db::{Access, Store};
use crate::error::{Context, Error, Result};
use crate::model::Model;
use crate::model::metrics::Metrics;
use crate::model::registry::{self, ModelRow};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template: (path under templates/, source).
pub const TEMPLATES: &[(&str, &str)] = templates![
    "report.html",
    "charts.html",
    "model_card.html",
    "drift.html",
    "risk_list.html",
];

/// How many users the risk list shows, and how many of the model's inputs.
pub const RISK_ROWS: usize = 50;
const RISK_FEATURES: usize = 6;
/// How many coefficients the model card lists.
const TOP_COEFFICIENTS: usize = 15;
/// How many drifted inputs get their bins drawn.
const TOP_DRIFTED: usize = 5;

// Plot geometry, in SVG user units.
const W: f64 = 320.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const TOP: f64 = 12.0;
const PW: f64 = W - LEFT - 12.0;
const PH: f64 = H - TOP - 34.0;

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub source: String,
    pub production: Option<ModelCard>,
    pub challenger: Option<ModelCard>,
    pub promotions: Vec<Promotion>,
    pub drift: Option<DriftView>,
    pub risk: Option<RiskList>,
}

#[derive(Debug, Serialize)]
pub struct ModelCard {
    pub row: ModelRow,
    /// None for a model whose stored metrics do not parse.
    pub metrics: Option<Metrics>,
    pub coefficients: Vec<Coefficient>,
    pub pr: Plot,
    pub roc: Plot,
    pub calibration: Plot,
    pub lift: Bars,
}

#[derive(Debug, Serialize)]
pub struct Coefficient {
    pub term: String,
    pub coefficient: f64,
    pub positive: bool,
    /// Bar from the centre line, in percent of the half width.
    pub bar_pct: f64,
}

/// A line chart on the unit square: an SVG polyline and its point markers.
#[derive(Debug, Default, Serialize)]
pub struct Plot {
    pub points: String,
    pub markers: Vec<Marker>,
    pub empty: bool,
}

#[derive(Debug, Serialize)]
pub struct Marker {
    pub cx: f64,
    pub cy: f64,
    pub title: String,
}

/// Vertical bars with a reference line.
#[derive(Debug, Default, Serialize)]
pub struct Bars {
    pub bars: Vec<Bar>,
    pub reference_y: f64,
    pub y_max: f64,
    pub empty: bool,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub label: String,
    pub value: f64,
    pub title: String,
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

fn sx(x: f64) -> f64 {
    round1(LEFT + x.clamp(0.0, 1.0) * PW)
}

fn sy(y: f64) -> f64 {
    round1(TOP + (1.0 - y.clamp(0.0, 1.0)) * PH)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn plot(points: impl IntoIterator<Item = (f64, f64, String)>, with_markers: bool) -> Plot {
    let mut p = Plot::default();
    let mut coords = Vec::new();
    for (x, y, title) in points {
        let (cx, cy) = (sx(x), sy(y));
        coords.push(format!("{cx},{cy}"));
        if with_markers {
            p.markers.push(Marker { cx, cy, title });
        }
    }
    p.empty = coords.is_empty();
    p.points = coords.join(" ");
    p
}

/// Bars for values ≥ 0 with a horizontal reference line at `reference`.
fn bars(values: &[(String, f64, String)], reference: f64) -> Bars {
    let top = values.iter().map(|v| v.1).fold(reference, f64::max);
    let y_max = if top > 0.0 { top * 1.1 } else { 1.0 };
    let slot = PW / values.len().max(1) as f64;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (label, value, title))| {
            let height = round1(value.max(0.0) / y_max * PH);
            Bar {
                x: round1(LEFT + i as f64 * slot + slot * 0.15),
                y: round1(TOP + PH - height),
                width: round1(slot * 0.7),
                height,
                label: label.clone(),
                value: *value,
                title: title.clone(),
            }
        })
        .collect();
    Bars {
        bars,
        reference_y: round1(TOP + PH - reference / y_max * PH),
        y_max,
        empty: values.is_empty(),
    }
}

/// Paired bars (reference, current) per bin, shares on a common scale.
fn paired(bins: &[BinRow]) -> Bars {
    let top = bins
        .iter()
        .map(|b| b.reference_share.max(b.current_share))
        .fold(0.0, f64::max);
    let y_max = if top > 0.0 { top * 1.1 } else { 1.0 };
    let slot = PW / bins.len().max(1) as f64;
    let mut out = Vec::new();
    for (i, b) in bins.iter().enumerate() {
        for (j, (share, who)) in [(b.reference_share, "reference"), (b.current_share, "current")]
            .into_iter()
            .enumerate()
        {
            let height = round1(share / y_max * PH);
            out.push(Bar {
                x: round1(LEFT + i as f64 * slot + slot * (0.1 + 0.4 * j as f64)),
                y: round1(TOP + PH - height),
                width: round1(slot * 0.4),
                height,
                label: if j == 0 { b.label.clone() } else { String::new() },
                value: share,
                title: format!("{}: {who} {:.2}%", b.label, share * 100.0),
            });
        }
    }
    Bars {
        bars: out,
        reference_y: TOP + PH,
        y_max,
        empty: bins.is_empty(),
    }
}

fn card(row: ModelRow, model: &Model) -> ModelCard {
    let metrics: Option<Metrics> = serde_json::from_str(&row.metrics_json).ok();
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
    let (pr, roc, calibration, lift) = match &metrics {
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
                    m.calibration.iter().filter_map(|b| {
                        Some((
                            b.mean_predicted?,
                            b.observed_rate?,
                            format!(
                                "scores {:.1}–{:.1}: {} rows, mean predicted {:.3}, observed {:.3}",
                                b.lower, b.upper, b.count, b.mean_predicted?, b.observed_rate?
                            ),
                        ))
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
    ModelCard {
        row,
        metrics,
        coefficients,
        pr,
        roc,
        calibration,
        lift,
    }
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
    let sql = format!(
        "select p.risk_rank, p.user_id, p.churn_risk{select} from predictions p \
         left join user_features_daily f on f.user_id = p.user_id and f.as_of_date = p.as_of_date \
         where p.model_id = ? and p.as_of_date = ? order by p.risk_rank, p.user_id limit {RISK_ROWS}"
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
    let risk = match &production {
        Some(p) => risk_list(store, p)?,
        None => None,
    };
    Ok(Report {
        generated_at: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        source: store.path().display().to_string(),
        production,
        challenger,
        promotions,
        drift: drift(store)?,
        risk,
    })
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Every template is HTML: escape everything it prints.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_filter("num", |v: f64, digits: Option<usize>| {
            format!("{v:.*}", digits.unwrap_or(4))
        });
        env.add_filter("pct", |v: f64, digits: Option<usize>| {
            format!("{:.*}%", digits.unwrap_or(1), v * 100.0)
        });
        // Timestamps to the second: 2026-11-27T17:04:14.186 -> 2026-11-27 17:04:14.
        env.add_filter("when", |v: String| {
            v.chars().take(19).collect::<String>().replace('T', " ")
        });
        env.add_filter("thousands", |v: i64| {
            let digits = v.abs().to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            if v < 0 { format!("-{out}") } else { out }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("embedded templates parse");
        }
        env
    })
}

/// The page as HTML.
pub fn render(report: &Report) -> Result<String> {
    environment()
        .get_template("report.html")
        .and_then(|t| t.render(report))
        .map_err(|source| Error::Template {
            name: "report.html".into(),
            source,
        })
}

/// `churn report`: reads the file, writes `OUT/churn-report-<time>.html`,
/// returns its path.
pub fn write(db: &Path, out: &Path, lock_timeout: std::time::Duration) -> Result<PathBuf> {
    let start = Instant::now();
    let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
    let report = gather(&store)?;
    drop(store);
    if report.production.is_none() && report.drift.is_none() {
        return Err(Error::MissingInput(format!(
            "{} has no production model and no drift check to report on: run `churn run` first",
            db.display()
        )));
    }
    let html = render(&report)?;
    std::fs::create_dir_all(out).context(|| format!("creating the report folder {}", out.display()))?;
    let path = out.join(format!(
        "churn-report-{}.html",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    // Written beside its final name and renamed: never a half-written report.
    let partial = path.with_extension("html.partial");
    std::fs::write(&partial, html.as_bytes()).context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).context(|| format!("writing {}", path.display()))?;
    tracing::info!(
        "report: {} ({} KiB) in {:.2} s",
        path.display(),
        html.len() / 1024,
        start.elapsed().as_secs_f64()
    );
    Ok(path)
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
    fn plots_map_the_unit_square_onto_the_plot_area() {
        let p = plot([(0.0, 0.0, String::new()), (1.0, 1.0, String::new())], false);
        assert_eq!(p.points, format!("{LEFT},{} {},{TOP}", TOP + PH, LEFT + PW));
        let b = bars(
            &[("1".into(), 2.0, String::new()), ("2".into(), 1.0, String::new())],
            1.0,
        );
        assert!((b.bars[0].height - round1(2.0 / 2.2 * PH)).abs() < 1e-9);
        assert!((b.reference_y - round1(TOP + PH - PH / 2.2)).abs() < 1e-9);
    }
}
