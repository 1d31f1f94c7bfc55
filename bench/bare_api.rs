//! The yardstick of `bench/api.sh`: the least an axum 0.8 server can do for
//! the same requests, so that every run prints the API's throughput as a
//! ratio of it. `POST /predict` parses the same JSON body into a map of
//! inputs and answers a small JSON object; `GET /users/{user_id}/risk`
//! answers a constant one. No limits, no metrics, no model.
//!
//!   cargo run --release --example bare-api -- 127.0.0.1:8766

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Body {
    user_id: Value,
    features: BTreeMap<String, Value>,
}

async fn predict(Json(body): Json<Body>) -> Json<Value> {
    Json(
        json!({"user_id": body.user_id, "churn_risk": 0.05, "model_id": "bare", "imputed": [], "n": body.features.len()}),
    )
}

async fn risk(Path(user_id): Path<String>) -> Json<Value> {
    Json(
        json!({"user_id": user_id, "as_of_date": "2026-12-06", "churn_risk": 0.05, "risk_rank": 1, "model_id": "bare"}),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8766".into());
    let app = Router::new()
        .route("/predict", post(predict))
        .route("/users/{user_id}/risk", get(risk));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
