//! Errors at the HTTP edge, mapped once to status codes and JSON bodies.
//!
//! The mapping, which the README documents:
//! - 400 the caller's input is wrong (code says which rule).
//! - 403 the pool is not in `ALLOWED_POOLS`.
//! - 404 the pool does not exist; 405/404 for unknown methods and routes.
//! - 409 the pool cannot get there: autoscale on, being deleted, a resize
//!   error (quota, allocation), start task failures, unusable nodes.
//! - 413 body too large.
//! - 502 Batch could not be reached, refused our credentials, or answered
//!   something unexpected after the pipeline's retries.

use crate::batch::BatchError;
use crate::resizer::{ConvergeError, FailureCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("pool '{0}' is not one this app may resize (ALLOWED_POOLS)")]
    PoolNotAllowed(String),
    #[error("{message}")]
    Route {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn invalid(code: &'static str, message: String) -> Self {
        ApiError::Invalid { code, message }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { code, .. } | ApiError::Route { code, .. } => code,
            ApiError::TooLarge { .. } => "PayloadTooLarge",
            ApiError::PoolNotAllowed(_) => "PoolNotAllowed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PoolNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::Route { status, .. } => *status,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": "failed",
            "error": { "code": self.code(), "message": self.to_string() },
        });
        (self.status(), Json(body)).into_response()
    }
}

/// HTTP status for a resizer failure.
pub fn failure_status(code: FailureCode) -> StatusCode {
    match code {
        FailureCode::PoolNotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    }
}

/// Code and message for a Batch call that failed for good.
pub fn batch_failure(error: &ConvergeError) -> (&'static str, String) {
    let code = match &error.source {
        BatchError::Credential(_) => "BatchAuthenticationFailed",
        BatchError::Service {
            status: 401 | 403, ..
        } => "BatchAuthenticationFailed",
        BatchError::Service { status, .. } if *status < 500 => "BatchRequestRejected",
        BatchError::Decode(_) => "BatchResponseUnreadable",
        _ => "BatchUnavailable",
    };
    (code, error.to_string())
}
