//! `churn serve`: the prediction API of DESIGN §6 (axum + tokio).
//!
//! The server never holds the DuckDB file open: it opens it read-only, loads
//! the production model and its latest predictions into memory, closes it,
//! and polls every `serve.reload_interval_s` for a newer model or slice,
//! swapping it in atomically (requests in flight keep the model they started
//! with). `app(state)` is the whole router, so tests run it in-process.

pub mod handlers;
pub mod metrics;
pub mod probe;
pub mod state;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::OpenApi;

use crate::config::Config;
use crate::error::{Error, Result};
pub use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "churn",
        description = "Churn risk from the promoted model of a churn DuckDB file"
    ),
    paths(
        handlers::health,
        handlers::ready,
        handlers::predict,
        handlers::predict_batch,
        handlers::user_risk,
        handlers::model,
        handlers::report,
        handlers::metrics
    ),
    components(schemas(
        handlers::ErrorBody,
        handlers::PredictRequest,
        handlers::PredictResponse,
        handlers::BatchRequest,
        handlers::BatchResponse,
        handlers::Health,
        handlers::Ready,
        handlers::UserRiskResponse,
        handlers::ModelResponse,
        handlers::TermRow
    ))
)]
pub struct ApiDoc;

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// Counts and times every request by its matched route (never the raw URL)
/// and logs it; health, liveness, readiness and metrics log at debug.
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    let m = &state.metrics;
    m.requests
        .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
        .inc();
    m.duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(seconds);
    let quiet = matches!(route.as_str(), "/health" | "/live" | "/ready" | "/metrics");
    if status.is_server_error() {
        tracing::warn!(%method, %route, status = status.as_u16(), seconds, "request failed");
    } else if quiet {
        tracing::debug!(%method, %route, status = status.as_u16(), seconds, "request");
    } else {
        tracing::info!(%method, %route, status = status.as_u16(), seconds, "request");
    }
    response
}

/// The router: every route of DESIGN §6 plus /openapi.json.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/live", get(handlers::health))
        .route("/ready", get(handlers::ready))
        .route("/predict", post(handlers::predict))
        .route("/predict/batch", post(handlers::predict_batch))
        .route("/users/{user_id}/risk", get(handlers::user_risk))
        .route("/model", get(handlers::model))
        .route("/report", get(handlers::report))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(openapi))
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `churn serve`: binds, loads the model (or starts not ready), polls for
/// new models, and drains on SIGTERM.
pub fn serve(db: &Path, config: &Config, addr: Option<&str>) -> Result<()> {
    let addr_text = addr.unwrap_or(&config.serve.addr).to_string();
    let addr: SocketAddr = addr_text.parse().map_err(|e| {
        Error::Usage(format!(
            "--addr {addr_text}: {e}; give an address like 0.0.0.0:8000 or 127.0.0.1:8080"
        ))
    })?;
    let interval = Duration::from_secs(config.serve.reload_interval_s.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime".into(),
            source,
        })?;
    let state = AppState::new(db);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Io {
                context: format!("binding {addr} (is another server running there?)"),
                source,
            })?;
        let first = {
            let s = state.clone();
            tokio::task::spawn_blocking(move || s.reload()).await
        };
        if let Ok(state::Reload::NoModel(reason) | state::Reload::Failed(reason)) = first {
            tracing::warn!("starting not ready: {reason}");
        }
        let poller = {
            let s = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let s = s.clone();
                    let _ = tokio::task::spawn_blocking(move || s.reload()).await;
                }
            })
        };
        tracing::info!(%addr, db = %db.display(), "serving; reloading every {} s", interval.as_secs());
        let served = axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await;
        poller.abort();
        served.map_err(|source| Error::Io {
            context: "serving HTTP".into(),
            source,
        })
    })
}
