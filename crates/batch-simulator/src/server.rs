//! The HTTPS listener and the per-request pipeline.
//!
//! ```text
//! TCP accept -> TLS (rustls, ring) -> hyper HTTP/1.1 (keep-alive) -> pipeline:
//!   /_simulator/...  control surface (no auth, no faults)
//!   faults           latency / drop / canned error for matching requests
//!   /msi/token       managed-identity token endpoint
//!   api-version      400 if missing or not 2025-06-01
//!   auth             Shared Key or bearer
//!   api::handle      the Batch routes
//!   + request-id, DataServiceVersion, client-request-id echo; one `request` event
//! ```
//!
//! A dropped connection is produced by returning an error from the hyper service: hyper
//! then closes the connection without writing a response.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::api::{self, API_VERSION, Query};
use super::clock::{SimClock, format_ts};
use super::control;
use super::errors::ApiError;
use super::events::EventKind;
use super::faults::{Faults, RequestFault};
use super::token::{TokenStore, validate_request};
use super::world::World;

/// Everything the request pipeline needs, shared by all connections.
pub struct Shared {
    pub world: Arc<Mutex<World>>,
    pub clock: SimClock,
    pub account: String,
    pub key: Vec<u8>,
    pub base_url: String,
    pub identity_header: String,
    pub tokens: TokenStore,
    pub token_lifetime: Duration,
    pub faults: Faults,
}

impl Shared {
    /// Lock the world and bring it to simulated now. A poisoned lock is recovered: the
    /// world stays usable even if a handler panicked.
    pub fn lock_world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        w.advance_to(self.clock.now());
        w
    }
}

/// The error hyper sees when we drop a connection on purpose.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub struct Dropped;

/// Render a Batch error body.
pub fn error_reply(shared: &Shared, e: &ApiError, request_id: &str) -> api::Reply {
    #[derive(serde::Serialize)]
    struct Msg {
        lang: &'static str,
        value: String,
    }
    #[derive(serde::Serialize)]
    struct Kv<'a> {
        key: &'a str,
        value: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(rename = "odata.metadata")]
        metadata: String,
        code: &'a str,
        message: Msg,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        values: Vec<Kv<'a>>,
    }
    let body = Body {
        metadata: format!(
            "{}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            shared.base_url
        ),
        code: e.code,
        message: Msg {
            lang: "en-US",
            value: format!(
                "{}\nRequestId:{}\nTime:{}",
                e.message,
                request_id,
                format_ts(shared.clock.now())
            ),
        },
        values: e
            .values
            .iter()
            .map(|(k, v)| Kv { key: k, value: v })
            .collect(),
    };
    let mut headers = Vec::new();
    if let Some(s) = e.retry_after {
        headers.push(("retry-after", s.to_string()));
    }
    api::Reply {
        status: e.status,
        headers,
        // 304 carries no body.
        body: (e.status != StatusCode::NOT_MODIFIED)
            .then(|| serde_json::to_string(&body).unwrap_or_default()),
    }
}

fn header_str<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

/// Handle one request end to end.
pub async fn pipeline(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();

    if path.starts_with("/_simulator/") || path == "/_simulator" {
        let bytes = axum::body::to_bytes(Body::new(body), 1 << 20)
            .await
            .unwrap_or_default();
        return Ok(control::handle(
            &shared,
            &method,
            &path,
            parts.uri.query(),
            &bytes,
        ));
    }

    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = header_str(&parts.headers, "client-request-id")
        .or_else(|| header_str(&parts.headers, "x-ms-client-request-id"))
        .map(str::to_string);
    let echo = header_str(&parts.headers, "return-client-request-id")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let log = |status: u16| {
        let mut w = shared.lock_world();
        w.log(EventKind::Request {
            method: method.to_string(),
            path: path.clone(),
            status,
            client_request_id: client_request_id.clone(),
        });
    };

    let mut canned: Option<ApiError> = None;
    for f in shared.faults.take_for(method.as_str(), &path) {
        match f {
            RequestFault::Delay(d) => tokio::time::sleep(d).await,
            RequestFault::Drop => {
                log(0);
                tracing::info!(%method, %path, "fault: dropping connection");
                return Err(Dropped);
            }
            RequestFault::Respond(e) => canned = Some(e),
        }
    }

    let bytes = match axum::body::to_bytes(Body::new(body), 4 << 20).await {
        Ok(b) => b,
        Err(_) => {
            canned.get_or_insert_with(|| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestBodyTooLarge",
                    "The request body is too large.",
                )
            });
            Default::default()
        }
    };
    let query = Query::parse(parts.uri.query());

    let reply = if let Some(e) = canned {
        error_reply(&shared, &e, &request_id)
    } else if path == "/msi/token" {
        let resp = token_endpoint(&shared, &method, &query, &parts.headers);
        log(resp.status().as_u16());
        return Ok(resp);
    } else {
        let result = (|| {
            match query.get("api-version") {
                None => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MissingRequiredQueryParameter",
                        "A query parameter that's mandatory for this request is not specified.",
                    )
                    .with_value("QueryParameterName", "api-version"));
                }
                Some(v) if v != API_VERSION => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "UnsupportedRequestVersion",
                        "The specified api-version is not supported.",
                    )
                    .with_value("QueryParameterName", "api-version")
                    .with_value("QueryParameterValue", v));
                }
                Some(_) => {}
            }
            super::auth::authenticate(
                &method,
                &parts.uri,
                &parts.headers,
                &shared.account,
                &shared.key,
                &shared.tokens,
            )?;
            api::handle(&shared, &method, &path, &query, &parts.headers, &bytes)
        })();
        match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%method, %path, code = e.code, status = %e.status, "request failed");
                error_reply(&shared, &e, &request_id)
            }
        }
    };

    let status = reply.status.as_u16();
    let mut resp = reply.into_response(method == Method::HEAD);
    let h = resp.headers_mut();
    if let Ok(v) = request_id.parse() {
        h.insert("request-id", v);
    }
    h.insert(
        "dataserviceversion",
        axum::http::HeaderValue::from_static("3.0"),
    );
    if echo
        && let Some(c) = &client_request_id
        && let Ok(v) = c.parse()
    {
        h.insert("client-request-id", v);
    }
    log(status);
    Ok(resp)
}

fn token_endpoint(
    shared: &Shared,
    method: &Method,
    q: &Query,
    headers: &HeaderMap,
) -> Response<Body> {
    let json = |status: u16, v: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    };
    if method != Method::GET {
        return json(
            405,
            serde_json::json!({"error": "invalid_request", "error_description": "Use GET."}),
        );
    }
    let ih = header_str(headers, "x-identity-header");
    match validate_request(&q.pairs, ih, &shared.identity_header) {
        Ok((resource, client_id)) => {
            let t = shared
                .tokens
                .issue(&resource, shared.token_lifetime, client_id);
            json(200, serde_json::to_value(&t).unwrap_or_default())
        }
        Err(e) => json(
            e.status,
            serde_json::json!({"error": e.error, "error_description": e.description}),
        ),
    }
}

/// Accept connections until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| pipeline(shared.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), svc);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                }
                _ = conn_shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
}
