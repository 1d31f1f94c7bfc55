//! train: fit a candidate on `training_set` (purged time split), evaluate it
//! on the test dates, and register it with its terms (docs/design.md §3).

use chrono::Utc;
use duckdb::Connection;
use ndarray::Array1;

use crate::config::{ClassWeight, Config, SAMPLE_SEED};
use crate::error::{Context, Error, Result};
use crate::model::Model;
use crate::model::baseline::Tally;
use crate::model::frame::{Sample, Split, day_to_date};
use crate::model::logistic::{self, Params};
use crate::model::metrics::{self, Metrics};
use crate::model::preprocess::{INTERCEPT, Preprocessor, Term, design};
use crate::model::profile::{ReferenceBin, reference_profile};
use crate::model::{baseline, bootstrap};
use crate::stages::{Ctx, Outcome, StageDef};
use crate::store::frames::{as_of_days, load_sampled, numeric_features};
use crate::store::models::{self, ModelRow, Quality};
use crate::store::scored::{columns_of, score_rows};
use crate::store::status::ModelStatus;
use crate::store::truth;

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
        balanced: config.train.class_weight == ClassWeight::Balanced,
        ..Params::default()
    }
}

/// The seed of the bootstrap's resamples: the same test rows give the same
/// intervals.
pub const BOOTSTRAP_SEED: u64 = 42;

fn rate(labels: &[f64]) -> f64 {
    labels.iter().sum::<f64>() / labels.len().max(1) as f64
}

/// Makes `training_set` the rows of Parquet `files` for this connection (a
/// temporary view over DuckDB's `read_parquet`, which shadows the table):
/// the training set another engine wrote (Spark, `churn sql --dialect
/// spark training-set`) is read in place, with the same sampling and
/// streaming as the table. `files` is a file, a glob, or a folder (its
/// `*.parquet` files at any depth); s3:// paths use the httpfs and aws
/// extensions with the credentials of the environment (a pod's role).
pub fn read_training_set_from(conn: &Connection, files: &str) -> Result<()> {
    let source = crate::store::parquet_source(conn, files)?;
    conn.execute_batch(&format!(
        "create or replace temp view training_set as select * from {source}"
    ))
    .context(|| {
        format!(
            "--training-set {files}: no Parquet training set there; give the folder Spark wrote \
                 (e.g. lake/training_set), a file or a glob"
        )
    })?;
    let columns: Vec<String> = {
        let mut stmt = conn
            .prepare("select column_name from (describe training_set)")
            .context(|| format!("--training-set {files}: reading its columns"))?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .context(|| format!("--training-set {files}: reading its columns"))?
    };
    let missing: Vec<&str> = ["user_id", "as_of_date", "churn_label"]
        .into_iter()
        .filter(|c| !columns.iter().any(|have| have == c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "--training-set {files}: the files lack the column(s) {}; they are not a training set (build one \
             with the training-set stage, or `churn sql --dialect spark training-set`)",
            missing.join(", ")
        )));
    }
    tracing::info!(files, "training set read from Parquet files");
    Ok(())
}

