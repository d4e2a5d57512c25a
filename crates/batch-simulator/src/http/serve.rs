//! The listener: TCP accept -> TLS (rustls, ring) -> hyper HTTP/1.1 (keep-alive) -> the
//! router.
//!
//! Two things happen here rather than in the router, because only the connection can do
//! them:
//!
//! * a dropped connection (the `drop` fault) is an error returned to hyper, which then
//!   closes the connection without writing a response;
//! * the router's own additions that the service never sends are taken off: `Allow` on a
//!   verb a route does not take, and `Content-Length: 0` on a HEAD answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::{ALLOW, CONTENT_LENGTH};
use axum::http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::reply::DropConnection;

/// The error hyper sees when we drop a connection on purpose.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(super) struct Dropped;

async fn answer(router: Router, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let head = req.method() == Method::HEAD;
    let Ok(mut resp) = router
        .oneshot(req.map(Body::new))
        .await
        .map_err(|e: Infallible| e);
    if resp.extensions().get::<DropConnection>().is_some() {
        return Err(Dropped);
    }
    if head && resp.headers().get(CONTENT_LENGTH).is_some_and(|v| v == "0") {
        resp.headers_mut().remove(CONTENT_LENGTH);
    }
    resp.headers_mut().remove(ALLOW);
    Ok(resp)
}

/// Accept connections until `shutdown` flips; open connections then get up to 2 s.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
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
        let router = router.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| answer(router.clone(), req));
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
