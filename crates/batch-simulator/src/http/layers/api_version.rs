//! `api-version`: every Batch call names the one version served.
//!
//! Missing -> 400 `MissingRequiredQueryParameter`, another -> 400
//! `UnsupportedRequestVersion` (the codes are our best reading of the error catalogue,
//! unverified), both with `QueryParameterName: api-version`.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::http::extract::Query;

/// The only data-plane version served.
pub const API_VERSION: &str = "2025-06-01";

pub async fn check(query: Query, req: Request, next: Next) -> Response {
    match query.get("api-version") {
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with_value("QueryParameterName", "api-version")
        .into_response(),
        Some(v) if v != API_VERSION => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedRequestVersion",
            "The specified api-version is not supported.",
        )
        .with_value("QueryParameterName", "api-version")
        .with_value("QueryParameterValue", v)
        .into_response(),
        Some(_) => next.run(req).await,
    }
}
