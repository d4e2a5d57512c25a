//! The local managed-identity token endpoint (App Service protocol `2019-08-01`);
//! the protocol and its checks are in `crate::token`.
//!
//! Its answers are the identity service's, not Batch's, so they go out [`Bare`]: no
//! Batch headers, plain `application/json` bodies.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response};
use axum::response::IntoResponse;

use super::extract::Query;
use super::reply::Bare;
use super::state::SimulatorState;
use crate::token::validate_request;

pub(super) async fn token(
    State(state): State<SimulatorState>,
    method: Method,
    q: Query,
    headers: HeaderMap,
) -> impl IntoResponse {
    let json = |status: u16, v: serde_json::Value| {
        let mut r = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap_or_else(|_| Response::new(Body::empty()));
        r.extensions_mut().insert(Bare);
        r
    };
    if method != Method::GET {
        return json(
            405,
            serde_json::json!({"error": "invalid_request", "error_description": "Use GET."}),
        );
    }
    let ih = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    match validate_request(&q.pairs, ih, &state.identity_header) {
        Ok((resource, client_id)) => {
            let t = state
                .tokens
                .issue(&resource, state.token_lifetime, client_id);
            json(200, serde_json::to_value(&t).unwrap_or_default())
        }
        Err(e) => json(
            e.status,
            serde_json::json!({"error": e.error, "error_description": e.description}),
        ),
    }
}
