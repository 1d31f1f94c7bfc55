//! The model registry: `models`, `model_terms`, `model_promotions` and the
//! view `production_model` (docs/design.md §3). Promotion keeps exactly one
//! production model and records every decision.

use chrono::{NaiveDate, NaiveDateTime, Utc};
use duckdb::{Connection, OptionalExt, params};
use rand::Rng;

use crate::error::{Context, Error, Result};
use crate::model::Model;
use crate::model::preprocess::{Term, Transform};
use crate::model::profile::ReferenceBin;
use crate::store::status::ModelStatus;

/// One row of `models`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelRow {
    pub model_id: String,
    pub algorithm: String,
    pub role: String,
    pub status: ModelStatus,
    pub created_at: NaiveDateTime,
    pub train_from: NaiveDate,
    pub train_to: NaiveDate,
    pub test_from: NaiveDate,
    pub test_to: NaiveDate,
    pub n_train: i64,
    pub n_test: i64,
    pub pos_rate_train: f64,
    pub pos_rate_test: f64,
    pub pr_auc: f64,
    pub roc_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub metrics_json: String,
    pub params_json: String,
    /// Calibration, baselines and intervals, as columns for analysts (NULL
    /// for models trained before they were recorded).
    #[serde(flatten)]
    pub quality: Quality,
}

/// The columns of `models` that say whether a model is worth serving.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Quality {
    /// "none" or "balanced" (prior-corrected).
    pub class_weight: Option<String>,
    /// Mean predicted risk on the test rows (beside `pos_rate_test`).
    pub mean_risk: Option<f64>,
    /// Expected calibration error, 10 equal-count bins.
    pub ece: Option<f64>,
    /// Brier and log loss of the constant prediction of the test rate.
    pub brier_constant: Option<f64>,
    pub log_loss_constant: Option<f64>,
    /// The best single input used alone as a ranker on the test rows.
    pub baseline_feature: Option<String>,
    pub baseline_pr_auc: Option<f64>,
    /// User-clustered bootstrap 95% intervals.
    pub pr_auc_low: Option<f64>,
    pub pr_auc_high: Option<f64>,
    pub roc_auc_low: Option<f64>,
    pub roc_auc_high: Option<f64>,
    /// Of PR-AUC minus the baseline's PR-AUC.
    pub lift_low: Option<f64>,
    pub lift_high: Option<f64>,
    /// On generated data: the Bayes oracle's PR-AUC on the same test rows,
    /// and the share of the way from the baseline to it that the model goes.
    pub oracle_pr_auc: Option<f64>,
    pub gap_closed: Option<f64>,
}

impl ModelRow {
    /// PR-AUC minus the best single input's, when it was recorded.
    pub fn lift_over_baseline(&self) -> Option<f64> {
        self.quality.baseline_pr_auc.map(|b| self.pr_auc - b)
    }
}

