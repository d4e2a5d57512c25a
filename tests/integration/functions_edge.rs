//! The handler as the Functions host sees it, before any Batch call:
//! app layout, readiness, routing, bad input, logs, shutdown, and clients
//! that are slow, idle or stop half-way.

use crate::helpers::app::{OFFLINE_ACCOUNT_KEY, offline_settings};
use crate::helpers::host::{AppManifest, FUNCTION_KEY, FunctionsHost, Key, plain_client};
use pool_resizer::functions::{AppState, ServerLimits, router, serve_with_limits};
use pool_resizer::resizer::PollPolicy;
use pool_resizer::settings::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

#[test]
fn every_http_function_json_is_forwarded_and_keyed() {
    let app = AppManifest::repo();
    let names: Vec<_> = app.functions.iter().map(|f| f.name.as_str()).collect();
    for expected in [
        "function-pool-status",
        "function-scale-down",
        "function-scale-up",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for (name, method, route) in [
        ("function-scale-up", "post", "scale-up"),
        ("function-scale-down", "post", "scale-down"),
        ("function-pool-status", "get", "pool-status"),
    ] {
        let f = app.function(name);
        assert!(
            f.is_forwarded_http(),
            "{name} must be one httpTrigger in + one http out"
        );
        let trigger = f.trigger();
        assert_eq!(trigger["authLevel"], "function", "{name}");
        assert_eq!(trigger["route"], route, "{name}");
        assert_eq!(trigger["methods"], serde_json::json!([method]), "{name}");
    }
    // The one route open without a key: the sealed token is its authority.
    let status = app.function("function-operation-status");
    assert!(status.is_forwarded_http());
    assert_eq!(status.trigger()["route"], "operation-status");
    assert_eq!(status.trigger()["methods"], serde_json::json!(["get"]));
    let anonymous: Vec<_> = app
        .functions
        .iter()
        .filter(|f| f.trigger()["authLevel"] == "anonymous")
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(anonymous, ["function-operation-status"]);
    let timeout = app.host["functionTimeout"].as_str().unwrap();
    assert_eq!(timeout, "00:10:00", "fits the Consumption plan maximum");
}

#[tokio::test]
async fn readiness_routes_and_bad_input_answer_json() {
    let mut host = FunctionsHost::start(&offline_settings()).await;

    let client = plain_client();
    let probe = client
        .get(format!("http://127.0.0.1:{}/", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);

    for (body, code) in [
        ("{not json", "InvalidJson"),
        ("[]", "InvalidJson"),
        (r#"{"dedicatedNodes": -2}"#, "InvalidParameter"),
        (r#"{"dedicatedNodes": "many"}"#, "InvalidParameter"),
        (r#"{"dedicatedNodes": 100000}"#, "InvalidParameter"),
        (r#"{"poolId": "x/../../jobs"}"#, "InvalidParameter"),
        (r#"{"pool": "typo"}"#, "UnknownParameter"),
        (r#"{"waitSeconds": 3600}"#, "InvalidParameter"),
    ] {
        let response = host.post("/api/scale-up", body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        assert_eq!(response.body["error"]["code"], code, "{body}");
        assert!(response.body["error"]["message"].as_str().unwrap().len() > 10);
    }
    // A forced shrink that would keep its nodes warm says two opposite things.
    let response = host
        .post(
            "/api/scale-down",
            r#"{"force": true, "keepWarmMinutes": 15}"#,
        )
        .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.body["error"]["code"], "InvalidParameter");
    assert!(
        response.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("keepWarmMinutes cannot go with force=true"),
        "{}",
        response.body
    );
    // `auto` or minutes, nothing else; `auto` is a keep-warm too, so not
    // beside force either.
    for (body, says) in [
        (
            r#"{"keepWarmMinutes": "soon"}"#,
            "keepWarmMinutes must be a whole number of minutes or auto, not 'soon'",
        ),
        (
            r#"{"force": true, "keepWarmMinutes": "auto"}"#,
            "keepWarmMinutes cannot go with force=true",
        ),
    ] {
        let response = host.post("/api/scale-down", body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        assert_eq!(response.body["error"]["code"], "InvalidParameter");
        let message = response.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let huge = format!(r#"{{"poolId": "{}"}}"#, "a".repeat(100_000));
    let response = host.post("/api/scale-down", &huge).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.body["error"]["code"], "PayloadTooLarge");

    let response = host
        .get("/api/pool-status?poolId=adf-pool&operation=sideways")
        .await;
    assert_eq!(response.status, 400);
    let response = host
        .post("/api/scale-up", r#"{"poolId": "someone-elses-pool"}"#)
        .await;
    assert_eq!(
        response.status, 403,
        "not in ALLOWED_POOLS (defaults to BATCH_POOL_ID)"
    );
    assert_eq!(response.body["error"]["code"], "PoolNotAllowed");

    // Straight to the handler (the host would 404 first): JSON all the same.
    let direct = client
        .get(format!("http://127.0.0.1:{}/api/scale-up", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 405);
    let body: serde_json::Value = direct.json_body().await;
    assert_eq!(body["error"]["code"], "MethodNotAllowed");
    assert_eq!(
        body["operation"], "scale-up",
        "even a 405 says which function"
    );
    let missing = client
        .get(format!("http://127.0.0.1:{}/api/nope", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Key in a header works as well as in the query.
    let response = host
        .request("POST", "/api/scale-up", Some("{bad"), Key::Header)
        .await;
    assert_eq!(response.status, 400);

    let logs = host.logs();
    let line = logs
        .iter()
        .find(|l| l.contains("/api/scale-up") && l.contains("400"))
        .expect("a request log line");
    assert!(
        line.contains("invocation{id="),
        "invocation id on the line: {line}"
    );
    let all = logs.join("\n");
    assert!(!all.contains(FUNCTION_KEY), "function key leaked into logs");
    assert!(
        !all.contains(OFFLINE_ACCOUNT_KEY),
        "account key leaked into logs"
    );

    assert_eq!(
        host.terminate().await,
        Some(0),
        "SIGTERM ends the handler cleanly"
    );
}

#[tokio::test]
async fn invalid_settings_stop_the_handler_with_every_reason() {
    let mut env = offline_settings();
    env.insert("BATCH_ACCOUNT_URL".into(), "http://insecure".into());
    env.insert("BATCH_POOL_ID".into(), "no spaces allowed".into());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .arg("serve")
        .env_clear()
        .envs(&env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BATCH_ACCOUNT_URL") && stderr.contains("BATCH_POOL_ID"),
        "{stderr}"
    );
    assert!(!stderr.contains(OFFLINE_ACCOUNT_KEY));
}

trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        let body = serde_json::from_slice(&self.bytes().await.unwrap()).unwrap();
        crate::helpers::schema::assert_answer(&body);
        body
    }
}

/// Short limits, so the timeouts play out in about four seconds.
const LIMITS: ServerLimits = ServerLimits {
    header_read: Duration::from_millis(300),
    body_read: Duration::from_millis(300),
    // Ten times the header limit: a loaded machine that notices a close late
    // still tells a header-limit close from an idle one.
    idle: Duration::from_millis(3000),
    shutdown_grace: Duration::from_millis(800),
};

/// The handler's router served in this process with `limits`; Batch is never called.
struct InProcess {
    address: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _stop: tokio_util::sync::CancellationToken,
}

impl InProcess {
    async fn start(app: Option<axum::Router>, limits: ServerLimits) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let stop_rx = stop.clone();
        let app = app.unwrap_or_else(|| {
            let env = offline_settings();
            let settings = Settings::from_env(|name| env.get(name).cloned()).unwrap();
            let batch = pool_resizer::app::batch_client(&settings).unwrap();
            router(AppState::new(batch, settings, PollPolicy::default(), stop_rx).unwrap())
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_with_limits(
            listener,
            app,
            async move {
                let _ = shutdown_rx.await;
            },
            limits,
        ));
        Self {
            address,
            shutdown,
            server,
            _stop: stop,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.unwrap()
    }
}

/// How long after `since` the server closed `stream`, reading (and
/// discarding) whatever it sends until then.
async fn closed_after(mut stream: TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return since.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A slowloris: a request head that never ends, one byte every 50 ms,
/// until the server closes the connection.
async fn trickle(stream: TcpStream, since: Instant) -> Duration {
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET / HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = read.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) {
                return since.elapsed();
            },
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                let _ = write.write_all(b"a").await;
            }
        }
    }
}

/// One HTTP/1.1 exchange on an open connection: the head and the body.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (String, String) {
    stream.write_all(request).await.unwrap();
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned();
                return (head, body);
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

/// A 400 in the usual JSON, its message saying `says`.
fn assert_refused_saying(head: &str, body: &str, says: &str) {
    assert!(head.starts_with("HTTP/1.1 400"), "{head}\n{body}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    crate::helpers::schema::assert_answer(&body);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{body}");
}

const GET_READY: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Heads hyper refuses before any route or layer sees a request (too large,
/// too many headers, a URL past its limit, not HTTP at all) get one JSON
/// object with a code and a message, like every other answer, and the
/// connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_refused_before_routing_answer_json_too() {
    let server = InProcess::start(None, ServerLimits::default()).await;
    let megabyte = "a".repeat(1 << 20);
    let many: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "a 1 MB header",
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {megabyte}\r\n\r\n"),
            431,
            "RequestHeadTooLarge",
        ),
        (
            "10,000 headers",
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            431,
            "RequestHeadTooLarge",
        ),
        (
            "a 1 MB URL",
            format!("GET /api/pool-status?poolId={megabyte} HTTP/1.1\r\nHost: x\r\n\r\n"),
            431,
            "RequestHeadTooLarge",
        ),
        (
            "a 100 KB URL",
            format!(
                "GET /api/pool-status?poolId={} HTTP/1.1\r\nHost: x\r\n\r\n",
                "a".repeat(100_000)
            ),
            414,
            "UriTooLong",
        ),
        (
            "not HTTP",
            "HELLO THERE\r\n\r\n".into(),
            400,
            "MalformedRequest",
        ),
        (
            "a header line without a colon",
            "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".into(),
            400,
            "MalformedRequest",
        ),
    ];
    for (what, request, status, code) in cases {
        let (mut read, mut write) = server.connect().await.into_split();
        // The server answers before it has read a head this large, then
        // closes: the rest of the request is written on the side.
        let writer = tokio::spawn(async move {
            let _ = write.write_all(request.as_bytes()).await;
            write
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        // To the end: the connection closes after the answer (a reset once
        // the answer is in counts as the end too).
        while let Ok(n @ 1..) = read.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
        }
        drop(writer.await);
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{what}: no answer: {text:?}"));
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {head}"
        );
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: application/json"),
            "{what}: {head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{what}: {head}"
        );
        let body: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"));
        crate::helpers::schema::assert_answer(&body);
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 20,
            "{what}: {body}"
        );
    }
    // The server still serves everyone else.
    let mut stream = server.connect().await;
    let (head, _) = exchange(&mut stream, GET_READY).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// Slowloris and its cousins: idle sockets, heads that stop half-way or
/// trickle, a body that stops. Each is closed at its own limit (idle ones
/// later than half-sent ones, so the host's keep-alive connections live),
/// while every other request is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_half_sent_connections_are_closed_while_others_are_served() {
    let server = InProcess::start(None, LIMITS).await;
    let mut closes = JoinSet::new();
    for _ in 0..50 {
        let since = Instant::now();
        let stream = server.connect().await;
        closes.spawn(async move { ("idle", closed_after(stream, since).await) });
    }
    for _ in 0..50 {
        let since = Instant::now();
        let mut stream = server.connect().await;
        stream.write_all(b"POST /api/scale-u").await.unwrap();
        closes.spawn(async move { ("half-sent", closed_after(stream, since).await) });
    }
    for _ in 0..10 {
        let since = Instant::now();
        let stream = server.connect().await;
        closes.spawn(async move { ("trickling", trickle(stream, since).await) });
    }

    // A body that stops half-way is answered, in the usual JSON, at its limit.
    let since = Instant::now();
    let mut slow_body = server.connect().await;
    let (head, body) = exchange(
        &mut slow_body,
        b"POST /api/scale-up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 40\r\n\r\n{\"poolId\": ",
    )
    .await;
    let answered = since.elapsed();
    assert_refused_saying(&head, &body, "did not all arrive within 0.3 s");
    assert!(
        answered >= LIMITS.body_read && answered < LIMITS.idle,
        "{answered:?}"
    );

    // Meanwhile the service answers everyone else, and an idle keep-alive
    // connection outlives the header limit and is used again.
    let mut keep_alive = server.connect().await;
    assert!(
        exchange(&mut keep_alive, GET_READY)
            .await
            .0
            .starts_with("HTTP/1.1 200")
    );
    let client = plain_client();
    let base = format!("http://{}", server.address);
    for _ in 0..20 {
        let ready = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let refused = client
            .post(format!("{base}/api/scale-up"))
            .body("{bad")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
    }
    tokio::time::sleep(LIMITS.header_read + Duration::from_millis(200)).await;
    assert!(
        exchange(&mut keep_alive, GET_READY)
            .await
            .0
            .starts_with("HTTP/1.1 200")
    );
    let reused = Instant::now();
    closes.spawn(async move { ("keep-alive", closed_after(keep_alive, reused).await) });

    let mut counted = HashMap::new();
    let give_up = Instant::now() + LIMITS.idle + Duration::from_secs(5);
    while let Some(closed) = tokio::time::timeout_at(give_up.into(), closes.join_next())
        .await
        .unwrap_or_else(|_| panic!("still open: {counted:?} closed so far"))
    {
        let (kind, after) = closed.unwrap();
        *counted.entry(kind).or_insert(0) += 1;
        let (at_least, below) = match kind {
            "half-sent" | "trickling" => (LIMITS.header_read, LIMITS.idle),
            _ => (LIMITS.idle, LIMITS.idle + Duration::from_secs(3)),
        };
        assert!(
            after >= at_least && after < below,
            "{kind} connection closed after {after:?}, expected {at_least:?}..{below:?}"
        );
    }
    assert_eq!(
        counted,
        HashMap::from([
            ("idle", 50),
            ("half-sent", 50),
            ("trickling", 10),
            ("keep-alive", 1)
        ])
    );
    let _ = server.shutdown.send(());
    server.server.await.unwrap().unwrap();
}

/// Shutdown stops accepting, closes idle and half-sent connections at
/// once, lets a request in flight answer, and ends within its grace even
/// when a request never finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_is_in_flight_and_ends_within_its_grace() {
    let (entered, mut inside) = mpsc::unbounded_channel::<&'static str>();
    let quick = entered.clone();
    let app = axum::Router::new()
        .route(
            "/quick",
            axum::routing::get(move || async move {
                let _ = quick.send("quick");
                tokio::time::sleep(Duration::from_millis(200)).await;
                "answered"
            }),
        )
        .route(
            "/stuck",
            axum::routing::get(move || async move {
                let _ = entered.send("stuck");
                std::future::pending::<&'static str>().await
            }),
        );
    // Idle and header limits far beyond the test: only shutdown closes.
    let limits = ServerLimits {
        header_read: Duration::from_secs(60),
        idle: Duration::from_secs(60),
        ..LIMITS
    };
    let server = InProcess::start(Some(app), limits).await;
    let mut half_sent = server.connect().await;
    half_sent.write_all(b"GET /qu").await.unwrap();
    let idle = server.connect().await;
    let mut quick = server.connect().await;
    quick
        .write_all(b"GET /quick HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut stuck = server.connect().await;
    stuck
        .write_all(b"GET /stuck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut both = [inside.recv().await.unwrap(), inside.recv().await.unwrap()];
    both.sort();
    assert_eq!(both, ["quick", "stuck"], "both requests are in flight");

    let began = Instant::now();
    let _ = server.shutdown.send(());
    let half_sent_closed = closed_after(half_sent, began).await;
    let idle_closed = closed_after(idle, began).await;
    assert!(
        half_sent_closed < limits.shutdown_grace / 2 && idle_closed < limits.shutdown_grace / 2,
        "closed at once: half-sent after {half_sent_closed:?}, idle after {idle_closed:?}"
    );
    assert!(
        TcpStream::connect(server.address).await.is_err(),
        "no new connection once shutdown began"
    );
    let (head, body) = read_answer(&mut quick).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, "answered");
    let stuck_closed = closed_after(stuck, began).await;
    server.server.await.unwrap().unwrap();
    let ended = began.elapsed();
    assert!(
        stuck_closed >= limits.shutdown_grace
            && ended < limits.shutdown_grace + Duration::from_secs(1),
        "the stuck request's connection closed after {stuck_closed:?}, serve ended after {ended:?}"
    );
}

/// The binary as the host runs it: on SIGTERM, a request whose body is
/// still arriving is answered (nothing done, send again), idle and
/// half-sent connections are closed, and the process exits at once, well
/// within its 10-s bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_half_sent_and_slow_body_requests_open_exits_at_once() {
    let mut host = FunctionsHost::start(&offline_settings()).await;
    let address = SocketAddr::from(([127, 0, 0, 1], host.port()));
    let mut half_sent = TcpStream::connect(address).await.unwrap();
    half_sent
        .write_all(b"POST /api/scale-up HTT")
        .await
        .unwrap();
    let idle = TcpStream::connect(address).await.unwrap();
    // `Expect: 100-continue`: the interim answer proves the handler is
    // reading this body when SIGTERM comes.
    let mut slow_body = TcpStream::connect(address).await.unwrap();
    let (interim, _) = exchange(
        &mut slow_body,
        b"POST /api/scale-up HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n\
          Content-Length: 40\r\n\r\n",
    )
    .await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    slow_body.write_all(b"{\"poolId\": ").await.unwrap();

    let began = Instant::now();
    host.sigterm();
    let (head, body) = read_answer(&mut slow_body).await;
    assert_refused_saying(&head, &body, "shutting down");
    let half_sent_closed = closed_after(half_sent, began).await;
    let idle_closed = closed_after(idle, began).await;
    assert_eq!(host.wait_exit().await, Some(0));
    let exited = began.elapsed();
    assert!(
        exited < Duration::from_secs(3),
        "exited {exited:?} after SIGTERM (half-sent closed after {half_sent_closed:?}, idle after {idle_closed:?})"
    );
}
