//! HTTP trigger handlers: scale-up, scale-down, pool-status.
//!
//! Thin: parse, build a [`Want`], run the resizer, map its report to one
//! status and the one body shape. A request refused before anything is done
//! is their `Err` ([`RefusedRequest`], with `?`), answered once in
//! [`super::error`]. The rules they keep:
//! - a 200 always rests on an observation of the pool made by this call;
//! - a GET never changes a pool unless it is a status URL this service
//!   issued (`operation-status?token=`, a sealed capability: see
//!   [`super::status_url`]), and then only by that operation's next step;
//!   `pool-status` only looks, and refuses `resume=1` (403);
//! - every shrink keeps what other pipelines' live leases need, unless an
//!   operator says `force=true` (and the answer lists what it overrode).

use super::error::{InputCode, Refusal, RefusedRequest, batch_failure, failure_status};
use super::params::{
    PauseParams, ScaleParams, StatusParams, StatusTarget, lease_request, pool_hint,
};
use super::state::AppState;
use super::status_url::{Capability, LeaseTerms, Refused, TOKEN_PARAM, status_url};
use crate::report::{ErrorView, OperationBody, Requested};
use crate::resizer::{ConvergeError, LeaseRule, Observed, Operation, Outcome, Report, Want};
use crate::service::{LeaseRequest, StatusRequest, Unwritten};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Poll again after this long (real seconds, scaled down in dev/tests).
const RETRY_AFTER: Duration = Duration::from_secs(10);

pub(crate) async fn scale_up(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    scale(app, Operation::ScaleUp, headers, query, body).await
}

pub(crate) async fn scale_down(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    scale(app, Operation::ScaleDown, headers, query, body).await
}

async fn scale(
    app: AppState,
    operation: Operation,
    headers: HeaderMap,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    let refuse = |e: Refusal, body: &[u8]| {
        e.of(
            operation.as_str(),
            pool_hint(query.as_deref(), body, app.settings()),
        )
    };
    let body = body.map_err(|rejection| refuse(body_error(rejection), b""))?;
    let params = ScaleParams::parse(operation, query.as_deref(), &body, app.settings())
        .map_err(|e| refuse(e, &body))?;
    let request = params.into_request(operation);
    tracing::info!(
        operation = operation.as_str(),
        pool = %request.pool_id,
        dedicated = request.dedicated,
        low_priority = request.low_priority,
        wait_seconds = request.wait.as_secs(),
        force = request.force,
        "starting"
    );
    let answer = app.service().scale(&request).await.map_err(|over| {
        refuse(
            Refusal::invalid(InputCode::InvalidParameter, over.to_string()),
            &body,
        )
    })?;
    let requested = request.requested();
    let context = Context {
        operation: operation.as_str(),
        want: &answer.want,
        target: Some(StatusTarget {
            operation,
            dedicated: request.dedicated,
            low_priority: request.low_priority,
        }),
        headers: &headers,
        resumed: Resumed::Acting,
        not_written: &answer.not_written,
        held_lease: match operation {
            Operation::ScaleUp => request.lease.as_ref(),
            Operation::ScaleDown => None,
        },
    };
    Ok(respond(&app, &context, requested, answer.result))
}

/// `POST /api/pause`: an operator stops every route and timer from
/// resizing the pool until `unpause`; every answer says who and since when.
pub(crate) async fn pause(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    set_pause(app, true, headers, query, body).await
}

/// `POST /api/unpause`.
pub(crate) async fn unpause(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    set_pause(app, false, headers, query, body).await
}

