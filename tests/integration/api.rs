//! The API in-process (tower's oneshot): every route, every bad input with
//! its status and JSON error body, readiness before and after a model, the
//! batch score equal to /predict's, and /metrics as Prometheus text.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use churn::api::state::{Loaded, Names, Reload, UserRisk, loaded_from};
use churn::api::{AppState, app};
use churn::model::Model;
use churn::model::preprocess::{Term, Transform};
use churn::stages::{Stage, run_stage};
use churn::store::models::ModelRow;
use churn::store::predictions::SliceReason;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Sandbox, ctx, rows, small_config};

/// Sends one request to a fresh router over `state`.
fn call(state: &Arc<AppState>, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json, text)
    })
}

fn term(
    term: &str,
    feature: Option<&str>,
    category: Option<&str>,
    center: f64,
    scale: f64,
    coefficient: f64,
) -> Term {
    Term {
        term: term.into(),
        feature: feature.map(Into::into),
        category: category.map(Into::into),
        center,
        scale,
        coefficient,
        transform: Default::default(),
        by: None,
    }
}

/// A model by hand: risk = σ(0.5 + 0.3 (a - 1) / 2 - 0.2 b + 0.7 [plan = paid]).
fn hand_state() -> Arc<AppState> {
    let state = AppState::new(std::path::Path::new("/nonexistent/churn.duckdb"));
    state.install(hand_loaded());
    state
}

/// The hand-made model and one-user slice of `hand_state`.
fn hand_loaded() -> Loaded {
    let model = Model {
        model_id: "logreg-hand".into(),
        terms: vec![
            term("(intercept)", None, None, 0.0, 1.0, 0.5),
            term("a", Some("a"), None, 1.0, 2.0, 0.3),
            term("b", Some("b"), None, 0.0, 1.0, -0.2),
            term("plan=paid", Some("plan"), Some("paid"), 0.0, 1.0, 0.7),
        ],
    };
    let day = NaiveDate::from_ymd_opt(2026, 4, 30).unwrap();
    let row = ModelRow {
        model_id: "logreg-hand".into(),
        algorithm: "logistic_regression".into(),
        role: "train".into(),
        status: churn::store::status::ModelStatus::Production,
        created_at: day.and_hms_opt(8, 0, 0).unwrap(),
        train_from: day,
        train_to: day,
        test_from: day,
        test_to: day,
        n_train: 10,
        n_test: 5,
        pos_rate_train: 0.3,
        pos_rate_test: 0.2,
        pr_auc: 0.61,
        roc_auc: 0.8,
        log_loss: 0.5,
        brier: 0.2,
        metrics_json: r#"{"pr_auc": 0.61}"#.into(),
        params_json: "{}".into(),
        quality: Default::default(),
    };
    // u1's stored reason: a = 5 against a usual 1, 0.3 × (5 − 1) / 2 = 0.6.
    let mut names = Names::default();
    let predictions = HashMap::from([(
        "u1".to_string(),
        UserRisk {
            churn_risk: 0.42,
            risk_rank: 1,
            reasons: [
                Some(SliceReason {
                    input: names.intern("a"),
                    category: None,
                    value: Some(5.0),
                    usual: Some(1.0),
                    contribution: 0.6,
                }),
                None,
                None,
            ],
        },
    )]);
    loaded_from(row, model, Some(day), predictions, &names)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn predict_scores_by_the_terms_and_imputes_what_is_missing() {
    let s = hand_state();
    let body = json!({"user_id": "u1", "features": {"a": 3, "b": 1, "plan": "paid"}}).to_string();
    let (status, v, _) = call(&s, "POST", "/predict", Some(body));
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!((v["churn_risk"].as_f64().unwrap() - sigmoid(0.5 + 0.3 - 0.2 + 0.7)).abs() < 1e-15);
    assert_eq!(v["user_id"], "u1");
    assert_eq!(v["model_id"], "logreg-hand");
    assert_eq!(v["imputed"], json!([]));
    assert!(v.get("reasons").is_none(), "reasons only when asked: {v}");

    // ?explain=true: the inputs that raise the risk, best first, each
    // coefficient × standardised value: plan=paid 0.7, a 0.3 × (3 − 1) / 2
    // = 0.3; b lowers it (−0.2), so it is no reason.
    let body = json!({"user_id": "u1", "features": {"a": 3, "b": 1, "plan": "paid"}}).to_string();
    let (status, v, _) = call(&s, "POST", "/predict?explain=true", Some(body.clone()));
    assert_eq!(status, StatusCode::OK, "{v}");
    let reasons = v["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{v}");
    assert_eq!(reasons[0]["input"], "plan");
    assert_eq!(reasons[0]["category"], "paid");
    assert_eq!(reasons[0]["reason"], "plan: paid");
    assert!((reasons[0]["contribution"].as_f64().unwrap() - 0.7).abs() < 1e-15);
    assert_eq!(reasons[1]["reason"], "a: 3 (usual 1)");
    assert!((reasons[1]["contribution"].as_f64().unwrap() - 0.3).abs() < 1e-15);
    // With b's −0.2 and the intercept, the contributions make the margin.
    let margin = 0.5 + 0.7 + 0.3 - 0.2;
    assert!((v["churn_risk"].as_f64().unwrap() - sigmoid(margin)).abs() < 1e-15);
    let (status, v, _) = call(
        &s,
        "POST",
        "/predict/batch?explain=true",
        Some(
            json!({"instances": [
        {"user_id": "x", "features": {"a": 3, "b": 1, "plan": "paid"}}]})
            .to_string(),
        ),
    );
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["predictions"][0]["reasons"].as_array().unwrap().len(), 2, "{v}");
    let (status, v, _) = call(&s, "POST", "/predict?explain=maybe", Some(body));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["details"].as_str().unwrap().contains("explain=true"), "{v}");

    // Missing and null inputs: the mean for numbers (z = 0), unknown for categories.
    let body = json!({"user_id": 7, "features": {"a": null, "plan": "enterprise"}}).to_string();
    let (status, v, _) = call(&s, "POST", "/predict", Some(body));
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!((v["churn_risk"].as_f64().unwrap() - sigmoid(0.5)).abs() < 1e-15);
    assert_eq!(v["user_id"], 7);
    assert_eq!(v["imputed"], json!(["a", "b"]));

    let body = json!({"instances": [
        {"user_id": "x", "features": {"a": 3, "b": 1, "plan": "paid"}},
        {"user_id": "y", "features": {}}
    ]})
    .to_string();
    let (status, v, _) = call(&s, "POST", "/predict/batch", Some(body));
    assert_eq!(status, StatusCode::OK, "{v}");
    let p = v["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert!((p[0]["churn_risk"].as_f64().unwrap() - sigmoid(1.3)).abs() < 1e-15);
    assert_eq!(p[1]["imputed"], json!(["a", "b", "plan"]));
}

