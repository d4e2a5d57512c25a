//! The router, request logging, and serving with graceful shutdown.

use super::connections::{ServerLimits, serve_with_limits};
use super::error::Refusal;
use super::handlers::{operation_status, pause, pool_status, scale_down, scale_up, unpause};
use super::state::AppState;
use super::timer::{timer_reconcile, timer_scale_down, timer_scale_up};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::future::Future;
use tokio::net::TcpListener;
use tracing::Instrument;

pub(crate) use super::state::BODY_LIMIT;

/// Every route the Functions host forwards (HTTP triggers) or posts (timer invocations), with the body limit.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(ready).head(ready))
        .route("/api/scale-up", post(scale_up))
        .route("/api/scale-down", post(scale_down))
        .route("/api/pause", post(pause))
        .route("/api/unpause", post(unpause))
        .route("/api/pool-status", get(pool_status))
        // Anonymous in function.json: the sealed token is the authority.
        .route("/api/operation-status", get(operation_status))
        // Timer invocations: `POST /<function folder name>`, no route prefix.
        .route("/timer-scale-up", post(timer_scale_up))
        .route("/timer-scale-down", post(timer_scale_down))
        .route("/timer-reconcile", post(timer_reconcile))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(crate::telemetry::observe::observe))
        .layer(middleware::from_fn(invocation_span))
        .with_state(state)
}

/// The host's readiness probe and periodic ping: answer at once.
async fn ready() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ready", "service": "pool-resizer" }))
}

async fn not_found(request: Request) -> Refusal {
    Refusal::Route {
        status: StatusCode::NOT_FOUND,
        operation: operation_of(request.uri().path()),
        code: "NotFound",
        message: format!(
            "no function at {}; try POST /api/scale-up, POST /api/scale-down or GET /api/pool-status",
            request.uri().path()
        ),
    }
}

async fn method_not_allowed(request: Request) -> Refusal {
    Refusal::Route {
        status: StatusCode::METHOD_NOT_ALLOWED,
        operation: operation_of(request.uri().path()),
        code: "MethodNotAllowed",
        message: format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    }
}

/// The function a path names, so even a 405 says which one it was about.
fn operation_of(path: &str) -> Option<&'static str> {
    match path.trim_end_matches('/') {
        "/api/scale-up" => Some("scale-up"),
        "/api/scale-down" => Some("scale-down"),
        "/api/pool-status" => Some("pool-status"),
        "/api/operation-status" => Some("operation-status"),
        "/api/pause" => Some("pause"),
        "/api/unpause" => Some("unpause"),
        "/timer-scale-up" => Some("timer-scale-up"),
        "/timer-scale-down" => Some("timer-scale-down"),
        "/timer-reconcile" => Some("timer-reconcile"),
        _ => None,
    }
}

/// Every log line of a request carries the host's invocation id, so
/// Application Insights can tie them to the function execution. The query
/// string is never logged: it may carry the function key (`code`) or a
/// status URL's token.
async fn invocation_span(request: Request, next: Next) -> Response {
    let invocation_id = request
        .headers()
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .unwrap_or("-")
        .to_owned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let probe = path == "/";
    let span = tracing::info_span!("invocation", id = %invocation_id);
    async move {
        let started = std::time::Instant::now();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if probe {
            tracing::debug!(%method, path, status, elapsed_ms, "handled");
        } else {
            tracing::info!(%method, path, status, elapsed_ms, "handled");
        }
        response
    }
    .instrument(span)
    .await
}

/// Serves until `shutdown` resolves, then stops taking connections, closes
/// idle and half-sent ones, and lets open requests answer (waits end early
/// through the state's stop signal), all within [`ServerLimits`]'s grace.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, router(state), shutdown, ServerLimits::default()).await
}
