//! The API in-process (tower's oneshot): every route, every bad input with
//! its status and JSON error body, readiness before and after a model, the
//! batch score equal to /predict's, and /metrics as Prometheus text.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use churn::api::state::{Reload, UserRisk, loaded_from};
use churn::api::{AppState, app};
use churn::model::Model;
use churn::model::preprocess::Term;
use churn::model::registry::ModelRow;
use churn::stages::{Stage, run_stage};
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
    }
}

/// A model by hand: risk = σ(0.5 + 0.3 (a - 1) / 2 - 0.2 b + 0.7 [plan = paid]).
fn hand_state() -> Arc<AppState> {
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
        status: "production".into(),
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
    let predictions = HashMap::from([(
        "u1".to_string(),
        UserRisk {
            churn_risk: 0.42,
            risk_rank: 1,
        },
    )]);
    let state = AppState::new(std::path::Path::new("/nonexistent/churn.duckdb"));
    state.install(loaded_from(row, model, Some(day), predictions));
    state
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
               "model_id": "logreg-hand"})
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
    let Reload::Loaded(model_id) = state.reload() else {
        panic!("no model loaded")
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
        let (status, v, text) = call(&state, "POST", "/predict", Some(body.to_string()));
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
