//! The router's telemetry layer: one span per request (an Application
//! Insights *request*, with the host's invocation id and, when the host sent
//! a `traceparent`, inside the host's own operation) and the metrics of its
//! answer, read from the JSON body every route writes.
//!
//! It adds to an answer only the time to parse its few hundred bytes of JSON:
//! the span ends into the SDK's bounded queue (`try_send`, dropped when
//! full), and instruments are in-memory adds.

use super::metrics::{Answer, record};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span, SpanKind, Status, Tracer};
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// Answers are small JSON bodies; one larger than this is passed on unread.
const BODY_READ_LIMIT: usize = 256 * 1024;

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

/// The layer (`axum::middleware::from_fn(observe)`).
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    if request.uri().path() == "/" {
        return next.run(request).await;
    }
    let started = tokio::time::Instant::now();
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
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let (parts, body) = response.into_parts();
    let (body, answer) = if is_json {
        match to_bytes(body, BODY_READ_LIMIT).await {
            Ok(bytes) => {
                let seconds = started.elapsed().as_secs_f64();
                let answer = serde_json::from_slice(&bytes)
                    .ok()
                    .and_then(|json| Answer::from_body(status.as_u16(), &json, seconds))
                    .or_else(|| Answer::of_timer(route, status.as_u16(), seconds));
                (Body::from(bytes), answer)
            }
            // Only a streamed body can fail here; none of ours is.
            Err(_) => (Body::empty(), None),
        }
    } else {
        (body, None)
    };
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
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
}
