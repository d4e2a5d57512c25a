//! HTTP trigger handlers: scale-up, scale-down, pool-status.
//!
//! Thin: parse, build a [`Want`], run the resizer, map its report to one
//! status and the one body shape. The rules they keep:
//! - a 200 always rests on an observation of the pool made by this call;
//! - a GET never changes a pool unless it is a status URL this service
//!   issued (`resume=1`), and then only by the operation's next step;
//! - every shrink keeps what other pipelines' live leases need, unless an
//!   operator says `force=true` (and the answer lists what it overrode).

use super::error::{ApiError, batch_failure, failure_status};
use super::params::{PauseParams, ScaleParams, StatusParams, StatusTarget, pool_hint};
use super::state::AppState;
use crate::batch::PoolId;
use crate::report::{ErrorView, OperationBody, Requested};
use crate::resizer::lease::DEFAULT_LEASE_MINUTES;
use crate::resizer::{
    ConvergeError, LeaseId, LeaseRule, Observed, Operation, Outcome, Report, Want,
};
use crate::service::{LeaseRequest, ScaleRequest, StatusRequest};
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
) -> Response {
    scale(app, Operation::ScaleUp, headers, query, body).await
}

pub(crate) async fn scale_down(
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
    let refuse = |e: ApiError, body: &[u8]| {
        let hint = pool_hint(query.as_deref(), body, app.settings());
        e.respond(
            Some(operation.as_str()),
            hint.as_ref(),
            Requested::default(),
        )
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(body_error(rejection), b""),
    };
    let params = match ScaleParams::parse(operation, query.as_deref(), &body, app.settings()) {
        Ok(params) => params,
        Err(e) => return refuse(e, &body),
    };
    let request = ScaleRequest {
        operation,
        pool_id: params.pool_id.clone(),
        dedicated: params.dedicated,
        low_priority: params.low_priority,
        wait: Duration::from_secs(params.wait_seconds.into()),
        lease: params.lease_id.clone().map(|id| LeaseRequest {
            id,
            minutes: params.lease_minutes.unwrap_or(DEFAULT_LEASE_MINUTES),
        }),
        force: params.force,
        repair_attempts: params.repair_attempts,
        keep_warm_minutes: params.keep_warm_minutes,
        fallback_to_dedicated: params.fallback_to_dedicated,
    };
    tracing::info!(
        operation = operation.as_str(),
        pool = %request.pool_id,
        dedicated = request.dedicated,
        low_priority = request.low_priority,
        wait_seconds = params.wait_seconds,
        force = request.force,
        "starting"
    );
    let answer = match app.service().scale(&request).await {
        Ok(answer) => answer,
        Err(over) => {
            return refuse(
                ApiError::invalid("InvalidParameter", over.to_string()),
                &body,
            );
        }
    };
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
        query: query.as_deref(),
        held_lease: match operation {
            Operation::ScaleUp => request.lease.as_ref().map(|l| (&l.id, l.minutes)),
            Operation::ScaleDown => None,
        },
    };
    respond(&app, &context, requested, answer.result)
}

/// `POST /api/pause`: an operator stops every route and timer from
/// resizing the pool until `unpause`; every answer says who and since when.
pub(crate) async fn pause(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    set_pause(app, true, headers, query, body).await
}

/// `POST /api/unpause`.
pub(crate) async fn unpause(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    set_pause(app, false, headers, query, body).await
}

async fn set_pause(
    app: AppState,
    pausing: bool,
    headers: HeaderMap,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let operation = if pausing { "pause" } else { "unpause" };
    let refuse = |e: ApiError, body: &[u8]| {
        let hint = pool_hint(query.as_deref(), body, app.settings());
        e.respond(Some(operation), hint.as_ref(), Requested::default())
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(body_error(rejection), b""),
    };
    let params = match PauseParams::parse(query.as_deref(), &body, app.settings()) {
        Ok(params) => params,
        Err(e) => return refuse(e, &body),
    };
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
        query: query.as_deref(),
        held_lease: None,
    };
    respond(&app, &context, Requested::default(), answer.result)
}

