//! HTTP trigger handlers: scale-up, scale-down, pool-status.

use super::error::{ApiError, failure_status};
use super::params::{ScaleParams, StatusParams, StatusTarget};
use super::response::{OperationBody, Requested};
use crate::batch::{BatchClient, PoolId};
use crate::clock::Clock;
use crate::resizer::{
    ConvergeError, Converger, Lease, LeaseEdit, LeaseId, LeaseWrite, Operation, Outcome,
    PollPolicy, Report, Want,
};
use crate::settings::Settings;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Poll again after this long (real seconds, scaled down in dev/tests).
const RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    batch: BatchClient,
    settings: Settings,
    clock: Clock,
    policy: PollPolicy,
    stop: watch::Receiver<bool>,
}

impl AppState {
    pub fn new(
        batch: BatchClient,
        settings: Settings,
        policy: PollPolicy,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let clock = Clock::scaled(settings.time_scale);
        Self(Arc::new(Inner {
            batch,
            settings,
            clock,
            policy,
            stop,
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The handler's clock: real time in Azure, scaled in dev and tests.
    pub(super) fn clock(&self) -> Clock {
        self.0.clock
    }

    pub(super) fn converger(&self) -> Converger<'_, BatchClient> {
        Converger {
            batch: &self.0.batch,
            clock: self.0.clock,
            policy: self.0.policy,
            stop: Some(self.0.stop.clone()),
            progress: None,
        }
    }
}

pub async fn scale_up(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    scale(app, Operation::ScaleUp, headers, query, body).await
}

pub async fn scale_down(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    scale(app, Operation::ScaleDown, headers, query, body).await
}

async fn scale(
    app: AppState,
    operation: Operation,
    headers: HeaderMap,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = match body
        .map_err(body_error)
        .and_then(|body| ScaleParams::parse(operation, query.as_deref(), &body, app.settings()))
    {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    let want = Want {
        pool_id: params.pool_id.clone(),
        operation,
        dedicated: params.dedicated,
        low_priority: params.low_priority,
        honour_leases: operation == Operation::ScaleDown && params.lease_id.is_some(),
    };
    tracing::info!(
        operation = operation.as_str(),
        pool = %want.pool_id,
        dedicated = want.dedicated,
        low_priority = want.low_priority,
        wait_seconds = params.wait_seconds,
        "starting"
    );
    let requested = Requested {
        dedicated_nodes: Some(params.dedicated),
        low_priority_nodes: Some(params.low_priority),
        wait_seconds: Some(params.wait_seconds),
    };
    let target = StatusTarget {
        operation,
        dedicated: want.dedicated,
        low_priority: want.low_priority,
    };
    let context = Context {
        operation: operation.as_str(),
        pool_id: &want.pool_id,
        lease_id: params.lease_id.as_ref(),
        target: Some(target),
        headers: &headers,
    };
    if let Some(lease_id) = &params.lease_id {
        let edit = match operation {
            Operation::ScaleUp => LeaseEdit::Hold(Lease {
                id: lease_id.clone(),
                dedicated: params.dedicated,
                low_priority: params.low_priority,
                expires: app.0.clock.now_utc()
                    + Duration::from_secs(u64::from(params.lease_minutes) * 60),
            }),
            Operation::ScaleDown => LeaseEdit::Release(lease_id.clone()),
        };
        match app.converger().edit_leases(&want.pool_id, &edit).await {
            Ok(LeaseWrite::TooMany(too_many)) => {
                return failure_response(
                    &context,
                    requested,
                    StatusCode::CONFLICT,
                    "TooManyLeases",
                    too_many.to_string(),
                );
            }
            Ok(outcome) => {
                tracing::info!(operation = operation.as_str(), pool = %want.pool_id, lease = %lease_id, ?outcome, "lease updated");
            }
            Err(error) => return respond(&app, &context, requested, Err(error)),
        }
    }
    let result = app
        .converger()
        .converge(&want, Duration::from_secs(params.wait_seconds.into()))
        .await;
    respond(&app, &context, requested, result)
}

pub async fn pool_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match StatusParams::parse(query.as_deref(), app.settings()) {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    let want = match params.target {
        Some(target) => Want {
            pool_id: params.pool_id.clone(),
            operation: target.operation,
            dedicated: target.dedicated,
            low_priority: target.low_priority,
            honour_leases: target.operation == Operation::ScaleDown && params.lease_id.is_some(),
        },
        // A plain view: judge "scale-up to nothing" so the nodes get listed.
        None => Want {
            pool_id: params.pool_id.clone(),
            operation: Operation::ScaleUp,
            dedicated: 0,
            low_priority: 0,
            honour_leases: false,
        },
    };
    let requested = Requested {
        dedicated_nodes: params.target.map(|t| t.dedicated),
        low_priority_nodes: params.target.map(|t| t.low_priority),
        wait_seconds: None,
    };
    let result = match params.target {
        Some(_) => app.converger().resume(&want).await,
        None => app.converger().check(&want).await,
    };
    let context = Context {
        operation: "pool-status",
        pool_id: &params.pool_id,
        lease_id: params.lease_id.as_ref(),
        target: params.target,
        headers: &headers,
    };
    respond(&app, &context, requested, result)
}

/// What a response needs to know about the request it answers.
struct Context<'a> {
    operation: &'static str,
    pool_id: &'a PoolId,
    lease_id: Option<&'a LeaseId>,
    target: Option<StatusTarget>,
    headers: &'a HeaderMap,
}

fn failure_response(
    context: &Context<'_>,
    requested: Requested,
    status: StatusCode,
    code: &str,
    message: String,
) -> Response {
    tracing::warn!(operation = context.operation, pool = %context.pool_id, code, "{message}");
    let body = OperationBody::refused(context.operation, context.pool_id, requested, code, message);
    (status, Json(body)).into_response()
}

fn respond(
    app: &AppState,
    context: &Context<'_>,
    requested: Requested,
    result: Result<Report, ConvergeError>,
) -> Response {
    let (operation, pool_id, target) = (context.operation, context.pool_id, context.target);
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let body = OperationBody::from_batch_error(operation, pool_id, requested, &error);
            if let Some(e) = &body.error {
                tracing::warn!(operation, pool = %pool_id, code = e.code, error = %e.message, "Batch call failed");
            }
            return (StatusCode::BAD_GATEWAY, Json(body)).into_response();
        }
    };
    let mut body = OperationBody::from_report(operation, pool_id, requested, &report);
    let status = match (&report.outcome, target) {
        (_, None) => StatusCode::OK,
        (Outcome::Converged, Some(_)) => StatusCode::OK,
        (Outcome::Failed(failure), Some(_)) => {
            tracing::warn!(operation, pool = %pool_id, code = ?failure.code, batch_code = failure.batch_code.as_deref(), "{}", failure.message);
            body.failed_with(failure);
            failure_status(failure.code)
        }
        (Outcome::Pending(reason), Some(target)) => {
            let url = status_url(context.headers, pool_id, target, context.lease_id);
            body.in_progress(*reason, Some(url.clone()));
            let retry_after = app.0.clock.to_real(RETRY_AFTER).as_secs().max(1);
            let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
            let response_headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&url) {
                response_headers.insert(header::LOCATION, value);
            }
            response_headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            tracing::info!(operation, pool = %pool_id, waiting_for = reason.describe(), "still converging; answered 202");
            return response;
        }
    };
    if status == StatusCode::OK {
        tracing::info!(operation, pool = %pool_id, waited_seconds = body.waited_seconds, "done");
    }
    (status, Json(body)).into_response()
}

/// The status URL for this pool and target, on the host the caller used.
fn status_url(
    headers: &HeaderMap,
    pool_id: &PoolId,
    target: StatusTarget,
    lease_id: Option<&LeaseId>,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "http" || *p == "https");
    let local = ["localhost", "127.", "[::1]"]
        .iter()
        .any(|prefix| host.starts_with(prefix));
    let scheme = forwarded.unwrap_or(if local { "http" } else { "https" });
    let lease = lease_id
        .map(|id| format!("&leaseId={id}"))
        .unwrap_or_default();
    format!(
        "{scheme}://{host}/api/pool-status?poolId={pool_id}&operation={}&dedicatedNodes={}&lowPriorityNodes={}{lease}",
        target.operation.as_str(),
        target.dedicated,
        target.low_priority
    )
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge {
            limit: super::server::BODY_LIMIT,
        }
    } else {
        ApiError::invalid(
            "InvalidBody",
            format!("cannot read the request body: {rejection}"),
        )
    }
}