fn assert_error(s: &Arc<AppState>, path: &str, body: String, status: StatusCode, names: &[&str]) {
    let (got, v, text) = call(s, "POST", path, Some(body));
    assert_eq!(got, status, "{text}");
    assert!(v["error"].is_string(), "no JSON error body: {text}");
    assert!(!v["details"].is_null(), "no details: {text}");
    for name in names {
        assert!(text.contains(name), "{name} not named in {text}");
    }
}

#[test]
fn bad_input_gets_a_json_error_never_a_500() {
    let s = hand_state();
    let u = StatusCode::UNPROCESSABLE_ENTITY;
    assert_error(
        &s,
        "/predict",
        "{\"user_id\": ".into(),
        StatusCode::BAD_REQUEST,
        &[],
    );
    assert_error(&s, "/predict", "[1, 2".into(), StatusCode::BAD_REQUEST, &[]);
    // Every offending key is named.
    assert_error(
        &s,
        "/predict",
        json!({"user_id": "u", "features": {"a": "three", "zz": 1, "plan": 5, "b": true}}).to_string(),
        u,
        &[
            "features.a",
            "features.zz",
            "features.plan",
            "features.b",
            "unknown feature",
        ],
    );
    for bad in ["NaN", "Infinity", "-Infinity", "1e999"] {
        assert_error(
            &s,
            "/predict",
            format!("{{\"user_id\": \"u\", \"features\": {{\"a\": {bad}}}}}"),
            u,
            &["features.a", "not a finite number"],
        );
    }
    assert_error(
        &s,
        "/predict",
        json!({"features": {}}).to_string(),
        u,
        &["user_id"],
    );
    assert_error(
        &s,
        "/predict",
        json!({"user_id": 1.5, "features": {}}).to_string(),
        u,
        &["user_id"],
    );
    assert_error(
        &s,
        "/predict",
        json!({"user_id": "u", "features": [1]}).to_string(),
        u,
        &["features"],
    );
    assert_error(
        &s,
        "/predict",
        json!({"user_id": "u", "features": {}, "x": 1}).to_string(),
        u,
        &["x"],
    );
    // Over 1 MiB.
    let big = format!("{{\"user_id\": \"{}\", \"features\": {{}}}}", "x".repeat(1 << 20));
    assert_error(&s, "/predict", big, StatusCode::PAYLOAD_TOO_LARGE, &["1048576"]);
    // Batches: the bound, and instance positions in the names.
    let instance = json!({"user_id": "u", "features": {}});
    let many = json!({"instances": vec![instance.clone(); 10_001]}).to_string();
    assert_error(
        &s,
        "/predict/batch",
        many,
        StatusCode::PAYLOAD_TOO_LARGE,
        &["10000"],
    );
    let mixed = json!({"instances": [instance, {"user_id": "v", "features": {"q": 1}}]}).to_string();
    assert_error(&s, "/predict/batch", mixed, u, &["instances[1].features.q"]);
    assert_error(
        &s,
        "/predict/batch",
        json!({"rows": []}).to_string(),
        u,
        &["instances"],
    );

    let (status, v, _) = call(&s, "GET", "/no/such/route", None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string());
}

