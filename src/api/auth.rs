//! Who may read what: the one place the API decides it. `/users/{id}/risk`,
//! `/model` and `/report` carry names and scores, so when `serve.token_file`
//! names a token they need `Authorization: Bearer <token>`; the prediction
//! and probe routes stay open (docs/design.md §6). `app` puts the routes
//! that need the token behind `require_token`, so no handler checks by hand.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::api::state::AppState;

/// Passes the request on when no token is configured or its bearer token is
/// the configured one (compared in constant time); a 401 otherwise.
pub async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match &state.token {
        Some(token) if !bearer_is(&request, token) => ApiError::unauthorized().into_response(),
        _ => next.run(request).await,
    }
}

fn bearer_is(request: &Request, token: &str) -> bool {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