async fn set_pause(
    app: AppState,
    pausing: bool,
    headers: HeaderMap,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefusedRequest> {
    let operation = if pausing { "pause" } else { "unpause" };
    let refuse = |e: Refusal, body: &[u8]| {
        e.of(operation, pool_hint(query.as_deref(), body, app.settings()))
    };
    let body = body.map_err(|rejection| refuse(body_error(rejection), b""))?;
    let params = PauseParams::parse(query.as_deref(), &body, app.settings())
        .map_err(|e| refuse(e, &body))?;
    let paused = pausing.then(|| crate::resizer::marks::Paused {
        by: params.by.clone(),
        since: app
            .clock()
            .now_utc()
            .replace_nanosecond(0)
            .unwrap_or(app.clock().now_utc()),
        reason: params.reason.clone(),
    });
    tracing::info!(operation, pool = %params.pool_id, by = %crate::telemetry::escape(&params.by), "pause switch");
    let answer = app.service().pause(&params.pool_id, paused).await;
    let context = Context {
        operation,
        want: &answer.want,
        target: None,
        headers: &headers,
        resumed: Resumed::No,
        not_written: &answer.not_written,
        held_lease: None,
    };
    Ok(respond(&app, &context, Requested::default(), answer.result))
}

/// `GET /api/pool-status`: a look, judged against a target if one is
/// given. It never acts: a `resume=1` written by hand is refused, since
/// only a status URL this app sealed may act ([`operation_status`]).
pub(crate) async fn pool_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, RefusedRequest> {
    let refuse = |e: Refusal| {
        e.of(
            "pool-status",
            pool_hint(query.as_deref(), b"", app.settings()),
        )
    };
    let params = StatusParams::parse(query.as_deref(), app.settings()).map_err(&refuse)?;
    if params.resume {
        return Err(refuse(Refusal::Forbidden {
            code: "ResumeNotSigned",
            message: "pool-status only looks: resume=1 acts only through a status URL this app issued (the statusUrl / Location of a 202, /api/operation-status?token=...). Nothing was changed".into(),
        }));
    }
    let request = params.into_request();
    // A look with a target answers 202 while it is not met, and its status
    // URL only looks too: a key that opens pool-status buys no action.
    status(&app, "pool-status", &headers, request, Resumed::No).await
}

/// `GET /api/operation-status?token=...`: the status URL of a 202, on an
/// anonymous route (ADF follows it with no headers). The token is the only
/// authority: anything it does not open to, or any parameter beside it,
/// acts on nothing and is refused with 403 before a Batch call.
pub(crate) async fn operation_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, RefusedRequest> {
    const OPERATION: &str = "operation-status";
    let capability = open_capability(&app, query.as_deref()).map_err(|e| e.of(OPERATION, None))?;
    if !app.settings().allowed_pools.allows(&capability.pool_id) {
        let refusal = Refusal::PoolNotAllowed(capability.pool_id.to_string());
        return Err(refusal.of(OPERATION, Some(capability.pool_id)));
    }
    let request = StatusRequest {
        pool_id: capability.pool_id.clone(),
        target: Some((
            capability.operation,
            capability.dedicated,
            capability.low_priority,
        )),
        lease: capability
            .lease
            .clone()
            .and_then(|terms| lease_request(Some(terms.id), terms.minutes, terms.idle_minutes)),
        resume: capability.acts,
        fallback_to_dedicated: capability.fallback_to_dedicated,
    };
    let resumed = Resumed::Yes {
        acts: capability.acts,
        expires: capability.expires,
    };
    status(&app, OPERATION, &headers, request, resumed).await
}

/// The capability a status URL's query carries, or why it carries none.
fn open_capability(app: &AppState, query: Option<&str>) -> Result<Capability, Refusal> {
    let mut token = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            TOKEN_PARAM if token.is_none() => token = Some(value.into_owned()),
            // A key the caller added anyway is the host's business, not ours.
            "code" => {}
            _ => return Err(refused(&Refused::NotIssued)),
        }
    }
    let token = token.ok_or_else(|| refused(&Refused::NotIssued))?;
    app.status_urls()
        .open(&token, app.clock().now_utc())
        .map_err(|why| refused(&why))
}

fn refused(why: &Refused) -> Refusal {
    Refusal::Forbidden {
        code: why.code(),
        message: why.to_string(),
    }
}

