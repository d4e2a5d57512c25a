//! The control surface: `/_simulator/...` on the same listener, no auth, never faulted.
//!
//! | route | does |
//! |---|---|
//! | `GET /_simulator/health` | `{"ok":true}` |
//! | `GET /_simulator/now` | `{"now":"<simulated RFC 3339>"}` |
//! | `GET /_simulator/events?since=SEQ` | `{"events":[...],"lastSeq":N}` (events with seq > SEQ) |
//! | `POST /_simulator/faults` | inject one [`super::faults::FaultSpec`]; 200 `{"ok":true,"nodeId":..}` |
//! | `GET /_simulator/faults` | armed request faults (remaining counts) |
//! | `DELETE /_simulator/faults` | clear all faults |
//! | `POST /_simulator/tokens` | `{"resource":"...","lifetimeSecs":N}` → a token response for any audience |
//!
//! Errors use the Batch error body (400 for bad JSON, 404 for unknown routes).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use serde::Deserialize;

use super::api::Query;
use super::clock::format_ts;
use super::errors::ApiError;
use super::faults::FaultSpec;
use super::server::{Shared, error_reply};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    resource: String,
    #[serde(default)]
    lifetime_secs: Option<u64>,
}

fn ok(v: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let q = Query::parse(query);
    let result: Result<Response<Body>, ApiError> =
        match (method.clone(), path.trim_end_matches('/')) {
            (Method::GET, "/_simulator/health") => Ok(ok(serde_json::json!({"ok": true}))),
            (Method::GET, "/_simulator/now") => Ok(ok(
                serde_json::json!({"now": format_ts(shared.clock.now())}),
            )),
            (Method::GET, "/_simulator/events") => {
                let since = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
                let w = shared.lock_world();
                let events = w.events().since(since);
                let last = w.events().last_seq();
                drop(w);
                Ok(ok(serde_json::json!({"events": events, "lastSeq": last})))
            }
            (Method::POST, "/_simulator/faults") => serde_json::from_slice::<FaultSpec>(body)
                .map_err(|e| ApiError::invalid_body(e.to_string()))
                .and_then(|spec| shared.faults.inject(spec))
                .map(|node| ok(serde_json::json!({"ok": true, "nodeId": node}))),
            (Method::GET, "/_simulator/faults") => {
                Ok(ok(serde_json::json!({"faults": shared.faults.list()})))
            }
            (Method::DELETE, "/_simulator/faults") => {
                shared.faults.clear();
                Ok(ok(serde_json::json!({"ok": true})))
            }
            (Method::POST, "/_simulator/tokens") => serde_json::from_slice::<TokenBody>(body)
                .map_err(|e| ApiError::invalid_body(e.to_string()))
                .map(|b| {
                    let life = b
                        .lifetime_secs
                        .map(Duration::from_secs)
                        .unwrap_or(shared.token_lifetime);
                    let t = shared.tokens.issue(&b.resource, life, None);
                    ok(serde_json::to_value(&t).unwrap_or_default())
                }),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "Unknown control route.",
            )),
        };
    result.unwrap_or_else(|e| {
        error_reply(shared, &e, &uuid::Uuid::new_v4().to_string()).into_response(false)
    })
}
