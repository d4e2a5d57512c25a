//! The envelope around every data-plane answer, the outermost layer.
//!
//! * gives the request its id (`request-id`, quoted in error bodies);
//! * renders an error that an inner layer or handler returned (see `reply`);
//! * adds `DataServiceVersion: 3.0` and, when asked with `return-client-request-id:
//!   true`, echoes `client-request-id`; HEAD answers keep their headers, not their body;
//! * logs one `request` event with the final status (`0` for a dropped connection).
//!
//! The token endpoint's own answers are not Batch's and pass through bare (still
//! logged); a fault or 413 on that path is Batch-shaped like any other.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::events::EventKind;
use crate::http::reply::{Bare, DropConnection, Unrendered, render_error};
use crate::http::state::SimulatorState;

fn header_str<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

pub(crate) async fn wrap(
    State(state): State<SimulatorState>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client_request_id = header_str(req.headers(), "client-request-id")
        .or_else(|| header_str(req.headers(), "x-ms-client-request-id"))
        .map(str::to_string);
    let echo = header_str(req.headers(), "return-client-request-id")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let mut resp = next.run(req).await;

    let log = |status: u16| {
        state.lock_world().log(EventKind::Request {
            method: method.to_string(),
            path: path.clone(),
            status,
            client_request_id: client_request_id.clone(),
        });
    };
    if resp.extensions().get::<DropConnection>().is_some() {
        log(0);
        tracing::info!(%method, %path, "fault: dropping connection");
        return resp;
    }
    if resp.extensions().get::<Bare>().is_some() {
        log(resp.status().as_u16());
        return resp;
    }
    if let Some(Unrendered(e)) = resp.extensions_mut().remove::<Unrendered>() {
        tracing::debug!(%method, %path, code = e.code, status = %e.status, "request failed");
        let now = state.clock.now();
        resp = render_error(&state.base_url, now, &e, &request_id).into_response();
    }
    if method == Method::HEAD {
        // As the service answers HEAD (recorded): no body, no Content-Length, and no
        // Content-Type either.
        *resp.body_mut() = Body::empty();
        resp.headers_mut().remove(CONTENT_LENGTH);
        resp.headers_mut().remove(CONTENT_TYPE);
    }
    let h = resp.headers_mut();
    if let Ok(v) = request_id.parse() {
        h.insert("request-id", v);
    }
    h.insert("dataserviceversion", HeaderValue::from_static("3.0"));
    if echo
        && let Some(c) = &client_request_id
        && let Ok(v) = c.parse()
    {
        h.insert("client-request-id", v);
    }
    log(resp.status().as_u16());
    resp
}