#[test]
fn read_routes_answer_and_metrics_are_labelled_by_route() {
    let s = hand_state();
    for path in ["/health", "/live"] {
        let (status, v, _) = call(&s, "GET", path, None);
        assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    }
    let (status, v, _) = call(&s, "GET", "/ready", None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["model_id"], "logreg-hand");

    let (status, v, _) = call(&s, "GET", "/users/u1/risk", None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        json!({"user_id": "u1", "as_of_date": "2026-04-30", "churn_risk": 0.42, "risk_rank": 1,
               "model_id": "logreg-hand", "reasons": [{"input": "a", "value": 5.0, "usual": 1.0,
               "contribution": 0.6, "reason": "a: 5 (usual 1)"}]})
    );
    let (status, v, _) = call(&s, "GET", "/users/nobody/risk", None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["details"].as_str().unwrap().contains("nobody"));

    let (status, v, _) = call(&s, "GET", "/model", None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["model_id"], "logreg-hand");
    assert_eq!(v["metrics"]["pr_auc"], 0.61);
    assert_eq!(v["numeric_features"], json!(["a", "b"]));
    assert_eq!(v["categorical_features"], json!(["plan"]));
    assert_eq!(v["terms"].as_array().unwrap().len(), 4);

    let (status, v, _) = call(&s, "GET", "/openapi.json", None);
    assert_eq!(status, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/predict",
        "/predict/batch",
        "/ready",
        "/users/{user_id}/risk",
        "/model",
    ] {
        assert!(
            v["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(v["components"]["schemas"]["PredictRequest"].is_object());

    // A state built in hand has no report: a JSON 503 that says so.
    let (status, v, _) = call(&s, "GET", "/report", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["error"].as_str().unwrap().contains("report"), "{v}");

    let (status, _, text) = call(&s, "GET", "/metrics", None);
    assert_eq!(status, StatusCode::OK);
    // Every sample line is `name{labels} value` with a numeric value.
    let mut series = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample {line}");
        series.insert(name.to_string(), value.parse::<f64>().unwrap());
    }
    assert_eq!(
        series["churn_api_requests_total{method=\"GET\",route=\"/users/{user_id}/risk\",status=\"404\"}"],
        1.0
    );
    assert_eq!(
        series["churn_api_requests_total{method=\"GET\",route=\"/users/{user_id}/risk\",status=\"200\"}"],
        1.0
    );
    assert!(!text.contains("/users/u1/risk"), "raw URLs must not be labels");
    assert_eq!(series["churn_model_info{model_id=\"logreg-hand\"}"], 1.0);
    assert_eq!(series["churn_model_pr_auc"], 0.61);
    // 2026-04-30T08:00:00Z, the hand model's created_at.
    assert_eq!(series["churn_model_created_timestamp_seconds"], 1_777_536_000.0);
    assert!(series.contains_key(
        "churn_api_request_duration_seconds_bucket{method=\"GET\",route=\"/model\",le=\"0.005\"}"
    ));
    assert!(
        series
            .keys()
            .any(|k| k.starts_with("process_resident_memory_bytes"))
    );
}

/// Before a model: live but not ready. After the pipeline: the reload picks
/// the production model, and /predict on a user's feature row gives exactly
/// the batch score of that user.
#[test]
fn not_ready_until_a_model_then_predict_equals_the_batch_score() {
    let sb = Sandbox::new();
    let state = AppState::new(&sb.db());
    assert!(matches!(state.reload(), Reload::Failed(_)));
    let (status, v, _) = call(&state, "GET", "/ready", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["details"].as_str().unwrap().contains("does not exist"), "{v}");
    assert_eq!(call(&state, "GET", "/health", None).0, StatusCode::OK);
    let body = json!({"user_id": "u", "features": {}}).to_string();
    assert_eq!(
        call(&state, "POST", "/predict", Some(body)).0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let store = sb.store();
    let config = small_config(300, 80);
    for stage in [Stage::Generate, Stage::Prepare] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    drop(store);
    assert!(matches!(state.reload(), Reload::NoModel(_)));
    let store = sb.store();
    for stage in [
        Stage::Features,
        Stage::Labels,
        Stage::TrainingSet,
        Stage::Train,
        Stage::Promote,
        Stage::Score,
    ] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    drop(store);
    let model_id = match state.reload() {
        Reload::Loaded(id) => id,
        other => panic!("no model loaded: {other:?}"),
    };
    assert_eq!(state.reload(), Reload::Unchanged);
    let (status, v, _) = call(&state, "GET", "/ready", None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["model_id"], model_id.as_str());
    // The report page, built at the reload from the same file.
    let (status, _, html) = call(&state, "GET", "/report", None);
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..100.min(html.len())]
    );
    assert!(html.contains(&format!("<code class=\"model-id\">{model_id}</code>")));
    assert!(html.contains("Highest risk users"));

    let loaded = state.model().unwrap();
    let store = sb.store();
    let columns: Vec<String> = loaded
        .numeric
        .iter()
        .chain(loaded.categorical.iter())
        .cloned()
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|c| format!("to_json(f.\"{c}\")::varchar"))
        .collect();
    let sample = rows(
        &store,
        &format!(
            "select p.user_id, p.churn_risk::varchar, {} from predictions p
             join user_features_daily f using (user_id, as_of_date)
             where p.model_id = '{model_id}' order by p.risk_rank limit 20",
            select.join(", ")
        ),
    );
    assert_eq!(sample.len(), 20);
    let mut instances = Vec::new();
    for row in &sample {
        let features: serde_json::Map<String, Value> = columns
            .iter()
            .zip(&row[2..])
            .map(|(c, v)| {
                let value = if v == "NULL" {
                    Value::Null
                } else {
                    serde_json::from_str(v).unwrap()
                };
                (c.clone(), value)
            })
            .collect();
        let body = json!({"user_id": row[0], "features": features});
        let (status, v, text) = call(&state, "POST", "/predict?explain=true", Some(body.to_string()));
        assert_eq!(status, StatusCode::OK, "{text}");
        let batch: f64 = row[1].parse().unwrap();
        assert!(
            (v["churn_risk"].as_f64().unwrap() - batch).abs() < 1e-12,
            "user {}: /predict {} vs batch {batch}",
            row[0],
            v["churn_risk"]
        );
        let (_, r, _) = call(&state, "GET", &format!("/users/{}/risk", row[0]), None);
        // The same stored double (text rendering of the batch value may round its last digit).
        assert!((r["churn_risk"].as_f64().unwrap() - batch).abs() < 1e-15);
        // The batch's stored reasons are the ones /predict explains from the
        // same feature row: same inputs, same words, same contributions.
        let (stored, explained) = (r["reasons"].as_array().unwrap(), v["reasons"].as_array().unwrap());
        assert_eq!(stored.len(), explained.len(), "user {}: {r} vs {v}", row[0]);
        assert!(!stored.is_empty(), "the riskiest users have reasons: {r}");
        for (a, b) in stored.iter().zip(explained) {
            assert_eq!(
                (&a["input"], &a["reason"]),
                (&b["input"], &b["reason"]),
                "{r} vs {v}"
            );
            let (x, y) = (
                a["contribution"].as_f64().unwrap(),
                b["contribution"].as_f64().unwrap(),
            );
            assert!(x > 0.0 && (x - y).abs() < 1e-12, "{x} vs {y}");
        }
        instances.push(body);
    }
    let (status, v, _) = call(
        &state,
        "POST",
        "/predict/batch",
        Some(json!({"instances": instances}).to_string()),
    );
    assert_eq!(status, StatusCode::OK);
    for (p, row) in v["predictions"].as_array().unwrap().iter().zip(&sample) {
        let batch: f64 = row[1].parse().unwrap();
        assert!((p["churn_risk"].as_f64().unwrap() - batch).abs() < 1e-12);
    }
}

