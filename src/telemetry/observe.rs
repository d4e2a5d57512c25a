//! The router's telemetry layer: one span per request (an Application
//! Insights *request*, with the host's invocation id and, when the host sent
//! a `traceparent`, inside the host's own operation) and the metrics of its
//! answer, read from the JSON body every route writes.
//!
//! It adds to an answer only the time to parse its few hundred bytes of JSON:
//! the span ends into the SDK's bounded queue (`try_send`, dropped when
//! full), and instruments are in-memory adds.

use super::metrics::{AnswerFacts, pool_seen, record};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span, SpanKind, Status, Tracer};
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tokio::time::Instant;

/// Answers are small JSON bodies; one larger than this is passed on unread.
const BODY_READ_LIMIT: usize = 256 * 1024;

/// The pools a timer firing saw, as answers show them: put on its response
/// by the timer face, read here. A timer's answer is the host's invocation
/// shape, whose `Logs` name no pool.
#[derive(Debug, Clone, Default)]
pub(crate) struct PoolsSeen(pub(crate) Vec<(String, serde_json::Value)>);

/// The host's invocation id, when it is one (hex digits and dashes): the
/// header is the only place it comes from, so anything else is not logged.
pub(crate) fn invocation_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        })
}

struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The route a path names, or `other` (a caller's path is never reported).
fn route(path: &str) -> &'static str {
    const ROUTES: &[&str] = &[
        "/api/scale-up",
        "/api/scale-down",
        "/api/pause",
        "/api/unpause",
        "/api/pool-status",
        "/api/operation-status",
        "/timer-scale-up",
        "/timer-scale-down",
        "/timer-reconcile",
    ];
    let path = path.trim_end_matches('/');
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// Operations answered 202 whose status URL may be followed here: by the
/// SHA-256 of the URL's token (the token itself is not kept), when the
/// operation began and whether it is a scale-up. Polls that reach another
/// instance are not followed; that scale-up's ready time is not reported.
type Followed = HashMap<[u8; 32], (Instant, bool)>;
/// At most this many operations followed at once; more are not followed.
const MAX_FOLLOWED: usize = 1024;
/// A status URL not followed within this long is forgotten (their TTL is
/// at most a day).
const FOLLOW_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

fn followed() -> &'static Mutex<Followed> {
    static FOLLOWED: OnceLock<Mutex<Followed>> = OnceLock::new();
    FOLLOWED.get_or_init(Default::default)
}

/// The digest of a status URL's token, from a query or a `Location`.
fn token_digest(url_or_query: &str) -> Option<[u8; 32]> {
    let query = url_or_query
        .rsplit_once('?')
        .map_or(url_or_query, |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, token)| Sha256::digest(token.as_bytes()).into())
}

/// Sets `answer.ready_seconds` for a scale-up that is ready, from its first
/// call through the status URLs followed since; remembers a 202's.
fn follow(
    answer: &mut AnswerFacts,
    began: Instant,
    token: Option<[u8; 32]>,
    location: Option<&str>,
) {
    let mut map = followed().lock().unwrap_or_else(|e| e.into_inner());
    let (since, scale_up) = token
        .and_then(|t| map.remove(&t))
        .unwrap_or((began, answer.is_scale_up()));
    if answer.http_status == 202 {
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < FOLLOW_FOR);
        if let Some(next) = location.and_then(token_digest)
            && map.len() < MAX_FOLLOWED
        {
            map.insert(next, (since, scale_up));
        }
    } else if scale_up && answer.status == "succeeded" {
        answer.ready_seconds = Some(since.elapsed().as_secs_f64());
    }
}

