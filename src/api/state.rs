//! What the API serves from: the production model and its latest batch
//! predictions, loaded from the DuckDB file (opened read-only, then closed)
//! and swapped atomically when a newer model or slice appears.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use duckdb::OptionalExt;

use crate::api::metrics::Metrics;
use crate::db::{Access, Store};
use crate::error::{Context, Result};
use crate::model::Model;
use crate::model::data::CATEGORICAL;
use crate::model::registry::{self, ModelRow};

/// Where a request's feature goes in the model's input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Numeric(usize),
    Categorical(usize),
}

/// A user's latest batch prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRisk {
    pub churn_risk: f64,
    pub risk_rank: i64,
}

/// What identifies a loaded state: a change of any part triggers a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub model_id: String,
    pub scored_at: Option<NaiveDateTime>,
    pub drift_run: Option<String>,
    /// The newest promotion decision or drift check of any model: the
    /// report's history changes with them.
    pub history: Option<NaiveDateTime>,
}

/// The production model and everything served with it.
#[derive(Debug)]
pub struct Loaded {
    pub version: Version,
    pub row: ModelRow,
    pub model: Model,
    /// Numeric inputs in model order; categorical inputs it one-hot encodes.
    pub numeric: Vec<String>,
    pub categorical: Vec<String>,
    pub slots: HashMap<String, Slot>,
    /// The latest scored slice of this model: its as-of date and the users.
    pub predictions_as_of: Option<NaiveDate>,
    pub predictions: HashMap<String, UserRisk>,
    pub drift_max_psi: Option<f64>,
    pub loaded_at: DateTime<Utc>,
    /// The HTML report (`churn report`'s page) built at this load; None when
    /// building it failed (logged).
    pub report: Option<String>,
}

impl Loaded {
    fn new(version: Version, row: ModelRow, model: Model) -> Loaded {
        let numeric = model.numeric_features();
        let categorical = model.categorical_features();
        let mut slots: HashMap<String, Slot> = numeric
            .iter()
            .enumerate()
            .map(|(j, n)| (n.clone(), Slot::Numeric(j)))
            .collect();
        for c in &categorical {
            let k = CATEGORICAL
                .iter()
                .position(|x| x == c)
                .expect("known categorical");
            slots.insert(c.clone(), Slot::Categorical(k));
        }
        Loaded {
            version,
            row,
            model,
            numeric,
            categorical,
            slots,
            predictions_as_of: None,
            predictions: HashMap::new(),
            drift_max_psi: None,
            loaded_at: Utc::now(),
            report: None,
        }
    }

    /// The training mean of a numeric input (what a missing value becomes).
    pub fn mean_of(&self, feature: &str) -> Option<f64> {
        self.model
            .terms
            .iter()
            .find(|t| !t.is_categorical() && t.feature.as_deref() == Some(feature))
            .map(|t| t.center)
    }
}

/// The outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Reload {
    Loaded(String),
    Unchanged,
    NoModel(String),
    Failed(String),
}

impl Reload {
    pub fn label(&self) -> &'static str {
        match self {
            Reload::Loaded(_) => "loaded",
            Reload::Unchanged => "unchanged",
            Reload::NoModel(_) => "no_model",
            Reload::Failed(_) => "error",
        }
    }
}

/// The shared state of the server.
pub struct AppState {
    pub db: PathBuf,
    pub current: RwLock<Option<Arc<Loaded>>>,
    /// Why the server is not ready (no model yet, unreadable file).
    pub not_ready: Mutex<String>,
    pub metrics: Metrics,
    /// Whether the last reload failed (failures are logged once per streak).
    failing: Mutex<bool>,
}

impl AppState {
    pub fn new(db: &Path) -> Arc<AppState> {
        Arc::new(AppState {
            db: db.to_path_buf(),
            current: RwLock::new(None),
            not_ready: Mutex::new("no production model loaded yet".into()),
            metrics: Metrics::new(),
            failing: Mutex::new(false),
        })
    }

    /// The loaded model, if any (requests keep the Arc they started with).
    pub fn model(&self) -> Option<Arc<Loaded>> {
        self.current.read().expect("state lock").clone()
    }

    /// Installs a state (used by reload, and by tests).
    pub fn install(&self, loaded: Loaded) {
        self.metrics.model_swapped(&loaded);
        *self.current.write().expect("state lock") = Some(Arc::new(loaded));
    }