/// Sends one request with headers to a fresh router over `state`.
fn call_with(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = app(state.clone())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
    })
}

/// The hand state with a bearer token.
fn token_state() -> Arc<AppState> {
    let state = AppState::with_token(
        std::path::Path::new("/nonexistent/churn.duckdb"),
        Some("s3cret".into()),
    );
    let mut copy = hand_loaded();
    copy.drift = None;
    state.install(copy);
    state
}

#[test]
fn the_token_guards_report_model_and_user_risk_only() {
    let s = token_state();
    for path in ["/model", "/report", "/users/u1/risk"] {
        let (status, v, _) = call_with(&s, "GET", path, &[]);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(v["error"].is_string(), "{path}: {v}");
        let (status, _, _) = call_with(&s, "GET", path, &[("authorization", "Bearer wrong")]);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, v, _) = call_with(&s, "GET", "/model", &[("authorization", "Bearer s3cret")]);
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _, _) = call_with(&s, "GET", "/users/u1/risk", &[("authorization", "Bearer s3cret")]);
    assert_eq!(status, StatusCode::OK);
    for path in ["/health", "/live", "/ready", "/metrics", "/openapi.json"] {
        assert_eq!(
            call_with(&s, "GET", path, &[]).0,
            StatusCode::OK,
            "{path} stays open"
        );
    }
    let (status, v, _) = call(
        &s,
        "POST",
        "/predict",
        Some(r#"{"user_id": "u1", "features": {}}"#.into()),
    );
    assert_eq!(status, StatusCode::OK, "/predict stays open: {v}");
    // The guard answers only on the guarded routes: a wrong method on one
    // is still a 405, an unknown path still a 404.
    assert_eq!(call_with(&s, "GET", "/nowhere", &[]).0, StatusCode::NOT_FOUND);
    assert_eq!(
        call_with(&s, "DELETE", "/model", &[]).0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[test]
fn errors_are_json_and_show_no_internals() {
    let s = hand_state();
    // A known route with another method, a bad path, oversized headers.
    let (status, v, text) = call_with(&s, "DELETE", "/predict", &[]);
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{text}");
    assert!(v["error"].is_string(), "{text}");
    let (status, v, text) = call_with(&s, "GET", "/users/%FF%FE/risk", &[]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(v["error"].is_string(), "{text}");
    let big = "x".repeat(20_000);
    let (status, v, text) = call_with(&s, "GET", "/health", &[("x-big", &big)]);
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{text}");
    assert!(v["error"].is_string(), "{text}");
    // Not ready on a missing file: the reason without the path.
    let sb = Sandbox::new();
    let state = AppState::new(&sb.db());
    state.reload();
    let (status, _, text) = call(&state, "GET", "/ready", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!text.contains(sb.dir.path().to_str().unwrap()), "{text}");
    assert!(!text.contains("churn.duckdb"), "{text}");
    // Made-up methods count as "other": no series per method name.
    for m in ["FOO", "BAR", "BAZ"] {
        call_with(&s, m, "/health", &[]);
    }
    let (_, _, metrics) = call(&s, "GET", "/metrics", None);
    assert!(!metrics.contains("FOO") && !metrics.contains("BAZ"));
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    // No drift check yet: the series is absent, not -1.
    assert!(!metrics.contains("churn_drift_max_psi{"), "{metrics}");
}

#[test]
fn values_that_give_no_finite_risk_are_refused() {
    // A model whose inputs have a tiny spread: a large value overflows its
    // standardized term, and two opposite ones would make the risk NaN.
    let hand = hand_state();
    let loaded = hand.model().unwrap();
    let mut model = loaded.model.clone();
    for t in model
        .terms
        .iter_mut()
        .filter(|t| t.feature.is_some() && t.category.is_none())
    {
        t.scale = 1e-300;
    }
    let s = AppState::new(std::path::Path::new("/nonexistent/churn.duckdb"));
    s.install(loaded_from(
        loaded.row.clone(),
        model,
        None,
        HashMap::new(),
        &Names::default(),
    ));
    let body = json!({"user_id": "u", "features": {"a": 1e10, "b": 1e10}}).to_string();
    let (status, v, text) = call(&s, "POST", "/predict", Some(body));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("features"), "{v}");
    let body = "{\"user_id\": 1e999, \"features\": {\"a\": 1}}".to_string();
    let (status, _, text) = call(&s, "POST", "/predict", Some(body));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("user_id") && !text.contains("non-finite"), "{text}");
    let body = json!({"instances": [{"user_id": "x", "features": {"a": 1e308, "b": -1e308}}]}).to_string();
    let (status, _, text) = call(&s, "POST", "/predict/batch", Some(body));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("instances[0]"), "{text}");
}