/// Fits and evaluates a model on the current `training_set`.
///
/// The train rows are read into memory (one as-of date in
/// `train.as_of_every_days` per user when sampled); the test rows are
/// streamed a chunk at a time and kept only as scores, labels and user
/// codes, so every test row counts however many there are.
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
        config.train.window_days,
    )?;
    let numeric = numeric_features(conn, "training_set")?;
    let available = crate::store::frames::count(conn, "training_set", &split.train())?;
    // What a training row takes in memory: its numeric columns in the
    // frame and its terms in the design matrix.
    let values_per_row = (numeric.len()
        + Preprocessor::most_numeric_terms(&numeric, config.train.log1p, config.train.day_bits))
        as u64;
    let every = config.train.every_days(available, values_per_row);
    let sample = if every > 1 {
        Sample::EveryDays {
            every,
            seed: SAMPLE_SEED,
        }
    } else {
        Sample::All
    };
    tracing::info!(
        train_rows = available,
        every_days = every,
        train_from = %day_to_date(split.train_from),
        train_to = %day_to_date(split.train_to),
        test_from = %day_to_date(split.test_from),
        test_to = %day_to_date(split.test_to),
        "train: reading the training rows{}",
        if every > 1 {
            format!(" (one as-of date in {every} per user)")
        } else {
            String::new()
        }
    );
    let frame = load_sampled(conn, "training_set", &split.train(), &numeric, true, sample)?;
    done(&format!("read {} train rows of training_set", frame.len()));
    let train_rows: Vec<usize> = (0..frame.len()).collect();

    let pre = Preprocessor::fit(&frame, &train_rows, config.train.log1p, config.train.day_bits);
    if !pre.dropped.is_empty() {
        tracing::info!(columns = ?pre.dropped, "dropped numeric columns with zero variance on the training rows");
    }
    done("fitted the input transform");
    let x = design(&pre.terms, &frame, &train_rows);
    let y: Array1<f64> = frame.label.iter().copied().collect();
    done("built the design matrix");
    tracing::info!(
        rows = x.nrows(),
        inputs = x.ncols(),
        "train: fitting the logistic regression"
    );
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

    // Balanced weights fit a world where both classes are equally common:
    // shift the intercept by the training log-odds so the score is the
    // probability of churn again.
    let prior_offset = if params.balanced {
        logistic::balanced_prior_offset(y.view())
    } else {
        0.0
    };
    let mut terms = vec![Term {
        term: INTERCEPT.to_string(),
        feature: None,
        category: None,
        center: 0.0,
        scale: 1.0,
        coefficient: fit.intercept + prior_offset,
        transform: Default::default(),
        by: None,
    }];
    terms.extend(pre.terms.iter().zip(fit.coefficients.iter()).map(|(t, &b)| Term {
        coefficient: b,
        ..t.clone()
    }));
    let now = Utc::now().naive_utc();
    let model = Model {
        model_id: models::new_model_id(now),
        terms,
    };
    // The drift reference: the training rows and their scores, binned.
    let train_scores = model.predict_design(&x);
    drop(x);
    let reference = reference_profile(&model, &frame, &train_rows, &train_scores, config.drift.bins)?;
    let (n_train, pos_rate_train) = (frame.len(), rate(&frame.label));
    drop(frame);
    done("scored the train rows and binned the drift reference");

    // Every test row, scored and counted for the single-input baselines.
    let test_rows = split.test();
    tracing::info!("train: scoring every test row");
    let mut tally = Tally::new(&numeric);
    let test = score_rows(
        conn,
        "training_set",
        &test_rows,
        &numeric,
        &[&model],
        true,
        |chunk, _| {
            tally.add(chunk, &(0..chunk.len()).collect::<Vec<_>>());
            Ok(())
        },
    )?;
    let test_scores = &test.scores[0];
    done(&format!("scored the {} test rows", test.len()));
    let metrics = metrics::evaluate(&test.label, test_scores)?;
    done("measured the test metrics");
    // The same test rows ranked by every single numeric input, both ways.
    let baselines = tally.finish()?;
    let best = baselines.first().cloned();
    done("ranked the test rows by every single input");
    // Two columns of the test rows again, in one pass: the best input's
    // values as it ranks them (for the bootstrap, and for the oracle's
    // sample of a large test set), and the days since the last activity
    // (for the segments).
    const SILENCE: &str = "days_since_last_activity";
    let ranked = best
        .as_ref()
        .filter(|_| config.train.bootstrap > 0 || test.len() > truth::ORACLE_ROWS);
    let read: Vec<String> = ranked
        .map(|b| b.feature.clone())
        .into_iter()
        .chain(numeric.iter().find(|c| *c == SILENCE).cloned())
        .collect();
    let mut columns = if read.is_empty() {
        Vec::new()
    } else {
        columns_of(conn, "training_set", &test_rows, &read, &test)?
    }
    .into_iter();
    let ranking: Option<Vec<f64>> = ranked.map(|b| {
        let null = tally.null_value(&b.feature).unwrap_or(0.0);
        let values = columns.next().expect("the best input's column was read");
        values.into_iter().map(|v| b.ranking_score(v, null)).collect()
    });
    let silence: Option<Vec<f64>> = columns.next();
    if !read.is_empty() {
        done(&format!("read {} of the test rows again", read.join(" and ")));
    }
    let intervals = match &ranking {
        Some(ranking) if config.train.bootstrap > 0 => bootstrap::user_clustered(
            &test.user_by_id(),
            &test.label,
            test_scores,
            ranking,
            config.train.bootstrap,
            BOOTSTRAP_SEED,
        ),
        _ => None,
    };
    done("bootstrapped the intervals");
    // The best possible on the same rows (or a sample of their users), on
    // generated data.
    let test_dates = (day_to_date(split.test_from), day_to_date(split.test_to));
    let rows = truth::TestRows {
        scored: &test,
        baseline: ranking.as_deref(),
    };
    let ceiling = truth::ceiling(conn, config, test_dates, &rows)?;
    let gap_closed = match (&best, ceiling.pr_auc()) {
        (Some(b), Some(oracle)) => ceiling.share(metrics.pr_auc, Some(b.pr_auc), oracle),
        _ => None,
    };
    done("measured the Bayes oracle on the test rows");
    // Who is on the list: the ranking within the recently active and the
    // lapsing, and on generated data the share who had already left.
    let segments = if let Some(silence) = &silence {
        vec![
            metrics::segment("active in the last 2 days", &test.label, test_scores, |i| silence[i] <= 1.0),
            metrics::segment("quiet for 3 to 7 days", &test.label, test_scores, |i| {
                (3.0..=7.0).contains(&silence[i])
            }),
        ]
    } else {
        Vec::new()
    };
    let already_left = match ceiling {
        truth::Ceiling::Measured { .. } => Some(truth::already_left(conn, &test)?),
        truth::Ceiling::Unknown { .. } => None,
    };
    done("measured the segments");
    let row = ModelRow {
        model_id: model.model_id.clone(),
        algorithm: "logistic_regression".to_string(),
        role: role.to_string(),
        status: ModelStatus::Candidate,
        created_at: now,
        train_from: day_to_date(split.train_from),
        train_to: day_to_date(split.train_to),
        test_from: day_to_date(split.test_from),
        test_to: day_to_date(split.test_to),
        n_train: n_train as i64,
        n_test: test.len() as i64,
        pos_rate_train,
        pos_rate_test: rate(&test.label),
        pr_auc: metrics.pr_auc,
        roc_auc: metrics.roc_auc,
        log_loss: metrics.log_loss,
        brier: metrics.brier,
        // The test metrics, with the ten best single inputs and the
        // bootstrap intervals beside them.
        metrics_json: {
            let mut json = serde_json::to_value(&metrics).unwrap_or_default();
            json["baselines"] = serde_json::json!(baselines.iter().take(10).collect::<Vec<_>>());
            json["intervals"] = serde_json::json!(intervals);
            json["oracle"] = serde_json::json!(ceiling);
            json["segments"] = serde_json::json!(segments);
            json["already_left"] = serde_json::json!(already_left);
            json.to_string()
        },
        params_json: serde_json::json!({
            "c": params.c,
            "max_iter": params.max_iter,
            "tol": params.tol,
            "class_weight": config.train.class_weight.as_str(),
            "prior_offset": prior_offset,
            "solver": "argmin L-BFGS (m = 10) + More-Thuente",
            "test_fraction": config.train.test_fraction,
            "purge_days": purge,
            "window_days": config.train.window_days,
            "log1p": config.train.log1p,
            "day_bits": config.train.day_bits,
            "as_of_every_days": every,
            "max_rows": config.train.max_rows,
            "max_values": config.train.max_values,
            "sample_seed": SAMPLE_SEED,
            "train_rows_available": available,
            "population": config.labels.population.as_str(),
            "horizon_days": config.labels.horizon_days,
            "inactive_days": config.labels.inactive_days,
            "recent_days": config.labels.recent_days,
            "categorical": crate::model::frame::CATEGORICAL,
            "dropped_columns": pre.dropped,
            "converged": fit.converged,
            "iterations": fit.iterations,
            "grad_norm": fit.grad_norm,
            "termination": fit.termination,
            "objective": fit.objective,
            "fit_seconds": fit_seconds,
        })
        .to_string(),
        quality: Quality {
            class_weight: Some(config.train.class_weight.as_str().to_string()),
            mean_risk: Some(metrics.mean_predicted),
            ece: Some(metrics.ece),
            brier_constant: Some(metrics.brier_constant),
            log_loss_constant: Some(metrics.log_loss_constant),
            baseline_feature: best.as_ref().map(baseline::Baseline::describe),
            baseline_pr_auc: best.as_ref().map(|b| b.pr_auc),
            pr_auc_low: intervals.as_ref().map(|i| i.pr_auc.low),
            pr_auc_high: intervals.as_ref().map(|i| i.pr_auc.high),
            roc_auc_low: intervals.as_ref().map(|i| i.roc_auc.low),
            roc_auc_high: intervals.as_ref().map(|i| i.roc_auc.high),
            lift_low: intervals.as_ref().map(|i| i.pr_auc_lift.low),
            lift_high: intervals.as_ref().map(|i| i.pr_auc_lift.high),
            oracle_pr_auc: ceiling.pr_auc(),
            gap_closed,
        },
    };
    Ok(Trained {
        row,
        model,
        metrics,
        split,
        reference,
    })
}

