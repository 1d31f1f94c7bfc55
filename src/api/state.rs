//! What the API serves from: the production model and its latest batch
//! predictions, loaded from the DuckDB file (opened read-only, then closed)
//! and swapped atomically when a newer model or slice appears.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use duckdb::OptionalExt;

use crate::api::answer::RiskAnswers;
use crate::api::metrics::{Gauges, Metrics};
use crate::error::{Context, Result};
use crate::model::Model;
use crate::model::frame::CATEGORICAL;
use crate::model::preprocess::Term;
use crate::store::drift::DriftRun;
use crate::store::models::{self, ModelRow};
use crate::store::{self, Access, Store, predictions};

/// Where a request's feature goes in the model's input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Numeric(usize),
    Categorical(usize),
}

pub use crate::store::predictions::{Names, UserRisk};

/// One input term of the served model, resolved once at load against the
/// request's slots: what /predict adds to the margin for it, with no name
/// looked up per request.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// coefficient × `term.z_by(x, y)` of numeric slot `j` and slot `by`
    /// (None: y = 1) (`Term::z_by`, the one definition of a numeric term: a
    /// missing x or y adds 0).
    Numeric { j: usize, by: Option<usize>, term: Term },
    /// `coefficient` when categorical slot `k` holds `category`.
    Category {
        k: usize,
        category: String,
        coefficient: f64,
    },
}

/// A stage's record in `pipeline_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRun {
    pub stage: String,
    pub last_success: Option<NaiveDateTime>,
    /// Whether its latest run ended "failed" (a crash, not a verdict).
    pub last_failed: bool,
}

/// What identifies a loaded state: a change of any part triggers a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub model_id: String,
    pub scored_at: Option<NaiveDateTime>,
    pub drift_run: Option<String>,
    /// The newest promotion decision, drift check, evaluation or stage run:
    /// the report and the batch gauges change with them.
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
    /// The model's terms as /predict adds them, and its intercept.
    pub inputs: Vec<Input>,
    pub intercept: f64,
    /// The latest scored slice: its as-of date, the model that scored it
    /// (this one, or the previous production model until this one has
    /// scored: no known user gets a 404 across a promotion), when it was
    /// scored, and the users.
    pub predictions_as_of: Option<NaiveDate>,
    pub predictions_model_id: Option<String>,
    pub predictions_scored_at: Option<NaiveDateTime>,
    pub predictions: HashMap<String, UserRisk>,
    /// What the slice's `GET /users/{id}/risk` answers share, written once.
    pub answers: RiskAnswers,
    /// The model's last drift check.
    pub drift: Option<DriftRun>,
    /// The model's last realised-performance window: PR-AUC and its drop
    /// below the test PR-AUC.
    pub realised: Option<(f64, f64)>,
    /// Each stage's last successful run, and whether its last run failed.
    pub stage_runs: Vec<StageRun>,
    pub loaded_at: DateTime<Utc>,
    /// The HTML report (`churn report`'s page), built at the first request
    /// for it and kept for this version (its queries scan the big tables:
    /// 11 s at a million users, which readiness does not wait for); the
    /// reason when building it failed (logged).
    pub report: std::sync::OnceLock<std::result::Result<String, String>>,
}

