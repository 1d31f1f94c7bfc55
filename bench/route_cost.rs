//! The user-space cost of a route, in-process: the router of `churn serve`
//! (every layer, the loaded model and slice) called through
//! `tower::ServiceExt::oneshot` on one thread, with no sockets, no wrk and
//! no second server sharing the cores. On a shared VM whose wrk rates move
//! by 10-20% between runs, this is the steadier figure for comparing two
//! builds of the request path (`bench/api.sh` gives the rates).
//!
//!   cargo run --release --example route-cost -- DB [REQUESTS]

use std::path::PathBuf;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use churn::api::{AppState, app};
use serde_json::json;
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let db = PathBuf::from(args.next().expect("usage: route-cost DB [REQUESTS]"));
    let requests: u32 = args
        .next()
        .map_or(200_000, |n| n.parse().expect("REQUESTS: a number"));
    let state = AppState::new(&db);
    let reload = state.reload();
    let model = state
        .model()
        .unwrap_or_else(|| panic!("{db:?}: no production model ({reload:?})"));
    let user = model
        .predictions
        .keys()
        .min()
        .cloned()
        .expect("the file has a scored slice");
    let churn = app(state);
    // The yardstick: bench/bare_api.rs's route, answering a constant.
    let bare = Router::new().route(
        "/users/{user_id}/risk",
        get(|Path(user_id): Path<String>| async move {
            Json(json!({"user_id": user_id, "as_of_date": "2026-12-06", "churn_risk": 0.05, "risk_rank": 1, "model_id": "bare"}))
        }),
    );
    let risk = format!("/users/{user}/risk");
    let routes = [
        ("GET /users/{id}/risk", &churn, risk.as_str()),
        ("GET /health", &churn, "/health"),
        ("bare GET /users/{id}/risk", &bare, risk.as_str()),
    ];
    for (name, router, path) in routes {
        let request = || Request::get(path).body(Body::empty()).unwrap();
        // A first pass warms the caches and the allocator, then the timed one.
        for pass in [requests / 10, requests] {
            let started = Instant::now();
            for _ in 0..pass {
                let response = router.clone().oneshot(request()).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                std::hint::black_box(to_bytes(response.into_body(), usize::MAX).await.unwrap());
            }
            if pass == requests {
                let ns = started.elapsed().as_nanos() as f64 / f64::from(pass);
                println!("{name:<26} {ns:>7.0} ns per request ({pass} requests, one thread)");
            }
        }
    }
}
