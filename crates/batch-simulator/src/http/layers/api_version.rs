//! `api-version`: every Batch call names one of the published versions (see
//! [`crate::versions`]); the handlers render for the version asked.
//!
//! Missing -> 400 `MissingRequiredQueryParameter` (as recorded by the JS SDK's issue
//! Azure/azure-sdk-for-js#22398); not a published version -> 400
//! `InvalidQueryParameterValue` (as the SDK repos' issues show the service answering,
//! Azure/azure-sdk-for-python#19224 and #20972), both naming `api-version`.

use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ErrorReply;
use crate::http::extract::Query;
use crate::versions::ApiVersion;

/// The newest version the simulator is tested against by default.
pub(crate) const API_VERSION: &str = crate::versions::DEFAULT;

pub(crate) async fn check(query: Query, mut req: Request, next: Next) -> Response {
    match query.get("api-version") {
        None => ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with_value("QueryParameterName", "api-version")
        .into_response(),
        Some(v) => match ApiVersion::parse(v) {
            None => ErrorReply::invalid_query(
                "api-version",
                v,
                "The specified api-version is not supported.",
            )
            .into_response(),
            Some(version) => {
                req.extensions_mut().insert(version);
                next.run(req).await
            }
        },
    }
}

/// The request's api-version, as the layer above found it.
impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or_default())
    }
}