/// A readable, unique id: logreg-20261127T081500Z-3f2a.
pub fn new_model_id(now: NaiveDateTime) -> String {
    let suffix: u16 = rand::rng().random();
    format!("logreg-{}-{suffix:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

pub fn insert(conn: &Connection, m: &ModelRow, terms: &[Term]) -> Result<()> {
    let q = &m.quality;
    conn.execute(
        &format!(
            "insert into models ({}) values ({})",
            MODEL_COLUMNS.replace("::varchar", ""),
            vec!["?"; 34].join(", ")
        ),
        params![
            m.model_id,
            m.algorithm,
            m.role,
            m.status,
            m.created_at,
            m.train_from,
            m.train_to,
            m.test_from,
            m.test_to,
            m.n_train,
            m.n_test,
            m.pos_rate_train,
            m.pos_rate_test,
            m.pr_auc,
            m.roc_auc,
            m.log_loss,
            m.brier,
            m.metrics_json,
            m.params_json,
            q.class_weight,
            q.mean_risk,
            q.ece,
            q.brier_constant,
            q.log_loss_constant,
            q.baseline_feature,
            q.baseline_pr_auc,
            q.pr_auc_low,
            q.pr_auc_high,
            q.roc_auc_low,
            q.roc_auc_high,
            q.lift_low,
            q.lift_high,
            q.oracle_pr_auc,
            q.gap_closed
        ],
    )
    .context(|| format!("registering model {}", m.model_id))?;
    let mut app = conn
        .appender("model_terms")
        .context(|| "opening the model_terms appender".into())?;
    for t in terms {
        app.append_row(params![
            m.model_id,
            t.term,
            t.feature,
            t.category,
            t.center,
            t.scale,
            t.coefficient,
            t.transform.stored(),
            t.by
        ])
        .context(|| format!("storing the terms of {}", m.model_id))?;
    }
    app.flush()
        .context(|| format!("storing the terms of {}", m.model_id))?;
    Ok(())
}

const MODEL_COLUMNS: &str = "model_id, algorithm, role, status, created_at, train_from, train_to, test_from, \
     test_to, n_train, n_test, pos_rate_train, pos_rate_test, pr_auc, roc_auc, log_loss, brier, \
     metrics_json::varchar, params_json::varchar, class_weight, mean_risk, ece, brier_constant, \
     log_loss_constant, baseline_feature, baseline_pr_auc, pr_auc_low, pr_auc_high, roc_auc_low, \
     roc_auc_high, lift_low, lift_high, oracle_pr_auc, gap_closed";

fn model_row(r: &duckdb::Row<'_>) -> duckdb::Result<ModelRow> {
    Ok(ModelRow {
        model_id: r.get(0)?,
        algorithm: r.get(1)?,
        role: r.get(2)?,
        status: r.get(3)?,
        created_at: r.get(4)?,
        train_from: r.get(5)?,
        train_to: r.get(6)?,
        test_from: r.get(7)?,
        test_to: r.get(8)?,
        n_train: r.get(9)?,
        n_test: r.get(10)?,
        pos_rate_train: r.get(11)?,
        pos_rate_test: r.get(12)?,
        pr_auc: r.get(13)?,
        roc_auc: r.get(14)?,
        log_loss: r.get(15)?,
        brier: r.get(16)?,
        metrics_json: r.get(17)?,
        params_json: r.get(18)?,
        quality: Quality {
            class_weight: r.get(19)?,
            mean_risk: r.get(20)?,
            ece: r.get(21)?,
            brier_constant: r.get(22)?,
            log_loss_constant: r.get(23)?,
            baseline_feature: r.get(24)?,
            baseline_pr_auc: r.get(25)?,
            pr_auc_low: r.get(26)?,
            pr_auc_high: r.get(27)?,
            roc_auc_low: r.get(28)?,
            roc_auc_high: r.get(29)?,
            lift_low: r.get(30)?,
            lift_high: r.get(31)?,
            oracle_pr_auc: r.get(32)?,
            gap_closed: r.get(33)?,
        },
    })
}

/// Every model, newest first.
pub fn list(conn: &Connection) -> Result<Vec<ModelRow>> {
    conn.prepare(&format!(
        "select {MODEL_COLUMNS} from models order by created_at desc, model_id desc"
    ))
    .and_then(|mut s| s.query_map([], model_row)?.collect())
    .context(|| "listing models".into())
}

pub fn get(conn: &Connection, model_id: &str) -> Result<Option<ModelRow>> {
    conn.query_row(
        &format!("select {MODEL_COLUMNS} from models where model_id = ?"),
        [model_id],
        model_row,
    )
    .optional()
    .context(|| format!("reading model {model_id}"))
}

pub fn production(conn: &Connection) -> Result<Option<ModelRow>> {
    conn.query_row(
        &format!("select {MODEL_COLUMNS} from models where status = ?"),
        [ModelStatus::Production],
        model_row,
    )
    .optional()
    .context(|| "reading the production model".into())
}

/// The newest model still waiting for a promotion decision.
pub fn latest_candidate(conn: &Connection) -> Result<Option<ModelRow>> {
    conn.query_row(
        &format!(
            "select {MODEL_COLUMNS} from models where status = ? \
             order by created_at desc, model_id desc limit 1"
        ),
        [ModelStatus::Candidate],
        model_row,
    )
    .optional()
    .context(|| "looking for a candidate model".into())
}

/// The newest model that is not in production (a candidate waiting for
/// its decision, or one that lost it): the challenger of the last round.
pub fn newest_challenger(conn: &Connection) -> Result<Option<ModelRow>> {
    conn.query_row(
        &format!(
            "select {MODEL_COLUMNS} from models where status in (?, ?) \
             order by created_at desc, model_id desc limit 1"
        ),
        [ModelStatus::Candidate, ModelStatus::Rejected],
        model_row,
    )
    .optional()
    .context(|| "looking for the newest challenger model".into())
}

/// A model's terms, intercept first.
pub fn load(conn: &Connection, model_id: &str) -> Result<Model> {
    let terms: Vec<Term> = conn
        // The intercept, then the order Preprocessor::fit gives the inputs.
        .prepare(
            "select term, feature, category, center, scale, coefficient, transform, by_feature from model_terms \
             where model_id = ? order by feature is not null, category is not null, term",
        )
        .and_then(|mut s| {
            s.query_map([model_id], |r| {
                Ok((
                    Term {
                        term: r.get(0)?,
                        feature: r.get(1)?,
                        category: r.get(2)?,
                        center: r.get(3)?,
                        scale: r.get(4)?,
                        coefficient: r.get(5)?,
                        transform: Transform::Identity,
                        by: r.get(7)?,
                    },
                    r.get::<_, Option<String>>(6)?,
                ))
            })?
            .collect::<duckdb::Result<Vec<(Term, Option<String>)>>>()
        })
        .context(|| format!("reading the terms of {model_id}"))?
        .into_iter()
        .map(
            |(term, transform): (Term, Option<String>)| match Transform::from_stored(transform.as_deref()) {
                Some(transform) => Ok(Term { transform, ..term }),
                None => Err(Error::BadInput(format!(
                    "model {model_id}: term {} has the transform {:?}, which this build does not know: \
                 upgrade churn, or promote a model this build trained",
                    term.term,
                    transform.unwrap_or_default()
                ))),
            },
        )
        .collect::<Result<Vec<Term>>>()?;
    if terms.is_empty() {
        return Err(Error::MissingInput(format!(
            "model {model_id} has no terms in model_terms: `churn models list` shows the models there are"
        )));
    }
    Ok(Model {
        model_id: model_id.to_string(),
        terms,
    })
}

/// How a promotion decision came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The candidate passed the gate and beat production (or there was none).
    Promoted,
    /// The candidate passed the gate but did not beat production.
    Kept,
    /// The candidate failed the gate (baseline or calibration).
    Rejected,
    /// `churn models promote ID`: an operator's choice (the rollback).
    Manual,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promoted => "promoted",
            Decision::Kept => "kept",
            Decision::Rejected => "rejected",
            Decision::Manual => "manual",
        }
    }
}