/// The response taken apart, with the answer its JSON body (or, for a
/// timer, its status) tells, and the pools a timer firing saw recorded.
async fn read_answer(
    response: Response,
    route: &'static str,
    started: Instant,
) -> (axum::http::response::Parts, Body, Option<AnswerFacts>) {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let (parts, body) = response.into_parts();
    if let Some(PoolsSeen(seen)) = parts.extensions.get::<PoolsSeen>() {
        for (pool, view) in seen {
            pool_seen(pool, view);
        }
    }
    if !is_json {
        return (parts, body, None);
    }
    match to_bytes(body, BODY_READ_LIMIT).await {
        Ok(bytes) => {
            let seconds = started.elapsed().as_secs_f64();
            let answer = serde_json::from_slice(&bytes)
                .ok()
                .and_then(|json| AnswerFacts::from_body(status.as_u16(), &json, seconds))
                .or_else(|| AnswerFacts::of_timer(route, status.as_u16(), seconds));
            (parts, Body::from(bytes), answer)
        }
        // Only a streamed body can fail here; none of ours is.
        Err(_) => (parts, Body::empty(), None),
    }
}

/// The layer (`axum::middleware::from_fn(observe)`).
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    if request.uri().path() == "/" {
        return next.run(request).await;
    }
    let started = Instant::now();
    let token = (route(request.uri().path()) == "/api/operation-status")
        .then(|| request.uri().query().and_then(token_digest))
        .flatten();
    let method = request.method().as_str().to_owned();
    let route = route(request.uri().path());
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("http.route", route),
    ];
    if let Some(id) = invocation_id(request.headers()) {
        attributes.push(KeyValue::new("InvocationId", id.to_owned()));
    }
    let tracer = global::tracer("pool-resizer");
    let mut span = tracer
        .span_builder(route)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&tracer, &parent);

    let response = next.run(request).await;

    let status = response.status();
    let (parts, body, answer) = read_answer(response, route, started).await;
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    let location = parts
        .headers
        .get(axum::http::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    let mut answer = answer;
    if let Some(answer) = &mut answer {
        follow(answer, started, token, location);
    }
    if let Some(answer) = &answer {
        span.set_attribute(KeyValue::new("operation", answer.operation.clone()));
        span.set_attribute(KeyValue::new("status", answer.status.clone()));
        if let Some(pool) = &answer.pool {
            span.set_attribute(KeyValue::new("pool", pool.clone()));
        }
        if let Some(code) = &answer.code {
            span.set_attribute(KeyValue::new("code", code.clone()));
        }
        record(answer);
    }
    if status.is_server_error() {
        span.set_status(Status::error(status.as_str().to_owned()));
    }
    span.end();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_routes_and_hex_invocation_ids_are_reported() {
        assert_eq!(route("/api/scale-up/"), "/api/scale-up");
        assert_eq!(route("/api/anything?code=secret"), "other");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-azure-functions-invocationid",
            "0f1e-2d3c".parse().unwrap(),
        );
        assert_eq!(invocation_id(&headers), Some("0f1e-2d3c"));
        headers.insert("x-azure-functions-invocationid", "key=abc".parse().unwrap());
        assert_eq!(invocation_id(&headers), None);
    }

    #[test]
    fn a_scale_up_is_followed_through_its_status_urls_to_ready() {
        let began = Instant::now();
        let mut accepted = AnswerFacts {
            operation: "scale-up".into(),
            status: "inProgress".into(),
            http_status: 202,
            ..AnswerFacts::default()
        };
        let first = "https://app.example/api/operation-status?token=first-token-x";
        follow(&mut accepted, began, None, Some(first));
        assert_eq!(accepted.ready_seconds, None);
        let mut ready = AnswerFacts {
            operation: "operation-status".into(),
            status: "succeeded".into(),
            http_status: 200,
            ..AnswerFacts::default()
        };
        follow(
            &mut ready,
            Instant::now(),
            token_digest("token=first-token-x"),
            None,
        );
        assert!(ready.ready_seconds.is_some());
        // Followed once: a second poll of the same URL is not a scale-up's.
        let mut again = ready.clone();
        again.ready_seconds = None;
        follow(&mut again, Instant::now(), token_digest(first), None);
        assert_eq!(again.ready_seconds, None);
    }
}
