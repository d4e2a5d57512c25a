//! Serving HTTP/1.1 connections: limits against slow, idle and half-sent
//! clients, and a shutdown that answers what is open and ends in bounded time.
//!
//! The only legitimate client is the Functions host on loopback: it sends a
//! whole request at once and keeps its connections alive for reuse. Anything
//! slower is a fault or an attack (slowloris), and must not hold sockets,
//! memory or the shutdown for as long as it likes.
//!
//! A connection is always in one `Phase`, and each phase has one limit:
//! - waiting for a request ([`ServerLimits::idle`]);
//! - a request head has begun to arrive ([`ServerLimits::header_read`]);
//! - a request is being served: its body must arrive within
//!   [`ServerLimits::body_read`]; the rest is the handler's own wait.
//!
//! hyper's own `header_read_timeout` is not used: its clock starts when a
//! connection begins to wait for a request, not at the request's first
//! byte, so a 10-s value would also close the host's idle keep-alive
//! connections every 10 s, and a value long enough for keep-alive would let
//! a half-sent head stay that long.
//!
//! These are network timeouts, so they run on the wall clock even when
//! `POOL_RESIZER_TIME_SCALE` speeds up the handler's waits: a scaled header
//! timeout would cut real clients, not simulated ones.
//!
//! A request head hyper cannot read (larger than [`MAX_HEAD_BYTES`], more
//! than [`MAX_HEADERS`] headers, a URL past hyper's 64 KiB, not HTTP) is
//! answered by hyper itself, before any route or layer sees a request, with
//! an empty body. Whatever limits are set, a larger head reaches that path,
//! so its answer is replaced on its way to the socket ([`own_answer`]): the
//! same status, in the JSON shape every answer has.

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long each phase of a connection may last. Production uses
/// [`ServerLimits::default`]; tests shorten them to run in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// From the first byte of a request head to its end. The host writes a
    /// head in one piece on loopback, in microseconds.
    pub header_read: Duration,
    /// From a complete head to the last byte of the body (at most 64 KiB).
    pub body_read: Duration,
    /// A connection with no request in flight and no byte of a next one.
    /// Longer than the host's own idle limit, so the host always retires a
    /// pooled connection before we close it, and never sends a request on
    /// one we are closing.
    pub idle: Duration,
    /// After shutdown begins, how long requests in flight have to answer
    /// (they answer 202 at once: the stop signal ends their waits) before
    /// their connections are dropped anyway.
    pub shutdown_grace: Duration,
}

/// 10 s: ample for any real client on loopback, short for a slowloris.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// 10 s for the whole body, however it trickles in.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// 120 s: the host's HTTP client (.NET `SocketsHttpHandler`) drops a pooled
/// connection after 60 s idle (`PooledConnectionIdleTimeout`, .NET 6 and
/// later), so twice that leaves it a full minute to retire the connection
/// first; an idle connection costs only a socket and a small buffer.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// 10 s from shutdown to exit, whatever the clients do.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The most of a request head hyper buffers (its own default, named here so
/// the 431 can say it): the Functions host's front end (Kestrel) lets through
/// at most 32 KiB of headers, a tenth of it.
pub(crate) const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// Headers per request (hyper's default; Kestrel's is 100 as well).
pub(crate) const MAX_HEADERS: usize = 100;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read: HEADER_READ_TIMEOUT,
            body_read: BODY_READ_TIMEOUT,
            idle: IDLE_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Serves `app` until `shutdown` resolves; then stops accepting, closes
/// idle and half-sent connections at once, lets requests in flight answer,
/// and returns within [`ServerLimits::shutdown_grace`].
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, app.clone(), limits, stop_rx.clone()));
                }
                // The client gave up before we took it: nothing to do.
                Err(e) if is_connection_error(&e) => {}
                // Out of file descriptors and the like: retrying at once
                // would spin; the connections we hold free some in time.
                Err(e) => {
                    tracing::error!("cannot accept a connection ({e}); trying again in 1 s");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // New connections are refused from here on.
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + limits.shutdown_grace;
    while !connections.is_empty() {
        if tokio::time::timeout_at(deadline, connections.join_next())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "requests still open {} s after shutdown began; closing their connections",
                limits.shutdown_grace.as_secs_f64()
            );
            break;
        }
    }
    connections.shutdown().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is in its request cycle: it decides which limit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request since then (accepted, or last answer sent).
    Idle(Instant),
    /// The first byte of a request head arrived then.
    Head(Instant),
    /// A request is being served, from its complete head until its answer
    /// is written.
    Busy,
}

