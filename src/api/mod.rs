//! `churn serve`: the prediction API of docs/design.md §6 (axum + tokio).
//!
//! The server never holds the DuckDB file open: it opens it read-only, loads
//! the production model and its latest predictions into memory, closes it,
//! and polls every `serve.reload_interval_s` for a newer model or slice,
//! swapping it in atomically (requests in flight keep the model they started
//! with). `app(state)` is the whole router, so tests run it in-process.

pub mod answer;
mod auth;
pub mod error;
pub mod handlers;
mod idle;
pub mod input;
pub mod metrics;
pub mod probe;
pub mod state;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer, Service};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::config::Config;
use crate::error::{Error, Result};
use error::ApiError;
pub use state::AppState;

/// A request is answered (or refused with a 503) within this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection quiet between requests is closed after the request time
/// limit and this much more (`idle`).
pub const IDLE_MARGIN: Duration = Duration::from_secs(5);
/// Requests in flight at SIGTERM get this long to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest header section we answer (a larger one: a JSON 431).
pub const MAX_HEADER_BYTES: usize = 16 << 10;
/// Longest request target we answer (a longer one: a JSON 414). hyper
/// itself answers, with an empty body, only beyond 64 KiB of target, 1,024
/// headers (`serve`) or its 400 KiB read buffer.
pub const MAX_URI_BYTES: usize = 8 << 10;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "churn",
        description = "Churn risk from the promoted model of a churn DuckDB file. Every error is a JSON \
                       ErrorBody; /report, /model and /users/{user_id}/risk need a bearer token when \
                       serve.token is set."
    ),
    paths(
        handlers::health,
        handlers::live,
        handlers::ready,
        handlers::predict,
        handlers::predict_batch,
        handlers::user_risk,
        handlers::model,
        handlers::report,
        handlers::metrics,
        openapi
    ),
    components(schemas(
        error::ErrorBody,
        error::Details,
        error::Problem,
        input::UserId,
        input::FeatureValue,
        input::PredictRequest,
        input::BatchRequest,
        handlers::PredictResponse,
        handlers::BatchResponse,
        handlers::Health,
        handlers::Ready,
        handlers::UserRiskResponse,
        handlers::ReasonBody,
        handlers::ModelResponse,
        handlers::TermRow
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "probes", description = "Liveness, readiness, metrics and this document"),
        (name = "predictions", description = "Scores: on demand and from the latest batch"),
        (name = "model", description = "The production model and its report")
    )
)]
pub struct ApiDoc;

/// This OpenAPI document. With a model loaded, an instance's `features`
/// are that model's inputs exactly: numbers within ±1e12 (or null) for the
/// numeric ones, strings (or null) for plan, country and marketing_source,
/// and no other name.
#[utoipa::path(get, path = "/openapi.json", tag = "probes", responses(
    (status = 200, description = "The OpenAPI 3 document of this server", content_type = "application/json", body = Object)
))]
pub async fn openapi(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(m) = state.model() {
        let mut properties = serde_json::Map::new();
        for (j, name) in m.numeric.iter().enumerate() {
            let day_bits = m.inputs.iter().any(|i| {
                matches!(i, state::Input::Numeric { j: slot, term, .. }
                    if *slot == j && term.transform.is_bit())
            });
            let number = if day_bits {
                serde_json::json!({"type": "integer", "minimum": 0, "maximum": handlers::DAY_BITS_MAX,
                    "description": "bit i (the value 2^i) set when the user was active i days before the as-of day"})
            } else {
                serde_json::json!({"type": "number", "minimum": -input::MAX_ABS_VALUE, "maximum": input::MAX_ABS_VALUE})
            };
            properties.insert(
                name.clone(),
                serde_json::json!({"oneOf": [number, {"type": "null"}]}),
            );
        }
        for name in &m.categorical {
            properties.insert(
                name.clone(),
                serde_json::json!({"oneOf": [{"type": "string"}, {"type": "null"}]}),
            );
        }
        doc["components"]["schemas"]["PredictRequest"]["properties"]["features"] = serde_json::json!({
            "type": "object",
            "description": format!("The inputs of model {} (GET /model); a missing or null one is imputed.", m.version.model_id),
            "properties": properties,
            "additionalProperties": false
        });
    }
    axum::Json(doc)
}