/// Records a decision; for `Promoted` and `Manual`, makes `model_id` the one
/// production model (the previous one retired). A kept or rejected decision
/// marks the candidate rejected. Runs inside the caller's transaction.
pub fn decide(
    conn: &Connection,
    model_id: &str,
    decision: Decision,
    reason: &str,
    candidate_score: Option<f64>,
    production_score: Option<f64>,
) -> Result<()> {
    let previous = production(conn)?.map(|m| m.model_id);
    match decision {
        Decision::Promoted | Decision::Manual => {
            conn.execute(
                "update models set status = ? where status = ? and model_id <> ?",
                params![ModelStatus::Retired, ModelStatus::Production, model_id],
            )
            .context(|| "retiring the previous production model".into())?;
            conn.execute(
                "update models set status = ? where model_id = ?",
                params![ModelStatus::Production, model_id],
            )
            .context(|| format!("promoting {model_id}"))?;
        }
        Decision::Kept | Decision::Rejected => {
            conn.execute(
                "update models set status = ? where model_id = ?",
                params![ModelStatus::Rejected, model_id],
            )
            .context(|| format!("rejecting {model_id}"))?;
        }
    }
    conn.execute(
        "insert into model_promotions values (?, ?, ?, ?, ?, ?, ?)",
        params![
            Utc::now().naive_utc(),
            model_id,
            previous,
            decision.as_str(),
            reason,
            candidate_score,
            production_score
        ],
    )
    .context(|| "recording the promotion decision".into())?;
    let n: i64 = conn
        .query_row(
            "select count(*) from models where status = 'production'",
            [],
            |r| r.get(0),
        )
        .context(|| "checking the production model".into())?;
    if n > 1 {
        return Err(Error::Corrupt(format!(
            "{n} models would be in production after promoting {model_id}, so the promotion was not made: \
             `churn models list` shows them; promote the one to serve with `churn models promote`"
        )));
    }
    Ok(())
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

/// Records the data `model_id` is trained on: the loads of `events` and
/// their rows (`model_data`). Events without a load id (rows of files made
/// before the ledger) count as the load "(none)".
pub fn record_training_data(conn: &Connection, model_id: &str) -> Result<()> {
    // A training set read from Parquet files (`--training-set`, a temporary
    // view) is not the file's events: nothing to record.
    let from_files: bool = conn
        .query_row(
            "select count(*) > 0 from duckdb_views() where view_name = 'training_set' and temporary",
            [],
            |r| r.get(0),
        )
        .context(|| "looking for the training set's source".into())?;
    if from_files {
        return Ok(());
    }
    conn.execute(
        "insert into model_data select ?, coalesce(load_id, '(none)'), count(*) from events group by all",
        [model_id],
    )
    .context(|| "recording the model's training data (model_data)".into())?;
    Ok(())
}

/// The loads `model_id` was trained on that `events` no longer holds, with
/// their rows then (empty: the data is still there, or nothing recorded).
pub fn removed_training_data(conn: &Connection, model_id: &str) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn
        .prepare(
            "select load_id, events from model_data where model_id = ? and load_id not in \
             (select distinct coalesce(load_id, '(none)') from events) order by load_id",
        )
        .context(|| "reading model_data".into())?;
    stmt.query_map([model_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .context(|| "reading model_data".into())
}

/// The names the registry gives models by their status: MLflow's champion
/// is our production model.
pub const IMPLIED_ALIASES: [&str; 3] = ["production", "champion", "challenger"];

/// The model a name means: `production` (or `champion`), `challenger` (the
/// newest candidate or rejected model), a user-set alias, each with or
/// without a leading `@`; else a model id.
pub fn resolve(conn: &Connection, name: &str) -> Result<Option<ModelRow>> {
    let alias = name.strip_prefix('@').unwrap_or(name);
    match alias {
        "production" | "champion" => return production(conn),
        "challenger" => return newest_challenger(conn),
        _ => {}
    }
    if !has_table(conn, "model_aliases")? {
        return get(conn, name);
    }
    let aliased: Option<String> = conn
        .query_row(
            "select model_id from model_aliases where alias = ?",
            [alias],
            |r| r.get(0),
        )
        .optional()
        .context(|| "reading model_aliases".into())?;
    get(conn, aliased.as_deref().unwrap_or(name))
}

/// Sets `alias` to `model_id` (replacing where it pointed).
pub fn set_alias(conn: &Connection, alias: &str, model_id: &str) -> Result<()> {
    conn.execute("delete from model_aliases where alias = ?", [alias])
        .and_then(|_| {
            conn.execute(
                "insert into model_aliases values (?, ?, current_timestamp)",
                [alias, model_id],
            )
        })
        .context(|| format!("setting the alias {alias}"))?;
    Ok(())
}

/// Removes `alias`; whether it existed.
pub fn remove_alias(conn: &Connection, alias: &str) -> Result<bool> {
    let n = conn
        .execute("delete from model_aliases where alias = ?", [alias])
        .context(|| format!("removing the alias {alias}"))?;
    Ok(n > 0)
}

/// Every model's aliases, implied (production, challenger) and set.
pub fn aliases(conn: &Connection) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    if let Some(p) = production(conn)? {
        out.entry(p.model_id).or_default().push("production".into());
    }
    if let Some(c) = newest_challenger(conn)? {
        out.entry(c.model_id).or_default().push("challenger".into());
    }
    if !has_table(conn, "model_aliases")? {
        return Ok(out);
    }
    let mut stmt = conn
        .prepare("select model_id, alias from model_aliases order by alias")
        .context(|| "reading model_aliases".into())?;
    let set: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .context(|| "reading model_aliases".into())?;
    for (model, alias) in set {
        out.entry(model).or_default().push(alias);
    }
    Ok(out)
}

/// The loads `model_id` was trained on, with their rows then.
pub fn training_data(conn: &Connection, model_id: &str) -> Result<Vec<(String, i64)>> {
    if !has_table(conn, "model_data")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("select load_id, events from model_data where model_id = ? order by load_id")
        .context(|| "reading model_data".into())?;
    stmt.query_map([model_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .context(|| "reading model_data".into())
}

/// Whether the file has `table` (a file made before it, opened read-only,
/// does not).
fn has_table(conn: &Connection, table: &str) -> Result<bool> {
    conn.query_row(
        "select count(*) > 0 from duckdb_tables() where table_name = ? and schema_name = 'main'",
        [table],
        |r| r.get(0),
    )
    .context(|| format!("looking for table {table}"))
}