impl Phase {
    fn deadline(self, limits: &ServerLimits) -> Option<(Instant, &'static str)> {
        match self {
            Phase::Idle(since) => Some((since + limits.idle, "idle")),
            Phase::Head(since) => Some((since + limits.header_read, "request head too slow")),
            Phase::Busy => None,
        }
    }
}

type SharedPhase = Arc<Mutex<Phase>>;

fn set(phase: &SharedPhase, to: Phase) {
    *phase.lock().unwrap_or_else(|e| e.into_inner()) = to;
}

fn get(phase: &SharedPhase) -> Phase {
    *phase.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connection, start to end. Every change of phase happens while
/// hyper's connection is polled (a read, a request handed to the router,
/// an answer's body dropped once written), so the deadline is looked at
/// again right after each poll of it.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
) {
    let phase: SharedPhase = Arc::new(Mutex::new(Phase::Idle(Instant::now())));
    let io = TokioIo::new(Watched {
        stream,
        phase: phase.clone(),
        own: None,
    });
    let service = {
        let phase = phase.clone();
        let stop = stop.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(phase.clone());
            let request = request.map(|body| {
                if hyper::body::Body::is_end_stream(&body) {
                    Body::new(body)
                } else {
                    Body::new(ReadDeadline::new(body, limits.body_read, stop.clone()))
                }
            });
            let answer = app.clone().oneshot(request);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| BusyBody { body, _busy: busy }),
                )
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut timer = Box::pin(tokio::time::sleep(limits.idle));
    let mut stopping = stopped(stop);
    let mut draining = false;
    let end = poll_fn(|cx| {
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(match result {
                Ok(()) => End::Done,
                Err(e) => End::Failed(e),
            });
        }
        if !draining && stopping.as_mut().poll(cx).is_ready() {
            if get(&phase) != Phase::Busy {
                return Poll::Ready(End::Shutdown);
            }
            // Answer the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            draining = true;
            cx.waker().wake_by_ref();
        }
        if let Some((deadline, why)) = get(&phase).deadline(&limits) {
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(End::TimedOut(why));
            }
        }
        Poll::Pending
    })
    .await;
    match end {
        End::Done | End::Shutdown => {}
        End::TimedOut(why) => tracing::debug!("closing a connection: {why}"),
        End::Failed(e) => tracing::debug!("connection ended: {e}"),
    }
}

enum End {
    Done,
    Failed(hyper::Error),
    Shutdown,
    TimedOut(&'static str),
}

/// Resolves once shutdown begins (or the server is gone).
fn stopped(mut stop: watch::Receiver<bool>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    })
}

/// Marks the connection busy from a complete head until the answer is
/// written: the guard lives in the answer's body, which hyper drops once
/// the last byte is out.
struct Busy(SharedPhase);

impl Busy {
    fn start(phase: SharedPhase) -> Self {
        set(&phase, Phase::Busy);
        Self(phase)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        set(&self.0, Phase::Idle(Instant::now()));
    }
}

/// A response body that keeps its connection counted busy (the [`Busy`]
/// guard) until hyper drops it, after the last byte.
struct BusyBody {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting the first byte of a request head: from then on the
/// header-read limit runs instead of the idle one. It also puts our answer
/// in place of one hyper writes on its own ([`own_answer`]).
struct Watched {
    stream: TcpStream,
    phase: SharedPhase,
    /// Our answer in place of hyper's, and how much of it is out.
    own: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// While a head is arriving no request has reached the router, so
    /// anything written is hyper's own answer to a head it refused: ours
    /// replaces it, whole, and takes the place of whatever hyper writes
    /// after it. Returns whether the write is ours to make.
    fn answers_for_hyper(&mut self, written: &[u8]) -> bool {
        if self.own.is_none() && matches!(get(&self.phase), Phase::Head(_)) {
            self.own = own_answer(written).map(|answer| (answer, 0));
        }
        self.own.is_some()
    }