/// Stores a fitted candidate: its row, its terms, its drift reference and
/// the loads it was trained on.
pub fn register(conn: &Connection, config: &Config, t: &Trained) -> Result<()> {
    models::insert(conn, &t.row, &t.model.terms)?;
    models::record_training_data(conn, &t.row.model_id)?;
    models::store_reference(conn, &t.row.model_id, config.drift.bins, &t.reference)
}

pub fn run(conn: &Connection, config: &Config) -> Result<Outcome> {
    let _memory = crate::store::leave_memory_to_rust(conn, "train");
    let t = fit_candidate(conn, config, "train")?;
    register(conn, config, &t)?;
    Ok(Outcome {
        rows_out: t.model.terms.len() as i64,
        params: serde_json::json!({
            "model_id": t.row.model_id,
            "pr_auc": t.metrics.pr_auc,
            "ece": t.metrics.ece,
            "baseline_pr_auc": t.row.quality.baseline_pr_auc,
        }),
        failure: None,
        summary: format!(
            "{} trained on {} rows ({} to {}), tested on {} rows ({} to {}): PR-AUC {:.4}, ROC-AUC {:.4}; \
             mean risk {:.4} vs observed {:.4}, ECE {:.4}, Brier {:.4} vs constant {:.4}; best single input {} \
             PR-AUC {:.4}",
            t.row.model_id,
            t.row.n_train,
            t.row.train_from,
            t.row.train_to,
            t.row.n_test,
            t.row.test_from,
            t.row.test_to,
            t.metrics.pr_auc,
            t.metrics.roc_auc,
            t.metrics.mean_predicted,
            t.metrics.base_rate,
            t.metrics.ece,
            t.metrics.brier,
            t.metrics.brier_constant,
            t.row.quality.baseline_feature.as_deref().unwrap_or("none"),
            t.row.quality.baseline_pr_auc.unwrap_or(f64::NAN),
        ),
    })
}

/// The train stage (docs/design.md §3): fit, measure and register a
/// candidate.
#[derive(Debug, Default)]
pub struct Train;

impl StageDef for Train {
    fn name(&self) -> &'static str {
        "train"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["training_set"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &["models", "model_terms", "model_reference_bins", "model_data"]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config)
    }
}