/// Every answer the server gives, errors included, is valid against the
/// OpenAPI document it serves.
#[test]
fn responses_match_the_openapi_document() {
    let s = hand_state();
    let (_, doc, _) = call(&s, "GET", "/openapi.json", None);
    // The document itself: every route, tags by area, examples, exact types.
    for path in [
        "/health",
        "/live",
        "/ready",
        "/predict",
        "/predict/batch",
        "/users/{user_id}/risk",
        "/model",
        "/report",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let text = doc.to_string();
    assert!(!text.contains("\"handlers\""), "every tag is handlers");
    assert!(text.matches("\"example").count() >= 5, "examples missing");
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["UserId"]["oneOf"].is_array(), "{}", schemas["UserId"]);
    assert!(schemas["Details"]["oneOf"].is_array(), "{}", schemas["Details"]);
    assert_eq!(schemas["PredictRequest"]["additionalProperties"], json!(false));
    assert_eq!(schemas["ErrorBody"]["additionalProperties"], json!(false));

    let check = |method: &str, path: &str, uri: &str, body: Option<String>| {
        let (status, v, text) = call(&s, method, uri, body);
        let op = &doc["paths"][path][method.to_lowercase()];
        let response = &op["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {uri}: status {status} is not documented: {text}"
        );
        if let Some(schema) = response["content"]["application/json"]["schema"].as_object() {
            let mut root = Value::Object(schema.clone());
            root["components"] = doc["components"].clone();
            let validator = jsonschema::validator_for(&root).unwrap();
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{method} {uri} ({status}): {errors:?} in {text}"
            );
        }
    };
    check("GET", "/health", "/health", None);
    check("GET", "/live", "/live", None);
    check("GET", "/ready", "/ready", None);
    check(
        "POST",
        "/predict",
        "/predict",
        Some(json!({"user_id": "u", "features": {"a": 1, "plan": "paid"}}).to_string()),
    );
    check(
        "POST",
        "/predict",
        "/predict",
        Some(json!({"user_id": 7, "features": {"a": null}}).to_string()),
    );
    check("POST", "/predict", "/predict", Some("{\"user_id\": ".into()));
    check(
        "POST",
        "/predict",
        "/predict",
        Some(json!({"user_id": "u", "features": {"zz": 1}}).to_string()),
    );
    check(
        "POST",
        "/predict",
        "/predict",
        Some(format!("{{\"user_id\": \"{}\"}}", "x".repeat(1 << 20))),
    );
    check(
        "POST",
        "/predict/batch",
        "/predict/batch",
        Some(json!({"instances": [{"user_id": "u", "features": {"a": 1}}]}).to_string()),
    );
    check(
        "POST",
        "/predict/batch",
        "/predict/batch",
        Some(json!({"rows": []}).to_string()),
    );
    check("GET", "/users/{user_id}/risk", "/users/u1/risk", None);
    check("GET", "/users/{user_id}/risk", "/users/nobody/risk", None);
    check("GET", "/model", "/model", None);
    check("GET", "/report", "/report", None);
    let not_ready = AppState::new(std::path::Path::new("/nonexistent/churn.duckdb"));
    let (status, v, _) = call(&not_ready, "GET", "/ready", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let schema = &doc["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"];
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    assert!(jsonschema::validator_for(&root).unwrap().is_valid(&v), "{v}");
}

