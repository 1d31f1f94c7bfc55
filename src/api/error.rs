//! The one error of the API: a status and a JSON body `{"error", "details"}`,
//! for every failure the server answers, rejections of axum's own extractors
//! and unknown routes or methods included. Internal causes are logged in
//! full and answered briefly: no paths, PIDs or engine messages.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A problem with one key of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// The key, e.g. `features.active_days_7d` or `instances[3].user_id`.
    #[schema(example = "features.active_days_7d")]
    pub field: String,
    #[schema(example = "not a finite number")]
    pub problem: String,
}

/// What went wrong in detail: a sentence, or one entry per offending key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Details {
    Message(String),
    Problems(Vec<Problem>),
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": "invalid instance", "details": [{"field": "features.colour", "problem": "unknown feature; GET /model lists the features"}]}))]
pub struct ErrorBody {
    pub error: String,
    pub details: Details,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, details: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                details: Details::Message(details.into()),
            },
        }
    }

    /// 422 naming every offending key.
    pub fn invalid(problems: Vec<Problem>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody {
                error: "invalid instance".into(),
                details: Details::Problems(problems),
            },
        }
    }

    pub fn malformed(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed JSON", why)
    }

    pub fn too_large(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request too large", why)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs the header `Authorization: Bearer <serve.token>`",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad path",
            format!("the path does not parse: {}", rejection.body_text()),
        )
    }
}

/// Unknown routes: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route",
        "see GET /openapi.json for the routes",
    )
}

/// A known route with another method: a JSON 405.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        "see GET /openapi.json for the methods of each route",
    )
}