pub(crate) async fn pool_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let refuse = |e: ApiError| {
        let hint = pool_hint(query.as_deref(), b"", app.settings());
        e.respond(Some("pool-status"), hint.as_ref(), Requested::default())
    };
    let params = match StatusParams::parse(query.as_deref(), app.settings()) {
        Ok(params) => params,
        Err(e) => return refuse(e),
    };
    let request = StatusRequest {
        pool_id: params.pool_id.clone(),
        target: params
            .target
            .map(|t| (t.operation, t.dedicated, t.low_priority)),
        lease: params.lease_id.clone().map(|id| LeaseRequest {
            id,
            minutes: params.lease_minutes.unwrap_or(DEFAULT_LEASE_MINUTES),
        }),
        resume: params.resume,
        fallback_to_dedicated: params.fallback_to_dedicated,
    };
    let answer = match app.service().status(&request).await {
        Ok(answer) => answer,
        Err(over) => return refuse(ApiError::invalid("InvalidParameter", over.to_string())),
    };
    let context = Context {
        operation: "pool-status",
        want: &answer.want,
        target: params.target,
        headers: &headers,
        query: query.as_deref(),
        held_lease: params.lease_id.as_ref().zip(params.lease_minutes),
    };
    respond(&app, &context, request.requested(), answer.result)
}

/// What a response needs to know about the request it answers.
struct Context<'a> {
    operation: &'static str,
    want: &'a Want,
    /// The operation a 202's status URL resumes; `None` for a plain look.
    target: Option<StatusTarget>,
    headers: &'a HeaderMap,
    /// The raw query, for the caller's key (`code`), which the status URL carries.
    query: Option<&'a str>,
    /// A scale-up's lease and its minutes, which its status URL carries so
    /// that a poll can still write it (a scale-down's comes from `want`).
    held_lease: Option<(&'a LeaseId, u32)>,
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
            let body = OperationBody::from_error(operation, want, requested, &error, view);
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
            tracing::warn!(operation, pool = %want.pool_id, code = ?failure.code, batch_code = failure.batch_code.as_deref(), "{}", crate::telemetry::escape(&failure.message));
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
    (status, Json(body)).into_response()
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
        (_, Some((id, minutes))) => Some((id, Some(minutes))),
        (LeaseRule::HonourExcept(id), None) => Some((id, None)),
        _ => None,
    };
    let url = status_url(
        context.headers,
        context.query,
        app.settings(),
        &want.pool_id,
        target,
        lease,
    );
    // The status must judge the same want: Spot's stand-ins count there too.
    let url = match want.spot_fallback {
        Some(_) => format!("{url}&fallbackToDedicated=true"),
        None => url,
    };
    body.in_progress(reason, Some(url.clone()));
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

/// The status URL for this pool and target, on the host the caller used,
/// marked `resume=1` (see the module docs).
///
/// Host: what the Functions host forwarded (on Linux it has already set
/// `Host` from `DISGUISED-HOST`), accepted only when it is the app's own
/// public name (`WEBSITE_HOSTNAME`) or loopback (Core Tools, `dev`);
/// anything else would let a caller point `Location` at a foreign host, so
/// the app's own name is used instead. Scheme: `X-Forwarded-Proto` when it
/// is `http` or `https`, else https for a public host and http for loopback.
///
/// Key: ADF's Web activity may not re-send `x-functions-key` when it
/// follows `Location`, so the key the caller authenticated with (query
/// `code` or header) travels in the URL as `code=`, as Durable Functions'
/// status URLs do. It goes back only to the caller who sent it, and is
/// never logged.
fn status_url(
    headers: &HeaderMap,
    query: Option<&str>,
    settings: &crate::settings::Settings,
    pool_id: &PoolId,
    target: StatusTarget,
    lease: Option<(&LeaseId, Option<u32>)>,
) -> String {
    let given = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|h| crate::settings::is_host_name(h) || is_loopback(h));
    let public = settings.public_host.as_deref();
    let host = match given {
        Some(h) if is_loopback(&h) => h,
        Some(h) if public.is_some_and(|p| host_only(&h) == host_only(p)) => h,
        _ => public.unwrap_or("localhost").to_owned(),
    };
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "http" || *p == "https");
    let scheme = forwarded.unwrap_or(if is_loopback(&host) { "http" } else { "https" });
    let mut url = format!(
        "{scheme}://{host}/api/pool-status?poolId={pool_id}&operation={}&dedicatedNodes={}&lowPriorityNodes={}",
        target.operation.as_str(),
        target.dedicated,
        target.low_priority
    );
    if let Some((id, minutes)) = lease {
        url.push_str(&format!("&leaseId={id}"));
        if let Some(minutes) = minutes {
            url.push_str(&format!("&leaseMinutes={minutes}"));
        }
    }
    url.push_str("&resume=1");
    if let Some(key) = caller_key(headers, query) {
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        url.push_str(&format!("&code={encoded}"));
    }
    url
}

