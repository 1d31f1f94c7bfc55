//! What the report shows, gathered from the DuckDB tables: the models' rows
//! and their stored metrics (curves, deciles, baselines, intervals),
//! model_terms, model_promotions, performance_runs, drift_runs/_results/_bins,
//! predictions, and, for synthetic data, the label's agreement with
//! synthetic_truth. No figure is computed here that a table does not hold,
//! but for that agreement and the drawing (`svg`).

use chrono::{NaiveDate, NaiveDateTime, Utc};
use duckdb::{Connection, OptionalExt};
use serde::Serialize;

use super::svg::{Bars, BinRow, Plot};
use crate::error::{Context, Result};
use crate::format::sig3;
use crate::model::Model;
use crate::model::baseline::Baseline;
use crate::model::bootstrap::Intervals;
use crate::model::metrics::Metrics;
use crate::store::drift::DriftRun;
use crate::store::models::{self, ModelRow};
use crate::store::status::Verdict;
use crate::store::{self, Store};

mod card;
mod monitoring;
mod risks;

use card::card;
use monitoring::{drift, label_truth, promotions, realised};
use risks::risk_list;

/// How many users the risk list shows.
pub const RISK_ROWS: usize = 50;
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
    /// Why the card has no Bayes oracle (ingested data), as train recorded it.
    pub ceiling_unknown: Option<String>,
    /// The oracle not told who has already left, and the share of the gap
    /// from the best single input to it that the model closes.
    pub unseen_churn: Option<crate::store::truth::OracleVariant>,
    pub unseen_gap_closed: Option<f64>,
    /// The oracle told neither who has left nor engagement (events alone),
    /// and the share of the gap to it.
    pub from_events: Option<crate::store::truth::OracleVariant>,
    pub events_gap_closed: Option<f64>,
    /// The sample of test users the oracles read, when the test set was
    /// larger than `truth::ORACLE_ROWS`.
    pub oracle_sample: Option<crate::store::truth::OracleSample>,
    /// PR-AUC within the recently active and the lapsing test rows.
    pub segments: Vec<crate::model::metrics::Segment>,
    /// Generated data: the share of the top of the list already gone.
    pub already_left: Option<crate::store::truth::AlreadyLeft>,
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
    #[serde(default)]
    oracle: Option<crate::store::truth::Ceiling>,
    #[serde(default)]
    segments: Vec<crate::model::metrics::Segment>,
    #[serde(default)]
    already_left: Option<crate::store::truth::AlreadyLeft>,
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
    #[serde(flatten)]
    pub run: DriftRun,
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
    pub status: Verdict,
    pub reference_count: i64,
    pub current_count: i64,
    pub bar_pct: f64,
}

#[derive(Debug, Serialize)]
pub struct BinsView {
    pub feature: String,
    pub psi: f64,
    pub status: Verdict,
    pub bins: Vec<BinRow>,
    pub chart: Bars,
}

#[derive(Debug, Serialize)]
pub struct RiskList {
    pub model_id: String,
    pub as_of_date: NaiveDate,
    pub scored: i64,
    pub columns: Vec<String>,
    pub rows: Vec<RiskRow>,
    /// The rows as a CSV, in a data: URL (the page stays one file).
    pub csv_href: String,
}

#[derive(Debug, Serialize)]
pub struct RiskRow {
    pub risk_rank: i64,
    pub user_id: String,
    pub churn_risk: f64,
    /// The feature values, as the table holds them (None = NULL).
    pub values: Vec<Option<String>>,
    /// The user's own reasons, in words, best first.
    pub reasons: Vec<String>,
}

/// Everything the page shows, read from an open store.
pub fn gather(store: &Store) -> Result<Report> {
    let production = if store.table_exists("models")? {
        models::production(&store.conn)?
    } else {
        None
    };
    match production {
        Some(row) => {
            let model = models::load(&store.conn, &row.model_id)?;
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
        match models::newest_challenger(conn)? {
            Some(row) => {
                let model = models::load(conn, &row.model_id)?;
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