/// Across a promotion, known users keep an answer: the previous model's
/// slice (labelled with its model) until the new model has scored.
#[test]
fn no_known_user_gets_a_404_across_train_promote_and_score() {
    let sb = Sandbox::new();
    let store = sb.store();
    let mut config = small_config(200, 100);
    for stage in churn::stages::default_pipeline()
        .into_iter()
        .filter(|s| *s <= Stage::Score && *s != Stage::Validate)
    {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let (first, user) = {
        let r = rows(
            &store,
            "select model_id, min(user_id) from predictions group by 1",
        );
        (r[0][0].clone(), r[0][1].clone())
    };
    drop(store);
    let state = AppState::new(&sb.db());
    assert!(matches!(state.reload(), Reload::Loaded(_)));
    let risk = |state: &Arc<AppState>| {
        let (status, v, text) = call(state, "GET", &format!("/users/{user}/risk"), None);
        assert_eq!(status, StatusCode::OK, "{text}");
        v["model_id"].as_str().unwrap().to_string()
    };
    assert_eq!(risk(&state), first);
    // A new model is trained and promoted; it has scored nothing yet.
    config.promote.min_improvement = -1.0;
    let store = sb.store();
    run_stage(&store, &ctx(&config), Stage::Train).unwrap();
    run_stage(&store, &ctx(&config), Stage::Promote).unwrap();
    let second = rows(&store, "select model_id from production_model")[0][0].clone();
    assert_ne!(second, first);
    drop(store);
    assert!(matches!(state.reload(), Reload::Loaded(_)));
    assert_eq!(state.model().unwrap().version.model_id, second);
    assert_eq!(risk(&state), first, "the previous slice, labelled with its model");
    let store = sb.store();
    run_stage(&store, &ctx(&config), Stage::Score).unwrap();
    drop(store);
    state.reload();
    assert_eq!(risk(&state), second);
}

/// The batch gauges an operator alerts on, read from the file.
#[test]
fn metrics_show_the_batch_side() {
    let sb = Sandbox::new();
    let c = sb.small(200, 100);
    let out = sb.churn(&["--config", &c, "run"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let state = AppState::new(&sb.db());
    assert!(matches!(state.reload(), Reload::Loaded(_)));
    let (_, _, text) = call(&state, "GET", "/metrics", None);
    for series in [
        "churn_predictions_age_seconds ",
        "churn_predictions_scored_timestamp_seconds ",
        "churn_stage_last_success_timestamp_seconds{stage=\"score\"}",
        "churn_stage_last_success_age_seconds{stage=\"generate\"}",
        "churn_stage_last_run_failed{stage=\"drift\"} 0",
        "churn_drift_max_psi{model_id=",
        "churn_drift_status{model_id=",
        "churn_realised_pr_auc{model_id=",
    ] {
        assert!(text.contains(series), "{series} missing");
    }
    // Every series the alerts and the dashboard read is one the API exports.
    for file in [
        "k8s/monitoring/prometheus-operator.yaml",
        "k8s/monitoring/grafana-dashboard.yaml",
    ] {
        let manifest =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let mut rest = manifest.as_str();
        while let Some(at) = rest.find("churn_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            if name.starts_with("churn_api_") || name.ends_with('_') || name == "churn_" {
                // churn_api_* are the request series (exported on the first request).
                if name.starts_with("churn_api_") {
                    assert!(
                        name == "churn_api_requests_total"
                            || name.starts_with("churn_api_request_duration_seconds"),
                        "{file}: unknown series {name}"
                    );
                }
                continue;
            }
            assert!(
                text.contains(&format!("\n{name}")),
                "{file} reads {name}, which /metrics does not export"
            );
        }
    }
    // Exactly one drift status is on.
    let on = text
        .lines()
        .filter(|l| l.starts_with("churn_drift_status{") && l.ends_with(" 1"))
        .count();
    assert_eq!(on, 1, "{text}");
}

/// The hand state served on a real socket of 127.0.0.1 by `workers` threads,
/// with the given header timeout: the runtime, the address, the switch that
/// stops it and the server's task.
fn real_server(
    workers: usize,
    header_timeout: std::time::Duration,
) -> (
    tokio::runtime::Runtime,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(churn::api::serve(
        listener,
        app(hand_state()),
        async {
            let _ = stopped.await;
        },
        header_timeout,
    ));
    (runtime, addr, stop, server)
}

/// A client that sends half its headers is dropped after the header
/// timeout, not held open.
#[test]
fn a_client_that_stalls_in_its_headers_is_dropped() {
    use std::io::{Read, Write};
    let (runtime, addr, stop, server) = real_server(1, std::time::Duration::from_millis(300));
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: churn\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(5), "held open {waited:?}");
    // A client that sends nothing at all is dropped too (#31 D4).
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = silent.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(5),
        "a silent client held open {waited:?}"
    );
    // A complete request on a new connection is answered.
    let mut ok = std::net::TcpStream::connect(addr).unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: churn\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}