/// Every request: a bounded number in flight (more get a 503 at once; the
/// probes are not counted, so clients that stall their bodies cannot make a
/// kubelet restart a healthy pod), a time limit on the routes that can
/// wait (a 503 after it; `waits`), a target
/// and header sections of a bounded size (a JSON 414 and 431),
/// counted and timed by its matched route (never the raw URL) and a known
/// method (any other counts as "other"), and logged: a refusal (4xx) at
/// info, a failure (5xx) at warn, every request at debug.
async fn track<S>(state: &AppState, request: Request, mut next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let method = metrics::method_label(request.method().as_str());
    let (slot, route) = route_label(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let uri = request.uri();
    let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    let response = if uri_bytes > MAX_URI_BYTES {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "request target too long",
            format!("the target takes {uri_bytes} bytes; the limit is {MAX_URI_BYTES}"),
        )
        .into_response()
    } else if header_bytes > MAX_HEADER_BYTES {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
            format!("the headers take {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}"),
        )
        .into_response()
    } else if is_probe(route) {
        answer(next.call(request).await)
    } else {
        match state.in_flight.try_acquire() {
            Err(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in flight",
                format!(
                    "more than {} requests are in flight; retry shortly",
                    state::MAX_IN_FLIGHT
                ),
            )
            .into_response(),
            Ok(_permit) if !waits(route) => answer(next.call(request).await),
            Ok(_permit) => match tokio::time::timeout(REQUEST_TIMEOUT, next.call(request)).await {
                Ok(response) => answer(response),
                Err(_) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request timed out",
                    format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
                )
                .into_response(),
            },
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    state.metrics.request(method, route, slot, status, seconds);
    let quiet = matches!(route, "/health" | "/live" | "/ready" | "/metrics");
    // Answered requests are counted and timed in /metrics; the log names
    // the refused (info) and failed (warn) ones, and every one at debug.
    if status.is_server_error() {
        tracing::warn!(%method, %route, status = status.as_u16(), seconds, "request failed");
    } else if status.is_client_error() && !quiet {
        tracing::info!(%method, %route, status = status.as_u16(), seconds, "request refused");
    } else {
        tracing::debug!(%method, %route, status = status.as_u16(), seconds, "request");
    }
    response
}

/// A route's answer (routes never fail: their errors are answers).
fn answer(result: Result<Response, Infallible>) -> Response {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `track` around each route, as a tower layer: a request costs one boxed
/// future and one clone of the route and the state (axum's `from_fn`
/// boxed, cloned and wrapped twice more, a tenth of the throughput of the
/// busiest route in `bench/api.sh`).
#[derive(Clone)]
struct Track {
    state: Arc<AppState>,
}

impl<S> Layer<S> for Track {
    type Service = Tracked<S>;

    fn layer(&self, route: S) -> Tracked<S> {
        Tracked {
            route,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
struct Tracked<S> {
    route: S,
    state: Arc<AppState>,
}

impl<S> Service<Request> for Tracked<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The route that was polled ready serves this request; its clone
        // waits for the next (tower's contract).
        let ready = self.route.clone();
        let route = std::mem::replace(&mut self.route, ready);
        let state = self.state.clone();
        Box::pin(async move { Ok(track(&state, request, route).await) })
    }
}

/// Every route of `app`, as the metrics label it.
const ROUTES: [&str; 10] = [
    "/health",
    "/live",
    "/ready",
    "/predict",
    "/predict/batch",
    "/metrics",
    "/openapi.json",
    "/users/{user_id}/risk",
    "/model",
    "/report",
];

/// A request's route as a label, and its index in `ROUTES`: its matched
/// route, or "unmatched" (a static string, so the request keeps its own;
/// `every_route_has_its_label`).
fn route_label(matched: Option<&str>) -> (Option<usize>, &'static str) {
    matched
        .and_then(|m| ROUTES.iter().position(|r| *r == m))
        .map_or((None, "unmatched"), |i| (Some(i), ROUTES[i]))
}

/// The routes that can wait, and so have the time limit: those that read a
/// request body (a client can send it slowly) and the report (built from
/// the file at its first request). The others answer from memory at once;
/// a timer for each of their requests cost 2% of the throughput of the
/// busiest, `GET /users/{id}/risk`.
fn waits(route: &str) -> bool {
    matches!(route, "/predict" | "/predict/batch" | "/report")
}

/// The routes a kubelet probes: answered from memory at once, outside the
/// in-flight bound.
fn is_probe(route: &str) -> bool {
    matches!(route, "/health" | "/live" | "/ready")
}

/// The router: every route of docs/design.md §6 plus /openapi.json.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/live", get(handlers::live))
        .route("/ready", get(handlers::ready))
        .route("/predict", post(handlers::predict))
        .route("/predict/batch", post(handlers::predict_batch))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(openapi))
        // These three need the bearer token when one is set (`auth`).
        .route("/users/{user_id}/risk", get(handlers::user_risk))
        .route("/model", get(handlers::model))
        .route("/report", get(handlers::report))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Track { state: state.clone() })
        .with_state(state)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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

