//! Errors at the HTTP edge, mapped once to status codes and JSON bodies.
//!
//! Which status each failure gets, and the `error.code` and `error.hint` it
//! carries, is documented once, for callers, in `docs/api.md` (*Answers*);
//! this module is where it is decided: [`Refusal`] for requests refused
//! before anything is done (400, 403, 404/405 routes, 413),
//! [`failure_status`] for a pool that cannot get there (404, 409), and
//! [`batch_failure`] for a Batch call that failed for good (502, or 503
//! when lease writes kept colliding).
//!
//! Every one of them has the full body shape of [`OperationBody`].

use crate::batch::{BatchError, PoolId};
use crate::report::{ErrorView, OperationBody, Requested};
use crate::resizer::{ConvergeError, FailureCode};
use crate::telemetry::escape;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why input was refused (400): each spelled once, here, for the wire.
/// A variant renamed keeps its string; the tests pin the strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputCode {
    InvalidJson,
    InvalidParameter,
    UnknownParameter,
    MissingParameter,
    DuplicateParameter,
    InvalidBody,
}

impl InputCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InputCode::InvalidJson => "InvalidJson",
            InputCode::InvalidParameter => "InvalidParameter",
            InputCode::UnknownParameter => "UnknownParameter",
            InputCode::MissingParameter => "MissingParameter",
            InputCode::DuplicateParameter => "DuplicateParameter",
            InputCode::InvalidBody => "InvalidBody",
        }
    }
}

/// A request refused before anything was done: nothing was asked of Batch.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{message}")]
    Invalid { code: InputCode, message: String },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("pool '{0}' is not one this app may resize (ALLOWED_POOLS)")]
    PoolNotAllowed(String),
    /// Refused for what the request carries, not who sent it: a status URL
    /// this app did not seal, an expired one, a hand-written `resume`.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    Route {
        status: StatusCode,
        code: &'static str,
        message: String,
        /// The function the path names, if any (a 405 on a known route).
        operation: Option<&'static str>,
    },
}

impl Refusal {
    pub(crate) fn invalid(code: InputCode, message: String) -> Self {
        Refusal::Invalid { code, message }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid { code, .. } => code.as_str(),
            Refusal::Route { code, .. } | Refusal::Forbidden { code, .. } => code,
            Refusal::TooLarge { .. } => "PayloadTooLarge",
            Refusal::PoolNotAllowed(_) => "PoolNotAllowed",
        }
    }

    /// What to do about it, where the message does not say.
    fn hint(&self) -> Option<String> {
        match self {
            Refusal::PoolNotAllowed(pool) => Some(format!(
                "name a pool this app may resize (BATCH_POOL_ID, or one the app setting \
                 ALLOWED_POOLS lists), or add '{pool}' to ALLOWED_POOLS (comma-separated ids, \
                 or * for every pool in the account); `cargo run -- dev` reads ALLOWED_POOLS \
                 from its environment too"
            )),
            _ => None,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::Invalid { .. } => StatusCode::BAD_REQUEST,
            Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::PoolNotAllowed(_) | Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::Route { status, .. } => *status,
        }
    }

    /// The answer for a request refused before anything was done, in the
    /// shape every answer has.
    pub(crate) fn respond(
        self,
        operation: Option<&'static str>,
        pool_id: Option<&PoolId>,
        requested: Requested,
    ) -> Response {
        let status = self.status();
        let error = ErrorView {
            hint: self.hint(),
            ..ErrorView::new(self.code(), self.to_string())
        };
        tracing::info!(
            operation,
            status = status.as_u16(),
            code = error.code,
            "refused: {}",
            escape(&error.message)
        );
        let body = OperationBody::failed(operation, pool_id, requested, error);
        (status, Json(body)).into_response()
    }
}

/// A [`Refusal`] with what its answer names: the operation, and the pool
/// when the request named one. The handlers' error type (as `http/error.rs`
/// is in realworld-axum-sqlx): they refuse with `?`, and the answer is made
/// once, here.
#[derive(Debug)]
pub(crate) struct RefusedRequest {
    refusal: Refusal,
    operation: &'static str,
    pool_id: Option<PoolId>,
}

impl Refusal {
    /// This refusal, as the answer to `operation` (about `pool_id`).
    pub(crate) fn of(self, operation: &'static str, pool_id: Option<PoolId>) -> RefusedRequest {
        RefusedRequest {
            refusal: self,
            operation,
            pool_id,
        }
    }
}

impl IntoResponse for RefusedRequest {
    fn into_response(self) -> Response {
        self.refusal.respond(
            Some(self.operation),
            self.pool_id.as_ref(),
            Requested::default(),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let operation = match &self {
            Refusal::Route { operation, .. } => *operation,
            _ => None,
        };
        self.respond(operation, None, Requested::default())
    }
}

/// HTTP status for a resizer failure.
pub(crate) fn failure_status(code: FailureCode) -> StatusCode {
    match code {
        FailureCode::PoolNotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    }
}

/// Status and error view for a run a Batch call ended.
pub(crate) fn batch_failure(error: &ConvergeError) -> (StatusCode, ErrorView) {
    let view = crate::service::Served::error_view(error);
    let status = match error.source {
        BatchError::Contended { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resizer::FailureCode;

    /// Every code an answer can carry is spelled where it is defined, and
    /// the caller's reference, docs/api.md, names each one.
    #[test]
    fn every_code_is_spelled_once_and_documented() {
        let api =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
        let input = [
            (InputCode::InvalidJson, "InvalidJson"),
            (InputCode::InvalidParameter, "InvalidParameter"),
            (InputCode::UnknownParameter, "UnknownParameter"),
            (InputCode::MissingParameter, "MissingParameter"),
            (InputCode::DuplicateParameter, "DuplicateParameter"),
            (InputCode::InvalidBody, "InvalidBody"),
        ];
        let failures = [
            (FailureCode::PoolNotFound, "PoolNotFound"),
            (FailureCode::PoolBeingDeleted, "PoolBeingDeleted"),
            (FailureCode::AutoScaleEnabled, "AutoScaleEnabled"),
            (FailureCode::ResizeFailed, "ResizeFailed"),
            (FailureCode::StartTaskFailed, "StartTaskFailed"),
            (FailureCode::NodesUnusable, "NodesUnusable"),
            (FailureCode::PoolNotConverging, "PoolNotConverging"),
            (FailureCode::ProvisionTimedOut, "ProvisionTimedOut"),
            (FailureCode::PoolPaused, "PoolPaused"),
            (FailureCode::BackingOff, "BackingOff"),
        ];
        let spelled = input
            .iter()
            .map(|(code, s)| (code.as_str(), *s))
            .chain(failures.iter().map(|(code, s)| (code.as_str(), *s)));
        for (code, wire) in spelled {
            assert_eq!(code, wire);
            if wire != "InvalidBody" {
                assert!(
                    api.contains(&format!("`{wire}`")),
                    "docs/api.md does not name {wire}"
                );
            }
        }
    }
}
