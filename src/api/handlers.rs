//! The routes of DESIGN §6. Bodies are read and parsed here (not by axum's
//! extractors) so every bad input gets the JSON error body of the contract:
//! malformed JSON 400, unknown names / wrong types / non-finite values 422
//! naming each key, oversized bodies 413, never a 500 for bad input.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::state::{AppState, Loaded, Slot};
use crate::model::data::{CATEGORICAL, Frame};

/// Largest request body of /predict.
pub const MAX_BODY: usize = 1 << 20;
/// Largest request body of /predict/batch.
pub const MAX_BATCH_BODY: usize = 64 << 20;
/// Most instances in one /predict/batch request.
pub const MAX_BATCH: usize = 10_000;

/// Marks a non-finite number in a request body (see `mark_non_finite`).
const NON_FINITE: &str = "\u{0}non-finite:";

/// Every error: what went wrong, and the details (e.g. one entry per key).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, details: Value) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                details,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn not_ready(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no production model loaded",
        Value::String(state.not_ready.lock().expect("reason lock").clone()),
    )
}

fn model_or_503(state: &AppState) -> Result<Arc<Loaded>, ApiError> {
    state.model().ok_or_else(|| not_ready(state))
}

/// One instance to score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PredictRequest {
    /// A string or an integer; echoed back.
    #[schema(value_type = Object, example = json!("u000123"))]
    pub user_id: Value,
    /// Feature name -> number (numeric inputs; null = missing) or string
    /// (plan, country, marketing_source). Missing inputs are imputed.
    #[schema(value_type = Object, example = json!({"active_days_7d": 3, "plan": "paid"}))]
    pub features: BTreeMap<String, Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PredictResponse {
    #[schema(value_type = Object)]
    pub user_id: Value,
    pub churn_risk: f64,
    pub model_id: String,
    /// Inputs that were missing or null: numeric ones took the training
    /// mean, categorical ones count as unknown.
    pub imputed: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    pub instances: Vec<PredictRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub model_id: String,
    pub predictions: Vec<PredictResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    pub status: String,
    pub model_id: String,
    pub loaded_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserRiskResponse {
    pub user_id: String,
    pub as_of_date: String,
    pub churn_risk: f64,
    pub risk_rank: i64,
    pub model_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TermRow {
    pub term: String,
    pub feature: Option<String>,
    pub category: Option<String>,
    pub center: f64,
    pub scale: f64,
    pub coefficient: f64,
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
    /// Every test metric (PR-AUC, ROC-AUC, log loss, Brier, ...).
    #[schema(value_type = Object)]
    pub metrics: Value,
    pub numeric_features: Vec<String>,
    pub categorical_features: Vec<String>,
    pub terms: Vec<TermRow>,
    pub predictions_as_of: Option<String>,
    pub drift_max_psi: Option<f64>,
}

/// Replaces bare `NaN`, `Infinity`, `-Infinity` and numbers too large for a
/// double (which JSON itself cannot carry, but many clients write) with a
/// marker string, so they can be refused as non-finite with the key named
/// rather than as malformed JSON.
pub fn mark_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        let token_end = |from: usize| {
            let mut j = from;
            while j < bytes.len() && matches!(bytes[j], b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E') {
                j += 1;
            }
            j
        };
        let replace = if b == b'"' {
            in_string = true;
            None
        } else if bytes[i..].starts_with(b"NaN") {
            Some(i + 3)
        } else if bytes[i..].starts_with(b"Infinity") {
            Some(i + 8)
        } else if bytes[i..].starts_with(b"-Infinity") {
            Some(i + 9)
        } else if b == b'-' || b.is_ascii_digit() {
            let end = token_end(i);
            match text[i..end].parse::<f64>() {
                Ok(x) if !x.is_finite() => Some(end),
                _ => {
                    i = end;
                    continue;
                }
            }
        } else {
            None
        };
        match replace {
            Some(end) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 32));
                o.push_str(&text[copied..i]);
                o.push('"');
                o.push_str(&NON_FINITE.replace('\u{0}', "\\u0000"));
                o.push_str(&text[i..end]);
                o.push('"');
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// Reads a body up to `limit` bytes and parses it as JSON.
async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
            Value::String(format!("the limit is {limit} bytes")),
        )
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed JSON",
            Value::String(format!("the body is not UTF-8: {e}")),
        )
    })?;
    serde_json::from_str(&mark_non_finite(text)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed JSON",
            Value::String(e.to_string()),
        )
    })
}

