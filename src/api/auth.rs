//! Who may read what: the one place the API decides it. `/users/{id}/risk`,
//! `/model` and `/report` carry names and scores, so when `serve.token_file`
//! names a token they need `Authorization: Bearer <token>`; the prediction
//! and probe routes stay open (docs/design.md §6). Those three handlers take
//! an `Authorized` argument, first, so none of them runs for a request
//! without the token, and none checks it by hand.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::api::error::ApiError;
use crate::api::state::AppState;

/// Proof that the request may read names and scores: no token is
/// configured, or its bearer token is the configured one (compared in
/// constant time). Extracting it from any other request answers 401.
pub struct Authorized;

impl FromRequestParts<Arc<AppState>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Authorized, ApiError> {
        match &state.token {
            Some(token) if !bearer_is(parts, token) => Err(ApiError::unauthorized()),
            _ => Ok(Authorized),
        }
    }
}

fn bearer_is(parts: &Parts, token: &str) -> bool {
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
