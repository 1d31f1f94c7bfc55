//! train: fit a candidate on `training_set` (purged time split), evaluate it
//! on the test dates, and register it with its terms (DESIGN §3).

use chrono::Utc;
use duckdb::Connection;
use ndarray::Array1;

use crate::config::Config;
use crate::error::Result;
use crate::model::data::{Frame, Split, as_of_days, day_to_date, load, numeric_features};
use crate::model::logistic::{self, Params};
use crate::model::metrics::{self, Metrics};
use crate::model::preprocess::{INTERCEPT, Preprocessor, Term, design};
use crate::model::registry::{self, ModelRow};
use crate::model::{Model, data};
use crate::stages::Outcome;
use crate::stages::drift::{self, ReferenceBin};

/// A fitted, evaluated candidate before it is stored.
pub struct Trained {
    pub row: ModelRow,
    pub model: Model,
    pub metrics: Metrics,
    pub split: Split,
    /// The training rows binned for drift (`model_reference_bins`).
    pub reference: Vec<ReferenceBin>,
}

fn params(config: &Config) -> Params {
    Params {
        c: config.train.c,
        max_iter: u64::from(config.train.max_iter),
        ..Params::default()
    }
}

fn rate(frame: &Frame, rows: &[usize]) -> f64 {
    rows.iter().map(|&i| frame.label[i]).sum::<f64>() / rows.len().max(1) as f64
}

/// Fits and evaluates a model on the current `training_set`.
pub fn fit_candidate(conn: &Connection, config: &Config, role: &str) -> Result<Trained> {
    let params = params(config);
    params.validate()?;
    // How long each step took, for `-v`.
    let mut phase = std::time::Instant::now();
    let mut done = |step: &str| {
        tracing::debug!(seconds = phase.elapsed().as_secs_f64(), "{step}");
        phase = std::time::Instant::now();
    };
    let purge = config.labels.look_ahead_days();
    // The split comes from the dates alone, so only the train and test rows
    // are read: the purge gap between them (a third of the rows with the
    // default config) never leaves DuckDB.
    let split = Split::by_date(
        &as_of_days(conn, "training_set")?,
        config.train.test_fraction,
        purge,
    )?;
    let numeric = numeric_features(conn, "training_set")?;
    let frame = load(conn, "training_set", &split.rows(), &numeric, true)?;
    done(&format!("read {} rows of training_set", frame.len()));
    let (train_rows, test_rows) = (split.train_rows(&frame.as_of), split.test_rows(&frame.as_of));

    let pre = Preprocessor::fit(&frame, &train_rows);
    if !pre.dropped.is_empty() {
        tracing::info!(columns = ?pre.dropped, "dropped numeric columns with zero variance on the training rows");
    }
    done("fitted the input transform");
    let x = design(&pre.terms, &frame, &train_rows);
    let y: Array1<f64> = train_rows.iter().map(|&i| frame.label[i]).collect();
    done("built the design matrix");
    let started = std::time::Instant::now();
    let fit = logistic::fit(&x, &y, &params)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    done("fitted the model");
    if !fit.converged {
        tracing::warn!(
            iterations = fit.iterations,
            grad_norm = fit.grad_norm,
            "L-BFGS did not converge ({}); the model is stored with converged = false. \
             Raise train.max_iter or lower train.c",
            fit.termination
        );
    }

    let mut terms = vec![Term {
        term: INTERCEPT.to_string(),
        feature: None,
        category: None,
        center: 0.0,
        scale: 1.0,
        coefficient: fit.intercept,
    }];
    terms.extend(pre.terms.iter().zip(fit.coefficients.iter()).map(|(t, &b)| Term {
        coefficient: b,
        ..t.clone()
    }));
    let now = Utc::now().naive_utc();
    let model = Model {
        model_id: registry::new_model_id(now),
        terms,
    };
    // The drift reference: the training rows and their scores, binned.
    let train_scores = model.predict_design(&x);
    drop(x);
    let reference = drift::reference_profile(&model, &frame, &train_rows, &train_scores, config.drift.bins)?;
    done("scored the train rows and binned the drift reference");
    let test_scores = model.predict(&frame, &test_rows);
    let test_labels: Vec<f64> = test_rows.iter().map(|&i| frame.label[i]).collect();
    let metrics = metrics::evaluate(&test_labels, &test_scores)?;
    done("evaluated on the test rows");
    let row = ModelRow {
        model_id: model.model_id.clone(),
        algorithm: "logistic_regression".to_string(),
        role: role.to_string(),
        status: "candidate".to_string(),
        created_at: now,
        train_from: day_to_date(split.train_from),
        train_to: day_to_date(split.train_to),
        test_from: day_to_date(split.test_from),
        test_to: day_to_date(split.test_to),
        n_train: train_rows.len() as i64,
        n_test: test_rows.len() as i64,
        pos_rate_train: rate(&frame, &train_rows),
        pos_rate_test: rate(&frame, &test_rows),
        pr_auc: metrics.pr_auc,
        roc_auc: metrics.roc_auc,
        log_loss: metrics.log_loss,
        brier: metrics.brier,
        metrics_json: serde_json::to_string(&metrics).unwrap_or_default(),
        params_json: serde_json::json!({
            "c": params.c,
            "max_iter": params.max_iter,
            "tol": params.tol,
            "class_weight": "balanced",
            "solver": "argmin L-BFGS (m = 10) + More-Thuente",
            "test_fraction": config.train.test_fraction,
            "purge_days": purge,
            "population": config.labels.population.as_str(),
            "horizon_days": config.labels.horizon_days,
            "inactive_days": config.labels.inactive_days,
            "recent_days": config.labels.recent_days,
            "categorical": data::CATEGORICAL,
            "dropped_columns": pre.dropped,
            "converged": fit.converged,
            "iterations": fit.iterations,
            "grad_norm": fit.grad_norm,
            "termination": fit.termination,
            "objective": fit.objective,
            "fit_seconds": fit_seconds,
        })
        .to_string(),
    };
    Ok(Trained {
        row,
        model,
        metrics,
        split,
        reference,
    })
}

/// Stores a fitted candidate: its row, its terms and its drift reference.
pub fn register(conn: &Connection, config: &Config, t: &Trained) -> Result<()> {
    registry::insert(conn, &t.row, &t.model.terms)?;
    drift::store_reference(conn, &t.row.model_id, config.drift.bins, &t.reference)
}

pub fn run(conn: &Connection, config: &Config) -> Result<Outcome> {
    let t = fit_candidate(conn, config, "train")?;
    register(conn, config, &t)?;
    Ok(Outcome {
        rows_out: t.model.terms.len() as i64,
        params: serde_json::json!({"model_id": t.row.model_id, "pr_auc": t.metrics.pr_auc}),
        failure: None,
        summary: format!(
            "{} trained on {} rows ({} to {}), tested on {} rows ({} to {}): PR-AUC {:.4}, ROC-AUC {:.4}, \
             base rate {:.4}",
            t.row.model_id,
            t.row.n_train,
            t.row.train_from,
            t.row.train_to,
            t.row.n_test,
            t.row.test_from,
            t.row.test_to,
            t.metrics.pr_auc,
            t.metrics.roc_auc,
            t.metrics.base_rate
        ),
    })
}