/// A problem with one key of an instance.
#[derive(Debug, Serialize)]
struct Problem {
    field: String,
    problem: String,
}

fn problem(field: String, problem: impl Into<String>) -> Problem {
    Problem {
        field,
        problem: problem.into(),
    }
}

/// Checks one instance and turns it into a one-row frame; problems are
/// collected (every offending key is named), with `at` prefixing the fields.
fn parse_instance(
    m: &Loaded,
    value: &Value,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<(Value, Frame, Vec<String>)> {
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
        Some(v @ Value::String(_)) => v.clone(),
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
        Some(_) => {
            problems.push(problem(format!("{at}user_id"), "expected a string or an integer"));
            Value::Null
        }
        None => {
            problems.push(problem(format!("{at}user_id"), "missing"));
            Value::Null
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
    let mut numeric = Array2::from_elem((1, m.numeric.len()), f64::NAN);
    let mut categorical: Vec<Vec<Option<String>>> = vec![vec![None]; CATEGORICAL.len()];
    let mut present = vec![false; m.numeric.len() + CATEGORICAL.len()];
    for (name, v) in features {
        let field = format!("{at}features.{name}");
        match m.slots.get(name) {
            None => problems.push(problem(field, "unknown feature; GET /model lists the features")),
            Some(Slot::Numeric(j)) => match v {
                Value::Number(n) => {
                    numeric[[0, *j]] = n.as_f64().unwrap_or(f64::NAN);
                    present[*j] = true;
                }
                Value::Null => {}
                Value::String(s) if s.starts_with(NON_FINITE) => {
                    problems.push(problem(field, "not a finite number"))
                }
                _ => problems.push(problem(field, "expected a number (or null)")),
            },
            Some(Slot::Categorical(k)) => match v {
                Value::String(s) if !s.starts_with(NON_FINITE) => {
                    categorical[*k][0] = Some(s.clone());
                    present[m.numeric.len() + *k] = true;
                }
                Value::Null => {}
                _ => problems.push(problem(field, "expected a string (or null)")),
            },
        }
    }
    if problems.len() > before {
        return None;
    }
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
    let frame = Frame {
        user_id: vec![String::new()],
        as_of: vec![0],
        numeric_names: m.numeric.clone(),
        numeric,
        categorical,
        label: vec![0.0],
    };
    Some((user_id, frame, imputed))
}

fn invalid(problems: Vec<Problem>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid instance",
        serde_json::to_value(problems).unwrap_or_default(),
    )
}

fn score(
    state: &AppState,
    m: &Loaded,
    user_id: Value,
    frame: &Frame,
    imputed: Vec<String>,
) -> PredictResponse {
    let churn_risk = m.model.predict(frame, &[0])[0];
    state.metrics.predictions.inc();
    PredictResponse {
        user_id,
        churn_risk,
        model_id: m.version.model_id.clone(),
        imputed,
    }
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: 200 with the model id once a production model is loaded.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Ready), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<Arc<AppState>>) -> Result<Json<Ready>, ApiError> {
    let m = model_or_503(&state)?;
    Ok(Json(Ready {
        status: "ready".into(),
        model_id: m.version.model_id.clone(),
        loaded_at: m.loaded_at.to_rfc3339(),
    }))
}

