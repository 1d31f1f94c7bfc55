//! The routes of docs/design.md §6. Bodies come through our own extractors
//! (`input`), errors are `error::ApiError`: malformed JSON 400, unknown
//! names / wrong types / non-finite values 422 naming each key, oversized
//! bodies 413, never a 500 for bad input.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::auth::Authorized;
use crate::api::error::{ApiError, ErrorBody, Problem};
use crate::api::input::{
    BatchBody, BatchRequest, JsonValue, MAX_ABS_VALUE, NON_FINITE, PredictRequest, UserId,
};
use crate::api::state::{AppState, Loaded, Readiness, Slot};
use crate::model::frame::{CATEGORICAL, Frame};

/// The largest value of `active_day_bits`: every one of its days active.
pub const DAY_BITS_MAX: f64 = ((1u64 << crate::sql::ACTIVE_DAY_BITS) - 1) as f64;

fn not_ready(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no production model loaded",
        state
            .not_ready_reason()
            .unwrap_or_else(|| "no production model loaded yet".into()),
    )
}

fn model_or_503(state: &AppState) -> Result<Arc<Loaded>, ApiError> {
    state.model().ok_or_else(|| not_ready(state))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user_id": "u000123", "churn_risk": 0.0576, "model_id": "logreg-20261204T071339Z-d369", "imputed": ["quiz_avg_score_7d"]}))]
pub struct PredictResponse {
    pub user_id: UserId,
    /// The probability that the user stops within the horizon and stays away.
    pub churn_risk: f64,
    pub model_id: String,
    /// Inputs that were missing or null: numeric ones took the training
    /// mean, categorical ones count as unknown.
    pub imputed: Vec<String>,
    /// With `?explain=true`: the inputs that raise this risk most, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonBody>>,
}

/// One input's part in a risk: for a logistic regression the margin (the
/// log-odds) is exactly the intercept plus one contribution per input,
/// coefficient × standardised value; the reasons are the largest positive.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"input": "active_days_7d", "value": 0.0, "usual": 4.2, "contribution": 0.84, "reason": "active days in the last 7 days: 0 (usual 4.2)"}))]
pub struct ReasonBody {
    /// The feature.
    pub input: String,
    /// The user's value of a numeric input (absent: missing, imputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The user's category of a categorical input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A numeric input's training mean, the value that contributes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usual: Option<f64>,
    /// Its part of the margin (log-odds).
    pub contribution: f64,
    /// In plain words.
    pub reason: String,
}

impl From<crate::model::reasons::Reason> for ReasonBody {
    fn from(r: crate::model::reasons::Reason) -> ReasonBody {
        ReasonBody {
            reason: r.words(),
            input: r.input,
            value: r.value,
            category: r.category,
            usual: r.usual,
            contribution: r.contribution,
        }
    }
}

/// `?explain=true` (or false; nothing else).
fn explain(query: Option<&str>) -> Result<bool, ApiError> {
    let mut explain = false;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        explain = match pair {
            "explain=true" | "explain=1" | "explain" => true,
            "explain=false" | "explain=0" => false,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown query parameter",
                    format!("{pair}: the one query parameter is explain=true or explain=false"),
                ));
            }
        };
    }
    Ok(explain)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub model_id: String,
    pub predictions: Vec<PredictResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ready", "model_id": "logreg-20261204T071339Z-d369", "loaded_at": "2026-12-04T07:13:41.000+00:00"}))]