/// A look or a resumed operation, through the service, to one answer.
async fn status(
    app: &AppState,
    operation: &'static str,
    headers: &HeaderMap,
    request: StatusRequest,
    resumed: Resumed,
) -> Result<Response, RefusedRequest> {
    let answer = app.service().status(&request).await.map_err(|over| {
        Refusal::invalid(InputCode::InvalidParameter, over.to_string())
            .of(operation, Some(request.pool_id.clone()))
    })?;
    let context = Context {
        operation,
        want: &answer.want,
        target: request
            .target
            .map(|(operation, dedicated, low_priority)| StatusTarget {
                operation,
                dedicated,
                low_priority,
            }),
        headers,
        resumed,
        not_written: &answer.not_written,
        held_lease: match request.target {
            Some((Operation::ScaleUp, ..)) => request.lease.as_ref(),
            _ => None,
        },
    };
    Ok(respond(app, &context, request.requested(), answer.result))
}

/// Where a request's authority comes from, which its 202's status URL
/// inherits: never more than it had, never for longer.
#[derive(Debug, Clone, Copy)]
enum Resumed {
    /// A new scale operation: its status URL acts, with a fresh expiry.
    Acting,
    /// A `pool-status` look (or a pause): its status URL only looks.
    No,
    /// A status URL followed: the next one keeps what it could do and its
    /// expiry (polling never extends a capability).
    Yes {
        acts: bool,
        expires: time::OffsetDateTime,
    },
}

/// What a response needs to know about the request it answers.
struct Context<'a> {
    operation: &'static str,
    want: &'a Want,
    /// The operation a 202's status URL resumes; `None` for a plain look.
    target: Option<StatusTarget>,
    headers: &'a HeaderMap,
    /// What the status URL of a 202 may do, and until when.
    resumed: Resumed,
    /// What the service left for the next call to write.
    not_written: &'a [Unwritten],
    /// A scale-up's lease and its terms, which its status URL carries so
    /// that a poll can still write it (a scale-down's comes from `want`).
    held_lease: Option<&'a LeaseRequest>,
}

/// 503: Batch was too busy to observe or write anything in the time we
/// had. Nothing changed, so the honest answer is "call again", with when.
fn throttled(
    app: &AppState,
    context: &Context<'_>,
    requested: Requested,
    message: String,
    retry_after: Option<Duration>,
    waited: Duration,
) -> Response {
    tracing::warn!(operation = context.operation, pool = %context.want.pool_id, "{}", crate::telemetry::escape(&message));
    let mut body = OperationBody::failed(
        Some(context.operation),
        Some(&context.want.pool_id),
        requested,
        ErrorView::new("BatchThrottled", message),
    );
    body.waited_seconds = crate::resizer::converge::seconds(waited);
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_header(app, retry_after));
    response
}

/// `Retry-After` in real seconds: Batch's own ask when it gave one, never
/// less than our polling cadence.
fn retry_after_header(app: &AppState, batch_asked: Option<Duration>) -> HeaderValue {
    let wait = RETRY_AFTER.max(batch_asked.unwrap_or_default());
    HeaderValue::from(app.clock().to_real(wait).as_secs().max(1))
}