/// The worst bodies, sent to a real server: each refused, and the
/// process's peak memory stays far below the API pod's 1 GiB limit.
#[test]
fn the_worst_bodies_cannot_exhaust_the_server() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let c = sb.small(200, 100);
    let out = sb.churn(&["--config", &c, "run", "--to", "score"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_churn"))
        .arg("--db")
        .arg(sb.db())
        .args(["--config", &c, "serve", "--addr", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let send = |head: &str, body: &[u8]| -> String {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let _ = s.write_all(head.as_bytes());
        // The server may answer (and close) before the whole body is sent.
        let _ = s.write_all(body);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let started = std::time::Instant::now();
    loop {
        let r = std::net::TcpStream::connect(&addr)
            .ok()
            .map(|_| send("GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b""));
        if r.is_some_and(|a| a.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the server did not become ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let post = |len: usize| {
        format!(
            "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    // 1. 60 MB declared: refused before a byte of it is read.
    let answer = send(&post(60 << 20), &vec![b'0'; 1 << 20]);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // 2. 15 MB of tiny instances: the parse stops at the 10,001st.
    let mut zeros = b"{\"instances\":[".to_vec();
    while zeros.len() < 15 << 20 {
        zeros.extend_from_slice(b"0,");
    }
    zeros.extend_from_slice(b"0]}");
    let answer = send(&post(zeros.len()), &zeros);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // 3. 15 MB of nesting: the parser's depth limit, a 400.
    let nested = vec![b'['; 15 << 20];
    let answer = send(&post(nested.len()), &nested);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // 4. One 15 MB string.
    let mut long = b"{\"instances\":[{\"user_id\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'x', 15 << 20));
    long.extend_from_slice(b"\",\"features\":{}}]}");
    let answer = send(&post(long.len()), &long);
    assert!(answer.starts_with("HTTP/1.1 "), "no answer");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    eprintln!(
        "server peak resident memory after the worst bodies: {} MB",
        peak_kb / 1024
    );
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let exit = server.wait().unwrap();
    assert!(peak_kb < 300 * 1024, "peak {peak_kb} kB");
    assert_eq!(exit.code(), Some(0), "drained and exited on SIGTERM");
}

#[test]
fn a_token_file_that_cannot_be_read_stops_the_server() {
    use churn::api::resolve_token;
    use churn::config::ServeConfig;
    let sb = Sandbox::new();
    let missing = sb.path("no-such-token");
    let serve = ServeConfig {
        token_file: missing.display().to_string(),
        token: "from-the-config".into(),
        ..ServeConfig::default()
    };
    let err = resolve_token(&serve).unwrap_err();
    assert_eq!(err.code(), 3, "{err}");
    assert!(err.to_string().contains("serve.token_file"), "{err}");
    let empty = sb.write("empty-token", "\n");
    let err = resolve_token(&ServeConfig {
        token_file: empty.display().to_string(),
        ..ServeConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("is empty"), "{err}");
    let file = sb.write("token", "  s3cret \n");
    let token = resolve_token(&ServeConfig {
        token_file: file.display().to_string(),
        token: "from-the-config".into(),
        ..ServeConfig::default()
    })
    .unwrap();
    assert_eq!(token.as_deref(), Some("s3cret"), "the file wins over serve.token");
    assert_eq!(
        resolve_token(&ServeConfig::default()).unwrap(),
        None,
        "no token: an open server"
    );

    // The binary stops with exit 3 before it binds, saying which file.
    let out = sb.churn_env(
        &[("CHURN_SERVE_TOKEN_FILE", &missing.display().to_string())],
        &["serve", "--addr", "127.0.0.1:0"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", crate::common::stderr(&out));
    assert!(crate::common::stderr(&out).contains("serve.token_file"));
}

/// Clients that send a POST's headers and one byte of its body hold an
/// in-flight slot each; 600 of them take all 512, yet the probes still
/// answer at once: a kubelet never restarts a healthy pod for a flood.
#[test]
fn probes_answer_while_stalled_bodies_hold_every_slot() {
    use std::io::{Read, Write};
    let (runtime, addr, stop, server) = real_server(2, std::time::Duration::from_secs(10));
    let stalled: Vec<std::net::TcpStream> = (0..600)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /predict HTTP/1.1\r\nHost: churn\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    let get = |path: &str| -> (String, std::time::Duration) {
        let started = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: churn\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        (answer, started.elapsed())
    };
    // Wait until the flood holds every slot: an ordinary request is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (answer, _) = get("/model");
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains("too many requests in flight"), "{answer}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flood never took the slots: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for path in ["/health", "/live", "/ready"] {
        let (answer, took) = get(path);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(took < std::time::Duration::from_secs(1), "{path} took {took:?}");
    }
    drop(stalled);
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}

/// A POST body must be declared JSON (415 otherwise), a long target is a
/// JSON 414, many small headers reach our own 431 rule rather than
/// hyper's empty refusal, and a client that leaves in the middle of its
/// body is counted as a 400, not as a 413 (#31 D9).
#[test]
fn refusals_are_json_and_client_aborts_are_not_413s() {
    use std::io::{Read, Write};
    let s = hand_state();
    for headers in [&[("content-type", "text/plain")][..], &[]] {
        let (status, v, text) = call_with(&s, "POST", "/predict", headers);
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
        assert!(
            v["details"].as_str().unwrap().contains("application/json"),
            "{text}"
        );
    }
    let (status, _, text) = call_with(
        &s,
        "POST",
        "/predict",
        &[("content-type", "application/json; charset=utf-8")],
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an empty JSON body is malformed: {text}"
    );
    let long = format!("/health?q={}", "a".repeat(9_000));
    let (status, v, text) = call_with(&s, "GET", &long, &[]);
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{text}");
    assert!(v["error"].is_string(), "{text}");

    let (runtime, addr, stop, server) = real_server(2, std::time::Duration::from_secs(5));
    let ask = |request: &str| -> String {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        answer
    };
    let many: String = (0..200).map(|k| format!("x-h{k}: v\r\n")).collect();
    let answer = ask(&format!(
        "GET /health HTTP/1.1\r\nHost: churn\r\n{many}Connection: close\r\n\r\n"
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A body announced at 100 bytes, one sent, then the client leaves.
    let mut gone = std::net::TcpStream::connect(addr).unwrap();
    gone.write_all(
        b"POST /predict HTTP/1.1\r\nHost: churn\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    drop(gone);
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = ask("GET /metrics HTTP/1.1\r\nHost: churn\r\nConnection: close\r\n\r\n");
        if metrics.contains("route=\"/predict\",status=\"400\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(metrics.contains("route=\"/predict\",status=\"400\""), "{metrics}");
    assert!(!metrics.contains("status=\"413\""), "{metrics}");
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}

/// A model with day terms: bit 0 of active_day_bits and bit 1 times the
/// activity rate r. risk = σ(−1 + 0.4 (bit0 − 0.5) / 0.5 − 0.6 (bit1 · r − 0.2) / 0.1).
#[test]
fn day_bits_score_by_their_bits_and_refuse_what_is_not_a_day_mask() {
    let mut bit0 = term(
        "bit00(active_day_bits)",
        Some("active_day_bits"),
        None,
        0.5,
        0.5,
        0.4,
    );
    bit0.transform = Transform::Bit(0);
    let mut bit1 = term(
        "bit01(active_day_bits)*lifetime_activity_rate",
        Some("active_day_bits"),
        None,
        0.2,
        0.1,
        -0.6,
    );
    bit1.transform = Transform::Bit(1);
    bit1.by = Some("lifetime_activity_rate".into());
    let mut loaded = hand_loaded();
    loaded = loaded_from(
        loaded.row.clone(),
        Model {
            model_id: "logreg-hand".into(),
            terms: vec![
                term("(intercept)", None, None, 0.0, 1.0, -1.0),
                bit0,
                bit1,
                term(
                    "lifetime_activity_rate",
                    Some("lifetime_activity_rate"),
                    None,
                    0.3,
                    0.2,
                    0.1,
                ),
            ],
        },
        loaded.predictions_as_of,
        HashMap::new(),
        &Names::default(),
    );
    let s = AppState::new(std::path::Path::new("/nonexistent/churn.duckdb"));
    s.install(loaded);
    let risk = |bits: u32, rate: f64| {
        let body =
            json!({"user_id": "u", "features": {"active_day_bits": bits, "lifetime_activity_rate": rate}});
        let (status, v, _) = call(&s, "POST", "/predict", Some(body.to_string()));
        assert_eq!(status, StatusCode::OK, "{v}");
        v["churn_risk"].as_f64().unwrap()
    };
    let by_hand = |b0: f64, b1: f64, r: f64| {
        sigmoid(-1.0 + 0.4 * (b0 - 0.5) / 0.5 - 0.6 * (b1 * r - 0.2) / 0.1 + 0.1 * (r - 0.3) / 0.2)
    };
    // 0b10: quiet today, active the day before; 0b101: bit 2 is no term.
    assert!((risk(0b10, 0.5) - by_hand(0.0, 1.0, 0.5)).abs() < 1e-15);
    assert!((risk(0b101, 0.25) - by_hand(1.0, 0.0, 0.25)).abs() < 1e-15);
    // A missing rate: the rate term and the bit-times-rate term are imputed.
    let body = json!({"user_id": "u", "features": {"active_day_bits": 3}});
    let (status, v, _) = call(&s, "POST", "/predict", Some(body.to_string()));
    assert_eq!(status, StatusCode::OK, "{v}");
    let want = sigmoid(-1.0 + 0.4 * (1.0 - 0.5) / 0.5);
    assert!((v["churn_risk"].as_f64().unwrap() - want).abs() < 1e-15, "{v}");
    // Not a mask of 21 days: refused, naming the input.
    for bad in [json!(-1), json!(2.5), json!(2097152)] {
        assert_error(
            &s,
            "/predict",
            json!({"user_id": "u", "features": {"active_day_bits": bad}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["features.active_day_bits", "whole number from 0 to 2097151"],
        );
    }
    // The OpenAPI document says so too.
    let (_, doc, _) = call(&s, "GET", "/openapi.json", None);
    let schema = &doc["components"]["schemas"]["PredictRequest"]["properties"]["features"]["properties"]["active_day_bits"]
        ["oneOf"][0];
    assert_eq!(schema["type"], "integer", "{schema}");
    assert_eq!(schema["maximum"], 2097151.0, "{schema}");
}
