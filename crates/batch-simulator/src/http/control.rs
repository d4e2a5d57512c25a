//! The control surface: `/_simulator/...` on the same listener, no auth, never faulted,
//! not in the event log.
//!
//! | route | does |
//! |---|---|
//! | `GET /_simulator/health` | `{"ok":true}` |
//! | `GET /_simulator/now` | `{"now":"<simulated RFC 3339>"}` |
//! | `GET /_simulator/events?since=SEQ` | `{"events":[...],"lastSeq":N,"dropped":D,"missed":M}` (kept events with seq > SEQ; D dropped so far, M of them after SEQ) |
//! | `POST /_simulator/faults` | inject one [`crate::faults::FaultSpec`]; 200 `{"ok":true,"nodeId":..}` |
//! | `GET /_simulator/faults` | armed request faults (remaining counts) |
//! | `DELETE /_simulator/faults` | clear all faults |
//! | `POST /_simulator/tokens` | `{"resource":"...","lifetimeSecs":N}` → a token response for any audience |
//! | `POST /_simulator/age` | `{"poolId":"...","nodeId":"...","seconds":N}` (`nodeId` optional) → the pool's nodes (or that one) N seconds older; 200 `{"ok":true,"nodeIds":[...]}` |
//!
//! Exactly these methods (no implicit HEAD) and paths (trailing slashes ignored);
//! anything else is 404 `ResourceNotFound`. Errors use the Batch error body.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;

use super::extract::Query;
use super::reply::render_error;
use super::state::SimulatorState;
use crate::clock::format_ts;
use crate::errors::ErrorReply;
use crate::faults::FaultSpec;

/// Routes, relative to `/_simulator`.
pub(super) fn routes(state: SimulatorState) -> Router {
    Router::new()
        .route("/health", get(health).head(unknown))
        .route("/now", get(now).head(unknown))
        .route("/events", get(events).head(unknown))
        .route(
            "/faults",
            get(faults).head(unknown).post(inject).delete(clear),
        )
        .route("/tokens", post(tokens))
        .route("/age", post(age))
        .fallback(unknown)
        .method_not_allowed_fallback(unknown)
        .with_state(state)
}

/// `/_simulator/health/` is `/_simulator/health`, as before routes existed.
pub(super) fn trim_trailing_slashes(mut req: Request) -> Request {
    let path = req.uri().path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() != path.len() {
        let mut pq = if trimmed.is_empty() { "/" } else { trimmed }.to_string();
        if let Some(q) = req.uri().query() {
            pq.push('?');
            pq.push_str(q);
        }
        if let Ok(uri) = axum::http::Uri::builder().path_and_query(pq).build() {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn ok(v: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn fail(state: &SimulatorState, e: &ErrorReply) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    render_error(&state.base_url, state.clock.now(), e, &request_id).into_response()
}

/// Up to 1 MiB; a larger body reads as empty (and fails to parse).
async fn read(body: Body) -> axum::body::Bytes {
    axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default()
}

async fn health() -> Response<Body> {
    ok(serde_json::json!({"ok": true}))
}

async fn now(State(state): State<SimulatorState>) -> Response<Body> {
    ok(serde_json::json!({"now": format_ts(state.clock.now())}))
}

async fn events(State(state): State<SimulatorState>, q: Query) -> Response<Body> {
    let since = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let w = state.lock_world();
    let log = w.events();
    let (events, last) = (log.since(since), log.last_seq());
    let (dropped, missed) = (log.dropped(), log.missed(since));
    drop(w);
    ok(serde_json::json!({
        "events": events,
        "lastSeq": last,
        "dropped": dropped,
        "missed": missed,
    }))
}

async fn inject(State(state): State<SimulatorState>, body: Body) -> Response<Body> {
    let body = read(body).await;
    serde_json::from_slice::<FaultSpec>(&body)
        .map_err(|e| ErrorReply::invalid_body(e.to_string()))
        .and_then(|spec| state.faults.inject(spec))
        .map(|node| ok(serde_json::json!({"ok": true, "nodeId": node})))
        .unwrap_or_else(|e| fail(&state, &e))
}

async fn faults(State(state): State<SimulatorState>) -> Response<Body> {
    ok(serde_json::json!({"faults": state.faults.list()}))
}

async fn clear(State(state): State<SimulatorState>) -> Response<Body> {
    state.faults.clear();
    ok(serde_json::json!({"ok": true}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    resource: String,
    #[serde(default)]
    lifetime_secs: Option<u64>,
}

async fn tokens(State(state): State<SimulatorState>, body: Body) -> Response<Body> {
    let body = read(body).await;
    match serde_json::from_slice::<TokenBody>(&body) {
        Ok(b) => {
            let life = b
                .lifetime_secs
                .map(Duration::from_secs)
                .unwrap_or(state.token_lifetime);
            let t = state.tokens.issue(&b.resource, life, None);
            ok(serde_json::to_value(&t).unwrap_or_default())
        }
        Err(e) => fail(&state, &ErrorReply::invalid_body(e.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgeBody {
    pool_id: String,
    #[serde(default)]
    node_id: Option<String>,
    seconds: u64,
}

async fn age(State(state): State<SimulatorState>, body: Body) -> Response<Body> {
    let body = read(body).await;
    serde_json::from_slice::<AgeBody>(&body)
        .map_err(|e| ErrorReply::invalid_body(e.to_string()))
        .and_then(|b| {
            crate::age_nodes(
                &state,
                &b.pool_id,
                b.node_id.as_deref(),
                Duration::from_secs(b.seconds),
            )
        })
        .map(|nodes| ok(serde_json::json!({"ok": true, "nodeIds": nodes})))
        .unwrap_or_else(|e| fail(&state, &e))
}

async fn unknown(State(state): State<SimulatorState>) -> Response<Body> {
    fail(
        &state,
        &ErrorReply::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Unknown control route.",
        ),
    )
}