/// Scores one instance with the production model.
#[utoipa::path(post, path = "/predict", request_body = PredictRequest, responses(
    (status = 200, body = PredictResponse),
    (status = 400, description = "malformed JSON", body = ErrorBody),
    (status = 413, description = "body over 1 MiB", body = ErrorBody),
    (status = 422, description = "unknown feature, wrong type or non-finite value; each key named", body = ErrorBody),
    (status = 503, description = "no model loaded yet", body = ErrorBody),
))]
pub async fn predict(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<PredictResponse>, ApiError> {
    let value = read_json(body, MAX_BODY).await?;
    let m = model_or_503(&state)?;
    let mut problems = Vec::new();
    match parse_instance(&m, &value, "", &mut problems) {
        Some((user_id, frame, imputed)) => Ok(Json(score(&state, &m, user_id, &frame, imputed))),
        None => Err(invalid(problems)),
    }
}

/// Scores up to 10,000 instances; any invalid instance refuses the batch,
/// naming every offending key as instances[i].features.name.
#[utoipa::path(post, path = "/predict/batch", request_body = BatchRequest, responses(
    (status = 200, body = BatchResponse),
    (status = 400, description = "malformed JSON", body = ErrorBody),
    (status = 413, description = "more than 10,000 instances or a body over 64 MiB", body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub async fn predict_batch(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    let value = read_json(body, MAX_BATCH_BODY).await?;
    let m = model_or_503(&state)?;
    let Some(instances) = value.get("instances").and_then(Value::as_array) else {
        return Err(invalid(vec![problem(
            "instances".into(),
            "expected {\"instances\": [...]}",
        )]));
    };
    if instances.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many instances",
            Value::String(format!(
                "{} instances; the limit is {MAX_BATCH} per request",
                instances.len()
            )),
        ));
    }
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(instances.len());
    for (i, v) in instances.iter().enumerate() {
        if let Some(p) = parse_instance(&m, v, &format!("instances[{i}]."), &mut problems) {
            parsed.push(p);
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let predictions = parsed
        .into_iter()
        .map(|(user_id, frame, imputed)| score(&state, &m, user_id, &frame, imputed))
        .collect();
    Ok(Json(BatchResponse {
        model_id: m.version.model_id.clone(),
        predictions,
    }))
}

/// The latest batch prediction of a user.
#[utoipa::path(get, path = "/users/{user_id}/risk", params(("user_id" = String, Path)), responses(
    (status = 200, body = UserRiskResponse),
    (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub async fn user_risk(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
) -> Result<Json<UserRiskResponse>, ApiError> {
    let m = model_or_503(&state)?;
    match (m.predictions.get(&user_id), m.predictions_as_of) {
        (Some(r), Some(as_of)) => Ok(Json(UserRiskResponse {
            user_id,
            as_of_date: as_of.to_string(),
            churn_risk: r.churn_risk,
            risk_rank: r.risk_rank,
            model_id: m.version.model_id.clone(),
        })),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no batch prediction for this user",
            Value::String(match m.predictions_as_of {
                Some(d) => format!(
                    "user {user_id} is not in the slice {} scored on {d}",
                    m.version.model_id
                ),
                None => format!(
                    "model {} has scored nothing yet: run `churn run --stage score`",
                    m.version.model_id
                ),
            }),
        )),
    }
}

/// The HTML report of `churn report` (model card, drift, risk list), built
/// from the file's tables at the last reload.
#[utoipa::path(
    get,
    path = "/report",
    responses(
        (status = 200, description = "The report page", content_type = "text/html"),
        (status = 503, body = ErrorBody)
    )
)]
pub async fn report(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let m = model_or_503(&state)?;
    match &m.report {
        Some(html) => {
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html.clone()).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the report could not be built at the last model load",
            Value::String("the server log says why; it is rebuilt at the next reload".into()),
        )),
    }
}

/// The production model: metadata, metrics, features and terms.
#[utoipa::path(get, path = "/model", responses((status = 200, body = ModelResponse), (status = 503, body = ErrorBody)))]
pub async fn model(State(state): State<Arc<AppState>>) -> Result<Json<ModelResponse>, ApiError> {
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
            })
            .collect(),
        predictions_as_of: m.predictions_as_of.map(|d| d.to_string()),
        drift_max_psi: m.drift_max_psi,
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// Unknown routes: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route",
        Value::String("see GET /openapi.json for the routes".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_become_markers_outside_strings_only() {
        let got =
            mark_non_finite(r#"{"a": NaN, "b": -Infinity, "c": 1e999, "d": "NaN", "e": 1.5, "f": "x\"NaN"}"#);
        let v: Value = serde_json::from_str(&got).unwrap();
        for key in ["a", "b", "c"] {
            assert!(v[key].as_str().unwrap().starts_with(NON_FINITE), "{key}: {got}");
        }
        assert_eq!(v["d"], "NaN");
        assert_eq!(v["e"], 1.5);
        assert_eq!(v["f"], "x\"NaN");
        assert!(matches!(
            mark_non_finite(r#"{"a": -1e3}"#),
            std::borrow::Cow::Borrowed(_)
        ));
        // Invalid JSON stays invalid, without a panic on multi-byte text.
        assert!(serde_json::from_str::<Value>(&mark_non_finite("{\"a\": é NaN}")).is_err());
    }
}