fn respond(
    app: &AppState,
    context: &Context<'_>,
    requested: Requested,
    result: Result<Report, ConvergeError>,
) -> Response {
    let (operation, want) = (context.operation, context.want);
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let (status, view) = batch_failure(&error);
            let mut body = OperationBody::from_error(operation, want, requested, &error, view);
            body.not_written = unwritten(context);
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_header(app, None));
            }
            return response;
        }
    };
    let Some(observed) = &report.last else {
        // Batch never answered: pending for an operation (it may still be
        // resumed), but a look with nothing seen is not a success.
        if context.target.is_none() {
            return throttled(
                app,
                context,
                requested,
                "Batch was throttling or too slow to answer; nothing was observed".into(),
                report.retry_after,
                report.waited,
            );
        }
        return pending(app, context, requested, &report);
    };
    let mut body = OperationBody::from_report(operation, want, requested, &report);
    let status = match (&report.outcome, context.target) {
        (_, None) if *observed == Observed::Missing => {
            let failure = crate::resizer::decide(observed, want, Default::default());
            if let crate::resizer::Step::Fail(failure) = failure {
                body.failed_with(&failure);
            }
            StatusCode::NOT_FOUND
        }
        (_, None) => StatusCode::OK,
        (Outcome::Converged, Some(_)) => StatusCode::OK,
        (Outcome::Failed(failure), Some(_)) => {
            tracing::warn!(operation, pool = %want.pool_id, code = failure.code.as_str(), batch_code = failure.batch_code.as_deref(), "{}", crate::telemetry::escape(&failure.message));
            body.failed_with(failure);
            failure_status(failure.code)
        }
        (Outcome::Pending(_), Some(_)) => {
            return pending(app, context, body.requested.clone(), &report);
        }
    };
    if let Some(overridden) =
        (!body.leases_overridden.is_empty()).then_some(&body.leases_overridden)
    {
        let ids: Vec<_> = overridden.iter().map(|l| l.id.to_string()).collect();
        tracing::warn!(operation, pool = %want.pool_id, leases = ?ids, "force: went below live leases");
    }
    if status == StatusCode::OK {
        tracing::info!(operation, pool = %want.pool_id, waited_seconds = body.waited_seconds, "done");
    }
    body.not_written = unwritten(context);
    (status, Json(body)).into_response()
}

/// What the answer says was left for the next call or poll to write.
fn unwritten(context: &Context<'_>) -> Vec<&'static str> {
    context.not_written.iter().map(|u| u.as_str()).collect()
}

/// 202 with `Location`: the status URL that resumes this operation.
fn pending(
    app: &AppState,
    context: &Context<'_>,
    requested: Requested,
    report: &Report,
) -> Response {
    let (operation, want) = (context.operation, context.want);
    let target = context.target.expect("only operations are pending");
    let reason = match report.outcome {
        Outcome::Pending(reason) => reason,
        _ => crate::resizer::WaitReason::BatchBusy,
    };
    let mut body = OperationBody::from_report(operation, want, requested, report);
    let lease = match (&want.leases, context.held_lease) {
        (_, Some(held)) => Some(LeaseTerms {
            id: held.id.clone(),
            minutes: Some(held.minutes),
            idle_minutes: held.idle_minutes,
        }),
        (LeaseRule::HonourExcept(id), None) => Some(LeaseTerms {
            id: id.clone(),
            minutes: None,
            idle_minutes: None,
        }),
        _ => None,
    };
    let capability = Capability {
        pool_id: want.pool_id.clone(),
        operation: target.operation,
        dedicated: target.dedicated,
        low_priority: target.low_priority,
        lease,
        // The status must judge the same want: Spot's stand-ins count there too.
        fallback_to_dedicated: want.spot_fallback.is_some(),
        acts: match context.resumed {
            Resumed::Acting => true,
            Resumed::No => false,
            Resumed::Yes { acts, .. } => acts,
        },
        expires: match context.resumed {
            Resumed::Yes { expires, .. } => expires,
            Resumed::Acting | Resumed::No => app.clock().now_utc() + app.settings().status_url_ttl,
        },
    };
    let url = status_url(
        context.headers,
        app.settings(),
        app.status_urls(),
        &capability,
    );
    body.in_progress(reason, Some(url.clone()));
    body.not_written = unwritten(context);
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&url) {
        response_headers.insert(header::LOCATION, value);
    }
    response_headers.insert(
        header::RETRY_AFTER,
        retry_after_header(app, report.retry_after),
    );
    tracing::info!(operation, pool = %want.pool_id, waiting_for = reason.describe(), "still converging; answered 202");
    response
}

fn body_error(rejection: BytesRejection) -> Refusal {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::TooLarge {
            limit: super::state::BODY_LIMIT,
        }
    } else {
        Refusal::invalid(
            InputCode::InvalidBody,
            format!("cannot read the request body: {rejection}"),
        )
    }
}