    /// Checks the file for a newer production model or slice and swaps it
    /// in; a locked, missing or unreadable file keeps the current state.
    pub fn reload(&self) -> Reload {
        let known = self.model().map(|m| m.version.clone());
        let outcome = match read_state(&self.db, known.as_ref()) {
            Ok(None) => Reload::Unchanged,
            Ok(Some(Err(reason))) => Reload::NoModel(reason),
            Ok(Some(Ok(loaded))) => {
                let id = loaded.version.model_id.clone();
                self.install(loaded);
                Reload::Loaded(id)
            }
            Err(e) => Reload::Failed(e.to_string()),
        };
        self.metrics.reloads.with_label_values(&[outcome.label()]).inc();
        let mut failing = self.failing.lock().expect("flag lock");
        match &outcome {
            Reload::Loaded(id) => {
                tracing::info!(model_id = %id, "serving production model {id}");
                *failing = false;
            }
            Reload::Unchanged => *failing = false,
            Reload::NoModel(reason) | Reload::Failed(reason) => {
                if !*failing {
                    tracing::warn!(
                        "model reload: {reason}; keeping the current state and retrying every interval"
                    );
                }
                *failing = true;
                if self.model().is_none() {
                    *self.not_ready.lock().expect("reason lock") = reason.clone();
                }
            }
        }
        outcome
    }
}

/// Reads the file: None when `known` is still current, Some(Err) when there
/// is no production model, Some(Ok) with a fresh state otherwise.
fn read_state(db: &Path, known: Option<&Version>) -> Result<Option<std::result::Result<Loaded, String>>> {
    let store = Store::open_existing(db, Access::ReadOnly, Duration::ZERO)?;
    let conn = &store.conn;
    if !store.table_exists("models")? {
        return Ok(Some(Err(format!(
            "{} has no models table yet: run `churn run` first",
            db.display()
        ))));
    }
    let Some(row) = registry::production(conn)? else {
        return Ok(Some(Err(format!(
            "{} has no production model yet: run `churn run --to promote`",
            db.display()
        ))));
    };
    let scored_at: Option<NaiveDateTime> = if store.table_exists("predictions")? {
        conn.query_row(
            "select max(scored_at) from predictions where model_id = ?",
            [&row.model_id],
            |r| r.get(0),
        )
        .context(|| "reading predictions".into())?
    } else {
        None
    };
    let drift: Option<(String, f64)> = if store.table_exists("drift_runs")? {
        conn.query_row(
            "select run_id, max_psi from drift_runs where model_id = ? order by checked_at desc limit 1",
            [&row.model_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .context(|| "reading drift_runs".into())?
    } else {
        None
    };
    let mut history: Option<NaiveDateTime> = None;
    for (table, column) in [("model_promotions", "promoted_at"), ("drift_runs", "checked_at")] {
        if store.table_exists(table)? {
            let newest: Option<NaiveDateTime> = conn
                .query_row(&format!("select max({column}) from {table}"), [], |r| r.get(0))
                .context(|| format!("reading {table}"))?;
            history = history.max(newest);
        }
    }
    let version = Version {
        model_id: row.model_id.clone(),
        scored_at,
        drift_run: drift.as_ref().map(|d| d.0.clone()),
        history,
    };
    if known == Some(&version) {
        return Ok(None);
    }
    let model = registry::load(conn, &row.model_id)?;
    let mut loaded = Loaded::new(version, row, model);
    loaded.drift_max_psi = drift.map(|d| d.1);
    if scored_at.is_some() {
        let as_of: Option<NaiveDate> = conn
            .query_row(
                "select max(as_of_date) from predictions where model_id = ?",
                [&loaded.row.model_id],
                |r| r.get(0),
            )
            .context(|| "reading predictions".into())?;
        if let Some(as_of) = as_of {
            let mut stmt = conn
                .prepare("select user_id, churn_risk, risk_rank from predictions where model_id = ? and as_of_date = ?")
                .context(|| "reading predictions".into())?;
            let rows = stmt
                .query_map(duckdb::params![loaded.row.model_id, as_of], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        UserRisk {
                            churn_risk: r.get(1)?,
                            risk_rank: r.get(2)?,
                        },
                    ))
                })
                .and_then(|rows| rows.collect::<std::result::Result<HashMap<_, _>, _>>())
                .context(|| "reading predictions".into())?;
            loaded.predictions = rows;
            loaded.predictions_as_of = Some(as_of);
        }
    }
    let report = crate::report::gather_for(&store, Some((loaded.row.clone(), &loaded.model)));
    loaded.report = match report.and_then(|r| crate::report::render(&r)) {
        Ok(html) => Some(html),
        Err(e) => {
            tracing::warn!("model reload: the report could not be built: {e}");
            None
        }
    };
    drop(store);
    Ok(Some(Ok(loaded)))
}

/// A state built from a model and slice in hand (for tests).
pub fn loaded_from(
    row: ModelRow,
    model: Model,
    predictions_as_of: Option<NaiveDate>,
    predictions: HashMap<String, UserRisk>,
) -> Loaded {
    let version = Version {
        model_id: row.model_id.clone(),
        scored_at: None,
        drift_run: None,
        history: None,
    };
    let mut l = Loaded::new(version, row, model);
    l.predictions_as_of = predictions_as_of;
    l.predictions = predictions;
    l
}