/// Serves `app` on `listener` until `shutdown` resolves, then drains the
/// requests in flight (up to `DRAIN_TIMEOUT`). HTTP/1.1, with a header read
/// timeout: a client that has not sent its headers within `header_timeout`
/// is dropped, and so is one that sends nothing at all in that time, or
/// nothing between requests for longer than the request time limit
/// (`idle`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Past hyper's 100, so that a request of many small headers meets
        // our JSON 431 (MAX_HEADER_BYTES) rather than hyper's empty one (a
        // request of more than 256 still gets hyper's). Not higher: hyper
        // sets up room for this many headers for every request (1,024 cost
        // 5% of POST /predict's throughput).
        .max_headers(256);
    let builder = builder.http1_only();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: wait, then go on.
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = TowerToHyperService::new(app.clone());
                let connection = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(idle::Idle::new(stream, header_timeout, REQUEST_TIMEOUT + IDLE_MARGIN)),
                        service,
                    )
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still in flight after {} s: closing them", DRAIN_TIMEOUT.as_secs());
        },
    }
    Ok(())
}

/// The bearer token the server requires: the content of `serve.token_file`
/// when it is set, else `serve.token`; None when both are empty (an open
/// server, which the start log says). A token file that is set but cannot be
/// read, or holds nothing, is a configuration error: starting without the
/// token would open what the operator meant to close.
pub fn resolve_token(serve: &crate::config::ServeConfig) -> Result<Option<String>> {
    if !serve.token_file.is_empty() {
        let text = std::fs::read_to_string(&serve.token_file).map_err(|e| {
            Error::Config(format!(
                "serve.token_file {}: {e}; mount the Secret that holds the token there (k8s/api.yaml), or \
                 unset serve.token_file to serve without a token",
                serve.token_file
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::Config(format!(
                "serve.token_file {} is empty: put the token in it, or unset serve.token_file to serve \
                 without a token",
                serve.token_file
            )));
        }
        return Ok(Some(token.to_string()));
    }
    Ok(Some(serve.token.trim().to_string()).filter(|t| !t.is_empty()))
}

/// `churn serve`: binds, loads the model (or starts not ready), polls for
/// new models, and drains on SIGTERM.
pub fn serve_at(db: &Path, config: &Config, addr: Option<&str>) -> Result<()> {
    let addr_text = addr.unwrap_or(&config.serve.addr).to_string();
    let addr: SocketAddr = addr_text.parse().map_err(|e| {
        Error::Usage(format!(
            "--addr {addr_text}: {e}; give an address like 127.0.0.1:8000 or 0.0.0.0:8000"
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
    let token = resolve_token(&config.serve)?;
    let header_timeout_s = config.serve.header_timeout_s;
    match (&token, addr.ip().is_loopback()) {
        (Some(_), _) => tracing::info!("/report, /model and /users/{{id}}/risk need the bearer token"),
        (None, true) => tracing::info!(
            %addr,
            "serving /report, /model and /users/{{id}}/risk without a token (serve.token and \
             serve.token_file are empty), on a loopback address"
        ),
        (None, false) => tracing::warn!(
            %addr,
            "serving /report, /model and /users/{{id}}/risk without a token (serve.token and \
             serve.token_file are empty) on a non-loopback address; set serve.token_file (a mounted \
             Secret) or CHURN_SERVE_TOKEN to protect them"
        ),
    }
    let state = AppState::with_token(db, token);
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Io {
            context: format!("binding {addr} (is another server running there?)"),
            source,
        })?;
        let first = {
            let s = state.clone();
            tokio::task::spawn_blocking(move || s.reload()).await
        };
        if let Ok(state::Reload::NoModel(_) | state::Reload::Failed(_)) = first {
            tracing::warn!(
                "starting not ready: {}",
                state.not_ready_reason().unwrap_or_default()
            );
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
        let header_timeout = Duration::from_secs_f64(header_timeout_s);
        let served = serve(listener, app(state), shutdown_signal(), header_timeout).await;
        poller.abort();
        served.map_err(|source| Error::Io {
            context: "serving HTTP".into(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented route (the document lists every route) is counted
    /// under its own label, anything else as "unmatched".
    #[test]
    fn every_route_has_its_label() {
        let doc = ApiDoc::openapi();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for path in &paths {
            assert_eq!(route_label(Some(path)).1, *path);
        }
        assert_eq!(paths.len(), ROUTES.len(), "{paths:?}");
        assert!(ROUTES.len() <= metrics::ROUTE_SLOTS);
        assert_eq!(route_label(Some("/users/u1/risk")), (None, "unmatched"));
        assert_eq!(route_label(None), (None, "unmatched"));
    }
}