pub struct Ready {
    pub status: String,
    pub model_id: String,
    pub loaded_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user_id": "u000042", "as_of_date": "2026-08-28", "churn_risk": 0.0712, "risk_rank": 131, "model_id": "logreg-20261204T071339Z-d369", "reasons": [{"input": "active_days_7d", "value": 0.0, "usual": 4.2, "contribution": 0.84, "reason": "active days in the last 7 days: 0 (usual 4.2)"}]}))]
pub struct UserRiskResponse {
    pub user_id: String,
    pub as_of_date: String,
    pub churn_risk: f64,
    pub risk_rank: i64,
    /// The model that scored this slice: the production model, or the
    /// previous one until the production model has scored.
    pub model_id: String,
    /// The inputs that raise this user's risk most, best first (empty when
    /// none raises it, or for a slice another engine scored).
    pub reasons: Vec<ReasonBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TermRow {
    pub term: String,
    pub feature: Option<String>,
    pub category: Option<String>,
    pub center: f64,
    pub scale: f64,
    pub coefficient: f64,
    /// What a numeric term reads of its input: absent for the value
    /// itself, "log1p" for ln(1 + x), "bit:i" for bit i of a whole number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    /// The input the term's value is multiplied by, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelResponse {
    pub model_id: String,
    pub created_at: String,
    pub train_from: String,
    pub train_to: String,
    pub test_from: String,
    pub test_to: String,
    pub n_train: i64,
    pub n_test: i64,
    /// Every test metric (PR-AUC, ROC-AUC, log loss, Brier, ECE, the
    /// baselines, the bootstrap intervals, ...).
    #[schema(value_type = Object)]
    pub metrics: Value,
    pub numeric_features: Vec<String>,
    pub categorical_features: Vec<String>,
    pub terms: Vec<TermRow>,
    pub predictions_as_of: Option<String>,
    pub drift_max_psi: Option<f64>,
}

fn problem(field: String, problem: impl Into<String>) -> Problem {
    Problem {
        field,
        problem: problem.into(),
    }
}

/// Checks one instance and turns it into a one-row frame; problems are
/// collected (every offending key is named), with `at` prefixing the fields.
fn parse_instance(m: &Loaded, value: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<Instance> {
    let before = problems.len();
    let Some(obj) = value.as_object() else {
        problems.push(problem(
            at.trim_end_matches('.').to_string(),
            "expected an object with user_id and features",
        ));
        return None;
    };
    for key in obj.keys().filter(|k| *k != "user_id" && *k != "features") {
        problems.push(problem(
            format!("{at}{key}"),
            "unknown key; an instance has user_id and features",
        ));
    }
    let user_id = match obj.get("user_id") {
        Some(Value::String(s)) if !s.starts_with(NON_FINITE) => Some(UserId::Text(s.clone())),
        Some(Value::Number(n)) if n.is_i64() => n.as_i64().map(UserId::Integer),
        Some(_) => {
            problems.push(problem(
                format!("{at}user_id"),
                "expected a string or an integer (of at most 64 bits)",
            ));
            None
        }
        None => {
            problems.push(problem(format!("{at}user_id"), "missing"));
            None
        }
    };
    let empty = serde_json::Map::new();
    let features = match obj.get("features") {
        Some(Value::Object(f)) => f,
        Some(_) => {
            problems.push(problem(
                format!("{at}features"),
                "expected an object of feature values",
            ));
            &empty
        }
        None => {
            problems.push(problem(format!("{at}features"), "missing"));
            &empty
        }
    };
    let mut numeric = vec![f64::NAN; m.numeric.len()];
    let mut categorical: [Option<String>; 3] = Default::default();
    let mut present = vec![false; m.numeric.len() + CATEGORICAL.len()];
    for (name, v) in features {
        // The field's name is spelled out only for a problem.
        let field = || format!("{at}features.{name}");
        match m.slots.get(name) {
            None => problems.push(problem(field(), "unknown feature; GET /model lists the features")),
            Some(Slot::Numeric(j)) => match v {
                Value::Number(n) => match n.as_f64() {
                    Some(x) if x.abs() <= MAX_ABS_VALUE => {
                        numeric[*j] = x;
                        present[*j] = true;
                    }
                    _ => problems.push(problem(field(), "outside -1e12..1e12")),
                },
                Value::Null => {}
                Value::String(s) if s.starts_with(NON_FINITE) => {
                    problems.push(problem(field(), "not a finite number"))
                }
                _ => problems.push(problem(field(), "expected a number (or null)")),
            },
            Some(Slot::Categorical(k)) => match v {
                Value::String(s) if !s.starts_with(NON_FINITE) => {
                    categorical[*k] = Some(s.clone());
                    present[m.numeric.len() + *k] = true;
                }
                Value::Null => {}
                _ => problems.push(problem(field(), "expected a string (or null)")),
            },
        }
    }
    // Every standardized input must be finite, or the risk is not a number.
    for input in &m.inputs {
        if let crate::api::state::Input::Numeric { j, by, term } = input {
            let x = numeric[*j];
            let whole_bits = (0.0..=DAY_BITS_MAX).contains(&x) && x.fract() == 0.0;
            if term.transform.is_bit() && x.is_finite() && !whole_bits {
                let field = format!("{at}features.{}", m.numeric[*j]);
                if !problems.iter().any(|p| p.field == field) {
                    problems.push(problem(
                        field,
                        format!(
                            "expected a whole number from 0 to {DAY_BITS_MAX}: bit i set when the user was \
                             active i days before the as-of day"
                        ),
                    ));
                }
                continue;
            }
            let y = by.map_or(1.0, |b| numeric[b]);
            if x.is_finite() && y.is_finite() && !(term.z_by(x, y) * term.coefficient).is_finite() {
                problems.push(problem(
                    format!("{at}features.{}", m.numeric[*j]),
                    "too large: the risk would not be a finite number",
                ));
            }
        }
    }
    if problems.len() > before {
        return None;
    }
    let user_id = user_id?;
    let mut imputed: Vec<String> = m
        .numeric
        .iter()
        .enumerate()
        .filter(|(j, _)| !present[*j])
        .map(|(_, n)| n.clone())
        .collect();
    imputed.extend(
        m.categorical
            .iter()
            .filter(|c| {
                let k = CATEGORICAL
                    .iter()
                    .position(|x| x == c)
                    .expect("known categorical");
                !present[m.numeric.len() + k]
            })
            .cloned(),
    );
    Some(Instance {
        user_id,
        numeric,
        categorical,
        imputed,
    })
}

/// One instance of a request, parsed against the served model's inputs.
struct Instance {
    user_id: UserId,
    /// By numeric slot (NaN: missing).
    numeric: Vec<f64>,
    categorical: [Option<String>; 3],
    imputed: Vec<String>,
}

/// Scores one parsed instance; a risk that is not a finite number (inputs
/// whose contributions overflow together) is refused, naming the inputs.
fn score(
    state: &AppState,
    m: &Loaded,
    instance: Instance,
    at: &str,
    explain: bool,
) -> Result<PredictResponse, Problem> {
    let churn_risk = crate::model::logistic::sigmoid(m.margin(&instance.numeric, &instance.categorical));
    if !churn_risk.is_finite() {
        return Err(problem(
            format!("{at}features"),
            "these values give no finite risk; give values of the size the inputs have (GET /model)",
        ));
    }
    state.metrics.predictions.inc();
    let Instance {
        user_id,
        numeric,
        categorical,
        imputed,
    } = instance;
    let reasons = explain.then(|| {
        let frame = Frame::single(m.numeric.clone(), numeric, categorical);
        crate::model::reasons::top_reasons(&m.model, &frame, &[0], crate::model::reasons::TOP)
            .remove(0)
            .into_iter()
            .map(ReasonBody::from)
            .collect()
    });
    Ok(PredictResponse {
        user_id,
        churn_risk,
        model_id: m.version.model_id.clone(),
        imputed,
        reasons,
    })
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "probes", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Liveness, the Kubernetes name: 200 while the process runs.
#[utoipa::path(get, path = "/live", tag = "probes", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    health().await
}

/// Readiness: 200 with the model id once a production model is loaded.
#[utoipa::path(get, path = "/ready", tag = "probes", responses((status = 200, body = Ready), (status = 503, description = "no model loaded yet", body = ErrorBody)))]
pub async fn ready(State(state): State<Arc<AppState>>) -> Result<Json<Ready>, ApiError> {
    let m = model_or_503(&state)?;
    Ok(Json(Ready {
        status: "ready".into(),
        model_id: m.version.model_id.clone(),
        loaded_at: m.loaded_at.to_rfc3339(),
    }))
}

/// Scores one instance with the production model.
#[utoipa::path(post, path = "/predict", tag = "predictions", request_body = PredictRequest,
    params(("explain" = Option<bool>, Query, description = "true: each prediction with its reasons")), responses(
    (status = 200, body = PredictResponse),
    (status = 400, description = "malformed JSON, or a body the client did not send to its end", body = ErrorBody),
    (status = 413, description = "body over 1 MiB", body = ErrorBody),
    (status = 415, description = "the body is not declared `Content-Type: application/json`", body = ErrorBody),
    (status = 422, description = "unknown feature, wrong type or non-finite value; each key named", body = ErrorBody),
    (status = 503, description = "no model loaded yet, or too many requests in flight", body = ErrorBody),
))]
pub async fn predict(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    JsonValue(value): JsonValue,
) -> Result<Json<PredictResponse>, ApiError> {
    let explain = explain(query.as_deref())?;
    let m = model_or_503(&state)?;
    let mut problems = Vec::new();
    let parsed = parse_instance(&m, &value, "", &mut problems).ok_or_else(|| ApiError::invalid(problems))?;
    score(&state, &m, parsed, "", explain)
        .map(Json)
        .map_err(|p| ApiError::invalid(vec![p]))
}

/// Scores up to 10,000 instances; any invalid instance refuses the batch,
/// naming every offending key as instances[i].features.name.
#[utoipa::path(post, path = "/predict/batch", tag = "predictions", request_body = BatchRequest,
    params(("explain" = Option<bool>, Query, description = "true: each prediction with its reasons")), responses(
    (status = 200, body = BatchResponse),
    (status = 400, description = "malformed JSON, or a body the client did not send to its end", body = ErrorBody),
    (status = 413, description = "more than 10,000 instances or a body over 16 MiB", body = ErrorBody),
    (status = 415, description = "the body is not declared `Content-Type: application/json`", body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub async fn predict_batch(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    body: BatchBody,
) -> Result<Json<BatchResponse>, ApiError> {
    let explain = explain(query.as_deref())?;
    let m = model_or_503(&state)?;
    let mut problems = body.problems;
    let mut parsed = Vec::with_capacity(body.instances.len());
    for (i, v) in body.instances.iter().enumerate() {
        if let Some(p) = parse_instance(&m, v, &format!("instances[{i}]."), &mut problems) {
            parsed.push(p);
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let mut predictions = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.into_iter().enumerate() {
        match score(&state, &m, p, &format!("instances[{i}]."), explain) {
            Ok(r) => predictions.push(r),
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    Ok(Json(BatchResponse {
        model_id: m.version.model_id.clone(),
        predictions,
    }))
}

/// The latest batch prediction of a user.
#[utoipa::path(get, path = "/users/{user_id}/risk", tag = "predictions", params(("user_id" = String, Path)),
    security((), ("bearer" = [])), responses(
    (status = 200, body = UserRiskResponse),
    (status = 400, description = "a path that does not parse", body = ErrorBody),
    (status = 401, description = "serve.token is set and the bearer token is missing or wrong", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub async fn user_risk(
    _: Authorized,
    State(state): State<Arc<AppState>>,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(user_id) = user_id?;
    // Held, not cloned: this route is the API's busiest.
    let current = state.readiness.load();
    let Readiness::Ready(m) = &**current else {
        return Err(not_ready(&state));
    };
    let slice_model = m.predictions_model_id.as_ref().unwrap_or(&m.version.model_id);
    match (m.predictions.get(&user_id), m.predictions_as_of) {
        (Some(risk), Some(_)) => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            m.answers.write(&user_id, risk),
        )
            .into_response()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no batch prediction for this user",
            match m.predictions_as_of {
                Some(d) => format!("user {user_id} is not in the slice {slice_model} scored on {d}"),
                None => format!(
                    "model {} has scored nothing yet: run `churn run --stage score`",
                    m.version.model_id
                ),
            },
        )),
    }
}

/// The HTML report of `churn report` (model card, drift, risk list), built
/// from the file's tables at the first request after a reload.
#[utoipa::path(
    get,
    path = "/report",
    tag = "model",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The report page", content_type = "text/html", body = String),
        (status = 401, description = "serve.token is set and the bearer token is missing or wrong", body = ErrorBody),
        (status = 503, body = ErrorBody)
    )
)]
pub async fn report(_: Authorized, State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let m = model_or_503(&state)?;
    if m.report.get().is_none() {
        let (db, loaded) = (state.db.clone(), m.clone());
        let built = tokio::task::spawn_blocking(move || crate::api::state::build_report(&db, &loaded))
            .await
            .unwrap_or_else(|e| Err(format!("the report task failed: {e}")));
        // A request that raced this one may have set it first: either is
        // the same version's page.
        let _ = m.report.set(built);
    }
    match m.report.get() {
        Some(Ok(html)) => {
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html.clone()).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the report could not be built for the loaded model",
            "the server log says why; it is built again after the next reload",
        )),
    }
}

/// The production model: metadata, metrics, features and terms.
#[utoipa::path(get, path = "/model", tag = "model", security((), ("bearer" = [])), responses(
    (status = 200, body = ModelResponse),
    (status = 401, description = "serve.token is set and the bearer token is missing or wrong", body = ErrorBody),
    (status = 503, body = ErrorBody)
))]
pub async fn model(
    _: Authorized,
    State(state): State<Arc<AppState>>,
) -> Result<Json<ModelResponse>, ApiError> {
    let m = model_or_503(&state)?;
    let r = &m.row;
    Ok(Json(ModelResponse {
        model_id: r.model_id.clone(),
        created_at: r.created_at.and_utc().to_rfc3339(),
        train_from: r.train_from.to_string(),
        train_to: r.train_to.to_string(),
        test_from: r.test_from.to_string(),
        test_to: r.test_to.to_string(),
        n_train: r.n_train,
        n_test: r.n_test,
        metrics: serde_json::from_str(&r.metrics_json).unwrap_or(Value::Null),
        numeric_features: m.numeric.clone(),
        categorical_features: m.categorical.clone(),
        terms: m
            .model
            .terms
            .iter()
            .map(|t| TermRow {
                term: t.term.clone(),
                feature: t.feature.clone(),
                category: t.category.clone(),
                center: t.center,
                scale: t.scale,
                coefficient: t.coefficient,
                transform: t.transform.stored(),
                by: t.by.clone(),
            })
            .collect(),
        predictions_as_of: m.predictions_as_of.map(|d| d.to_string()),
        drift_max_psi: m.drift.as_ref().map(|d| d.max_psi),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}