/// The function or host key the caller sent: `?code=` or `x-functions-key`.
fn caller_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let from_query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned());
    let from_header = headers
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    from_query
        .or(from_header)
        .filter(|key| !key.is_empty() && key.len() <= 256)
}

/// `host` without its `:port` (IPv6 literals keep their brackets).
fn host_only(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
                && (name.ends_with(']') || !name.contains(':')) =>
        {
            name
        }
        _ => host,
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host_only(host);
    let ipv4_loopback = name.starts_with("127.")
        && name.split('.').count() == 4
        && name.split('.').all(|part| part.parse::<u8>().is_ok());
    name == "localhost" || name == "[::1]" || ipv4_loopback
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge {
            limit: super::state::BODY_LIMIT,
        }
    } else {
        ApiError::invalid(
            "InvalidBody",
            format!("cannot read the request body: {rejection}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(public: Option<&str>) -> crate::settings::Settings {
        crate::settings::Settings::from_env(|name| match name {
            "BATCH_ACCOUNT_URL" => Some("https://a.b".into()),
            "BATCH_POOL_ID" => Some("p".into()),
            "WEBSITE_HOSTNAME" => public.map(str::to_owned),
            _ => None,
        })
        .unwrap()
    }

    fn url(host: &str, proto: Option<&str>, public: Option<&str>, query: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(proto) = proto {
            headers.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        }
        let target = StatusTarget {
            operation: Operation::ScaleUp,
            dedicated: 1,
            low_priority: 0,
        };
        status_url(
            &headers,
            query,
            &settings(public),
            &"p".parse().unwrap(),
            target,
            None,
        )
    }

    #[test]
    fn the_public_host_branch_uses_https_and_the_callers_key() {
        let app = Some("myapp.azurewebsites.net");
        assert_eq!(
            url(
                "myapp.azurewebsites.net",
                Some("https"),
                app,
                Some("code=k%2Fy%3D%3D")
            ),
            "https://myapp.azurewebsites.net/api/pool-status?poolId=p&operation=scale-up\
             &dedicatedNodes=1&lowPriorityNodes=0&resume=1&code=k%2Fy%3D%3D"
        );
        assert!(url("MyApp.azurewebsites.net", None, app, None).starts_with("https://myapp."));
    }

    #[test]
    fn hostile_hosts_never_reach_location() {
        let app = Some("myapp.azurewebsites.net");
        for hostile in [
            "evil.example.com",
            "myapp.azurewebsites.net.evil.com",
            "a@b",
            "x/y",
        ] {
            let built = url(hostile, Some("https"), app, None);
            assert!(
                built.starts_with("https://myapp.azurewebsites.net/"),
                "{hostile}: {built}"
            );
        }
        // Locally (no WEBSITE_HOSTNAME) only loopback names pass.
        assert!(url("evil.example.com", None, None, None).starts_with("http://localhost/"));
        assert!(url("127.0.0.1:7071", None, None, None).starts_with("http://127.0.0.1:7071/"));
        assert!(url("[::1]:7071", None, None, None).starts_with("http://[::1]:7071/"));
        assert!(url("127.0.0.1.evil.com", None, None, None).starts_with("http://localhost/"));
        // A scheme that is not http or https is ignored.
        assert!(
            url("myapp.azurewebsites.net", Some("javascript"), app, None).starts_with("https://")
        );
    }
}