impl Loaded {
    /// The margin (log-odds) of one instance: the intercept plus each
    /// term's contribution, as `Model::predict` sums them (a missing number
    /// or an unknown category adds 0).
    pub fn margin(&self, numeric: &[f64], categorical: &[Option<String>; 3]) -> f64 {
        let mut margin = self.intercept;
        for input in &self.inputs {
            margin += match input {
                Input::Numeric { j, by, term } => {
                    term.z_by(numeric[*j], by.map_or(1.0, |b| numeric[b])) * term.coefficient
                }
                Input::Category {
                    k,
                    category,
                    coefficient,
                } => {
                    if categorical[*k].as_deref() == Some(category.as_str()) {
                        *coefficient
                    } else {
                        0.0
                    }
                }
            };
        }
        margin
    }

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
        let inputs = model
            .terms
            .iter()
            .filter(|t| !t.is_intercept())
            .filter_map(|t| match (slots.get(t.feature.as_deref()?)?, &t.category) {
                (Slot::Numeric(j), None) => Some(Input::Numeric {
                    j: *j,
                    by: match t.by.as_deref().map(|b| slots.get(b)) {
                        None => None,
                        Some(Some(Slot::Numeric(b))) => Some(*b),
                        // numeric_features lists every by column
                        Some(_) => return None,
                    },
                    term: t.clone(),
                }),
                (Slot::Categorical(k), Some(category)) => Some(Input::Category {
                    k: *k,
                    category: category.clone(),
                    coefficient: t.coefficient,
                }),
                _ => None,
            })
            .collect();
        let intercept = model.intercept();
        Loaded {
            version,
            row,
            model,
            numeric,
            categorical,
            slots,
            inputs,
            intercept,
            predictions_as_of: None,
            predictions_model_id: None,
            predictions_scored_at: None,
            predictions: HashMap::new(),
            answers: RiskAnswers::default(),
            drift: None,
            realised: None,
            stage_runs: Vec::new(),
            loaded_at: Utc::now(),
            report: std::sync::OnceLock::new(),
        }
    }

    /// Serves `rows`, the slice `model_id` scored on `as_of`, whose reasons
    /// name `names`.
    pub fn serve_slice(
        &mut self,
        model_id: String,
        as_of: NaiveDate,
        rows: HashMap<String, UserRisk>,
        names: &Names,
    ) {
        self.answers = RiskAnswers::new(&model_id, as_of, names, rows.values());
        self.predictions = rows;
        self.predictions_as_of = Some(as_of);
        self.predictions_model_id = Some(model_id);
    }

    /// What the metrics show of this state.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            model_id: self.version.model_id.clone(),
            pr_auc: self.row.pr_auc,
            created_at_s: self.row.created_at.and_utc().timestamp() as f64,
            drift_max_psi: self.drift.as_ref().map(|d| d.max_psi),
            drift_status: self.drift.as_ref().map(|d| d.status),
            realised: self.realised,
            predictions_scored_at_s: self.predictions_scored_at.map(|t| t.and_utc().timestamp() as f64),
            stage_runs: self
                .stage_runs
                .iter()
                .map(|r| {
                    (
                        r.stage.clone(),
                        r.last_success.map(|t| t.and_utc().timestamp() as f64),
                        r.last_failed,
                    )
                })
                .collect(),
        }
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

/// Whether the server can answer with a model.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// Not yet: the public reason (no paths, no engine messages).
    NotReady(String),
    Ready(Arc<Loaded>),
}

/// The shared state of the server.
pub struct AppState {
    pub db: PathBuf,
    /// Read on every request, written at a reload: an `ArcSwap`, whose
    /// readers (`load`) take no lock and, holding the guard, need not
    /// count a reference to the model.
    pub readiness: ArcSwap<Readiness>,
    pub metrics: Metrics,
    /// The bearer token of /report, /model and /users/{id}/risk (none: open).
    pub token: Option<String>,
    /// Requests in flight beyond this many are refused with a 503 at once.
    pub in_flight: tokio::sync::Semaphore,
    /// Whether the last reload failed (failures are logged once per streak).
    failing: Mutex<bool>,
}

/// Most requests in flight at once.
pub const MAX_IN_FLIGHT: usize = 512;

impl AppState {
    pub fn new(db: &Path) -> Arc<AppState> {
        AppState::with_token(db, None)
    }

    pub fn with_token(db: &Path, token: Option<String>) -> Arc<AppState> {
        Arc::new(AppState {
            db: db.to_path_buf(),
            readiness: ArcSwap::from_pointee(Readiness::NotReady("no production model loaded yet".into())),
            metrics: Metrics::new(),
            token: token.filter(|t| !t.is_empty()),
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            failing: Mutex::new(false),
        })
    }

    /// The loaded model, if any (requests keep the Arc they started with).
    pub fn model(&self) -> Option<Arc<Loaded>> {
        match &**self.readiness.load() {
            Readiness::Ready(m) => Some(m.clone()),
            Readiness::NotReady(_) => None,
        }
    }

    /// Why the server is not ready (None when it is).
    pub fn not_ready_reason(&self) -> Option<String> {
        match &**self.readiness.load() {
            Readiness::Ready(_) => None,
            Readiness::NotReady(reason) => Some(reason.clone()),
        }
    }

    /// Installs a state (used by reload, and by tests).
    pub fn install(&self, loaded: Loaded) {
        self.metrics.model_swapped(&loaded.gauges());
        self.readiness.store(Arc::new(Readiness::Ready(Arc::new(loaded))));
    }