    /// Writes what is left of our answer.
    fn poll_own(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((answer, sent)) = self.own.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while *sent < answer.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &answer[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// hyper's bytes `written`, taken as written: ours go out instead, now
    /// or on the flush hyper makes next.
    fn write_own(&mut self, cx: &mut Context<'_>, written: usize) -> Poll<io::Result<usize>> {
        match self.poll_own(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(written)),
        }
    }
}

/// Our answer for the one hyper writes on its own to a head it cannot read:
/// a status line (400, 414 or 431), `content-length: 0`, no body. `None` for
/// anything else.
fn own_answer(written: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let mut empty = false;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "date" => date = Some(value.trim()),
            _ => {}
        }
    }
    if !empty {
        return None;
    }
    let (reason, code, message) = match status {
        431 => (
            "Request Header Fields Too Large",
            "RequestHeadTooLarge",
            format!(
                "the request head is larger than this handler reads ({} KiB with the request \
                 line, at most {MAX_HEADERS} headers); nothing was done",
                MAX_HEAD_BYTES / 1024
            ),
        ),
        414 => (
            "URI Too Long",
            "UriTooLong",
            "the request URL is longer than this handler reads (64 KiB); nothing was done"
                .to_owned(),
        ),
        400 => (
            "Bad Request",
            "MalformedRequest",
            "the request is not HTTP/1.1 this handler can read (its request line or a header \
             line is malformed); nothing was done"
                .to_owned(),
        ),
        _ => return None,
    };
    tracing::info!(status, code, "refused a request head: {message}");
    let body = serde_json::to_vec(&crate::report::OperationBody::failed(
        None,
        None,
        crate::report::Requested::default(),
        crate::report::ErrorView::new(code, message),
    ))
    .ok()?;
    let mut answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(&format!("date: {date}\r\n"));
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            let mut phase = this.phase.lock().unwrap_or_else(|e| e.into_inner());
            if let Phase::Idle(_) = *phase {
                *phase = Phase::Head(Instant::now());
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.answers_for_hyper(buf) {
            return this.write_own(cx, buf.len());
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.own.is_some() || matches!(get(&this.phase), Phase::Head(_)) {
            // Rare (a refused head): looked at whole, as one buffer.
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if this.answers_for_hyper(&whole) {
                return this.write_own(cx, whole.len());
            }
            return Pin::new(&mut this.stream).poll_write(cx, &whole);
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_own(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_own(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Why a request body stopped arriving; the handler reads it as a body
/// error and answers in its usual shape, naming this.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyCut {
    #[error("the request body did not all arrive within {0} s")]
    TooSlow(f64),
    #[error(
        "the handler is shutting down and the request body had not all arrived; nothing was done: send the request again"
    )]
    ShuttingDown,
}

/// A request body that must arrive whole by a deadline, and stops at once
/// when shutdown begins: a trickling body then neither holds its connection
/// past the limit nor delays the exit.
struct ReadDeadline {
    body: Incoming,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    stopping: Pin<Box<dyn Future<Output = ()> + Send>>,
    cut: bool,
}

impl ReadDeadline {
    fn new(body: Incoming, limit: Duration, stop: watch::Receiver<bool>) -> Self {
        Self {
            body,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            stopping: stopped(stop),
            cut: false,
        }
    }
}

impl hyper::body::Body for ReadDeadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if this.cut {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let cut = if this.deadline.as_mut().poll(cx).is_ready() {
            BodyCut::TooSlow(this.limit.as_secs_f64())
        } else if this.stopping.as_mut().poll(cx).is_ready() {
            BodyCut::ShuttingDown
        } else {
            return Poll::Pending;
        };
        this.cut = true;
        Poll::Ready(Some(Err(cut.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