    /// Checks the file for a newer production model or slice and swaps it
    /// in; a locked, missing or unreadable file keeps the current state.
    /// The full reason of a failure goes to the log; readiness keeps a short
    /// one for the answers.
    pub fn reload(&self) -> Reload {
        let known = self.model().map(|m| m.version.clone());
        let mut public = "no production model in the database yet: run `churn run --to promote`";
        let outcome = match read_state(&self.db, known.as_ref()) {
            Ok(None) => Reload::Unchanged,
            Ok(Some(Err(reason))) => Reload::NoModel(reason),
            Ok(Some(Ok(loaded))) => {
                let id = loaded.version.model_id.clone();
                self.install(loaded);
                Reload::Loaded(id)
            }
            Err(e) => {
                public = match &e {
                    crate::error::Error::MissingInput(_) => {
                        "the database does not exist yet: `churn run` creates it; retrying"
                    }
                    crate::error::Error::Locked { .. } => {
                        "the database is busy (another churn command is writing it); retrying"
                    }
                    _ => "the database could not be read (the server log says why); retrying",
                };
                Reload::Failed(e.to_string())
            }
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
                    self.readiness.store(Arc::new(Readiness::NotReady(public.into())));
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
    let Some(row) = models::production(conn)? else {
        return Ok(Some(Err(format!(
            "{} has no production model yet: run `churn run --to promote`",
            db.display()
        ))));
    };
    let scored_at = if store.table_exists("predictions")? {
        predictions::last_scored_at(conn, &row.model_id)?
    } else {
        None
    };
    let drift = if store.table_exists("drift_runs")? {
        crate::store::drift::latest_run(conn, Some(&row.model_id))?
    } else {
        None
    };
    let mut present = Vec::new();
    for (table, column) in [
        ("model_promotions", "promoted_at"),
        ("drift_runs", "checked_at"),
        ("performance_runs", "evaluated_at"),
        ("pipeline_runs", "finished_at"),
    ] {
        if store.table_exists(table)? {
            present.push(serde_json::json!({"table": table, "column": column}));
        }
    }
    let history: Option<NaiveDateTime> = if present.is_empty() {
        None
    } else {
        let sql = store::render_query("history_latest", &serde_json::json!({"tables": present}))?;
        conn.query_row(&sql, [], |r| r.get(0))
            .context(|| "reading the history tables".into())?
    };
    let version = Version {
        model_id: row.model_id.clone(),
        scored_at,
        drift_run: drift.as_ref().map(|d| d.run_id.clone()),
        history,
    };
    if known == Some(&version) {
        return Ok(None);
    }
    let model = models::load(conn, &row.model_id)?;
    let mut loaded = Loaded::new(version, row, model);
    loaded.drift = drift;
    loaded.realised = if store.table_exists("performance_runs")? {
        conn.query_row(
            store::query("performance_window_latest"),
            [&loaded.row.model_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .context(|| "reading performance_runs".into())?
    } else {
        None
    };
    if store.table_exists("pipeline_runs")? {
        loaded.stage_runs = conn
            .prepare(store::query("stage_runs"))
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(StageRun {
                        stage: r.get(0)?,
                        last_success: r.get(1)?,
                        last_failed: r.get(2)?,
                    })
                })?
                .collect()
            })
            .context(|| "reading pipeline_runs".into())?;
    }
    // The slice to serve: the production model's latest, else (right after
    // a promotion, before it has scored) the newest slice of any model.
    let slice = if store.table_exists("predictions")? {
        predictions::served_slice(conn, &loaded.row.model_id)?
    } else {
        None
    };
    if let Some(slice) = slice {
        let mut rows = predictions::slice_rows(conn, &slice)?.into_iter().collect();
        let names = if store.table_exists("prediction_reasons")? {
            predictions::add_reasons(conn, &slice, &mut rows)?
        } else {
            Names::default()
        };
        loaded.serve_slice(slice.model_id, slice.as_of_date, rows, &names);
        loaded.predictions_scored_at = Some(slice.scored_at);
    }
    drop(store);
    Ok(Some(Ok(loaded)))
}

/// The report page of `loaded`'s model from the file `db` (read-only).
pub fn build_report(db: &Path, loaded: &Loaded) -> std::result::Result<String, String> {
    Store::open_existing(db, Access::ReadOnly, Duration::ZERO)
        .and_then(|store| {
            // The server's memory is the pod's: DuckDB gets the streaming
            // share, not 40% of the machine.
            let _memory = crate::store::leave_memory_to_rust(&store.conn, "report");
            crate::report::gather_for(&store, Some((loaded.row.clone(), &loaded.model)))
        })
        .and_then(|r| crate::report::render(&r))
        .map_err(|e| {
            tracing::warn!("the report could not be built: {e}");
            e.to_string()
        })
}

/// A state built from a model and slice in hand (for tests).
pub fn loaded_from(
    row: ModelRow,
    model: Model,
    predictions_as_of: Option<NaiveDate>,
    predictions: HashMap<String, UserRisk>,
    names: &Names,
) -> Loaded {
    let version = Version {
        model_id: row.model_id.clone(),
        scored_at: None,
        drift_run: None,
        history: None,
    };
    let mut l = Loaded::new(version, row, model);
    if let Some(as_of) = predictions_as_of {
        l.serve_slice(l.row.model_id.clone(), as_of, predictions, names);
    }
    l
}
