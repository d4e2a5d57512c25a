//! The answers when Batch fails or a request is refused, and safe sharing
//! by default.
//!
//! - No success without evidence: an unreachable, untrusted or refusing
//!   Batch is a 502 that names its cause, the URL and the fix, within
//!   seconds, on HTTP, timers and the CLI alike; throttling is a wait.
//! - A GET never changes a pool unless it is a status URL this service
//!   issued (a sealed `operation-status` token, `status_urls.rs`); the
//!   simulator's event log is the witness.
//! - Every shrink keeps what other pipelines' live leases need, unless
//!   `force=true`, which says what it overrode.
//!
//! Every answer here is also checked against `docs/response.schema.json`
//! by the host stand-in.

use crate::helpers::app::{
    Settings, TestApp, pools, spawn_app, spawn_app_with, use_managed_identity, writes,
};
use crate::helpers::faults;
use crate::helpers::host::Key;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on: tcpmux's port 1, which no service
/// of this machine or test uses. (A port picked free and then let go could
/// be bound by a test running beside this one.)
fn closed_port() -> u16 {
    let port = 1;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something listens on port {port}"
    );
    port
}

fn error_of(body: &Value) -> (&str, &str, &str) {
    let error = &body["error"];
    (
        error["code"].as_str().unwrap_or_default(),
        error["hint"].as_str().unwrap_or_default(),
        error["url"].as_str().unwrap_or_default(),
    )
}

/// Each failure below is checked on scale-up, both kinds of status, a
/// timer and the CLI: 502 (500 for the timer, exit 1 for the CLI), the
/// code, the fix, the URL tried, in seconds.
async fn assert_fails_everywhere_with(app: &TestApp, code: &str, hint_mentions: &str) {
    let host = &app.host;
    for (method, path) in [
        ("POST", "/api/scale-up"),
        ("POST", "/api/scale-down"),
        ("GET", "/api/pool-status?poolId=adf-pool"),
        ("GET", "/api/pool-status?poolId=adf-pool&dedicatedNodes=1"),
    ] {
        let started = Instant::now();
        let body = (method == "POST").then_some(r#"{"waitSeconds": 200}"#);
        let response = host.request(method, path, body, Key::Query).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{method} {path} took {:?}: bounded, not the whole wait",
            started.elapsed()
        );
        assert_eq!(response.status, 502, "{method} {path}: {}", response.body);
        let (got, hint, url) = error_of(&response.body);
        assert_eq!(got, code, "{method} {path}: {}", response.body);
        assert!(
            hint.contains(hint_mentions),
            "{method} {path}: hint {hint:?}"
        );
        assert!(url.starts_with("https://"), "{method} {path}: url {url:?}");
        assert_eq!(response.body["status"], "failed");
    }
    let (status, answer) = host.fire("timer-reconcile").await;
    assert_eq!(status, 500, "the invocation fails visibly: {answer}");
    let logs = answer["Logs"].to_string();
    assert!(
        logs.contains(code) && logs.contains(hint_mentions),
        "{logs}"
    );
    let cause_logged = host
        .logged(|line| line.contains("Batch call failed") && line.contains("cause"))
        .await;
    assert!(cause_logged, "the cause chain is logged");

    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_pool-resizer"));
    cli.args(["status", "--pool", "adf-pool"])
        .env_clear()
        .envs(&app.settings)
        .env("RUST_LOG", "off")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(20), cli.output())
        .await
        .expect("the CLI answers in bounded time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(code) && stdout.contains("fix:") && stdout.contains(hint_mentions),
        "{stdout}"
    );
}

/// The app with its settings changed by `edit` (the simulator itself is
/// healthy).
async fn spawn_with(edit: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(pools(&["adf-pool"]), |settings, _| edit(settings)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_batch_unavailable_with_the_url_and_the_fix() {
    let app = spawn_with(|settings| {
        let url = format!("https://127.0.0.1:{}", closed_port());
        settings.insert("BATCH_ACCOUNT_URL".into(), url);
    })
    .await;
    assert_fails_everywhere_with(&app, "BatchUnavailable", "BATCH_ACCOUNT_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_says_set_batch_ca_file() {
    let app = spawn_with(|settings| {
        settings.remove("BATCH_CA_FILE");
    })
    .await;
    assert_fails_everywhere_with(&app, "BatchTlsFailed", "BATCH_CA_FILE").await;
    assert!(writes(&app.sim).is_empty(), "nothing reached Batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_an_authentication_failure_naming_the_key() {
    let app = spawn_with(|settings| {
        settings.insert(
            "BATCH_ACCOUNT_KEY".into(),
            "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=".into(),
        );
    })
    .await;
    assert_fails_everywhere_with(&app, "BatchAuthenticationFailed", "BATCH_ACCOUNT_KEY").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_is_down_is_an_identity_outage() {
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, sim| {
        use_managed_identity(settings, sim);
        let down = faults::status(500, None, "/msi/token", 100_000);
        sim.faults().inject(down).unwrap();
    })
    .await;
    let started = Instant::now();
    let response = app
        .host
        .post("/api/scale-up", r#"{"waitSeconds": 200}"#)
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(response.status, 502, "{}", response.body);
    let (code, hint, _) = error_of(&response.body);
    assert_eq!(code, "IdentityUnavailable");
    assert!(hint.contains("transient"), "{hint}");
}

/// 429s with a `Retry-After` shorter than the wait are waited out (one
/// resize, 200); one longer than the wait is "not yet" (202 with Batch's
/// ask in `Retry-After`), never a failure; a plain look that saw nothing
/// is a 503, not a 200 without a pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_within_the_budget_and_never_a_failure() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let throttle = |retry_after, path, count| faults::status(429, Some(retry_after), path, count);
    // Retry-After 2 s (of the handler's clock) x3 on the resize: shorter than the wait.
    app.inject(throttle(2, "/resize", 3));
    let up = app
        .host
        .post("/api/scale-up", r#"{"waitSeconds": 200}"#)
        .await;
    assert_ne!(up.status, 502, "{}", up.body);
    let up = app.host.until_final(up).await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(app.accepted("POST", "/resize"), 1);

    // Throttled for longer than any wait: nothing observed, nothing done.
    app.inject(throttle(600, "/pools/adf-pool", 100_000));
    let look = app.pool_status("adf-pool").await;
    assert_eq!(look.status, 503, "{}", look.body);
    assert_eq!(look.body["error"]["code"], "BatchThrottled");
    assert!(look.header("retry-after").is_some());
    let down = app
        .host
        .post("/api/scale-down", r#"{"waitSeconds": 100}"#)
        .await;
    assert_eq!(down.status, 202, "{}", down.body);
    assert!(
        down.body["waitingFor"]
            .as_str()
            .unwrap()
            .contains("throttling"),
        "{}",
        down.body
    );
    let retry_after: u64 = down.header("retry-after").unwrap().parse().unwrap();
    assert!(
        retry_after >= 2,
        "Batch's 600 s ask is passed on: {retry_after}"
    );
    app.sim.faults().clear();
    let down = app.host.until_final(down).await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["currentDedicatedNodes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_never_changes_a_pool_unless_it_is_an_issued_status_url() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    // Hand-written status URLs with targets: they judge, they do not act.
    for query in [
        "poolId=adf-pool&operation=scale-up&dedicatedNodes=5",
        "poolId=adf-pool&dedicatedNodes=2&lowPriorityNodes=1",
        "poolId=adf-pool&operation=scale-down&dedicatedNodes=0",
    ] {
        let response = app.host.get(&format!("/api/pool-status?{query}")).await;
        assert!(
            response.status == 200 || response.status == 202,
            "{query}: {}",
            response.body
        );
        assert!(response.body["actions"].as_array().unwrap().is_empty());
    }
    assert!(writes(&app.sim).is_empty(), "{:?}", writes(&app.sim));

    // A status URL the service issued (a sealed token) takes the next step.
    let up = app
        .host
        .post("/api/scale-up", r#"{"waitSeconds": 0}"#)
        .await;
    assert_eq!(up.status, 202, "{}", up.body);
    let location = up.header("location").unwrap().to_owned();
    assert!(
        location.contains("/api/operation-status?token="),
        "{location}"
    );
    assert_eq!(
        up.body["pool"]["targetDedicatedNodes"], 1,
        "the view is taken after the resize it reports: {}",
        up.body
    );
    assert_eq!(app.host.until_final(up).await.status, 200);
    assert_eq!(app.accepted("POST", "/resize"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_scale_down_keeps_leased_nodes_and_force_says_what_it_overrode() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let up = app
        .scale_up(r#"{"leaseId": "run-b", "dedicatedNodes": 1, "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);

    // A pipeline that forgot its leaseId, and an ADF activity with an empty body.
    for body in [r#"{"waitSeconds": 200}"#, ""] {
        let down = app.scale_down(body).await;
        assert_eq!(down.status, 200, "{}", down.body);
        assert_eq!(
            down.body["pool"]["targetDedicatedNodes"], 1,
            "{}",
            down.body
        );
        assert_eq!(down.body["pool"]["readyDedicatedNodes"], 1, "{}", down.body);
        assert_eq!(down.body["leasesOverridden"], serde_json::json!([]));
    }

    // The status of run-b's own scale-down judges with run-b released.
    let mine = app
        .host
        .get("/api/pool-status?poolId=adf-pool&operation=scale-down&dedicatedNodes=0&leaseId=run-b")
        .await;
    assert_eq!(mine.status, 202, "1 node left, none needed: {}", mine.body);
    let theirs = app
        .host
        .get("/api/pool-status?poolId=adf-pool&operation=scale-down&dedicatedNodes=0")
        .await;
    assert_eq!(theirs.status, 200, "run-b's node is kept: {}", theirs.body);

    // An operator's override: it goes, and the answer says whose lease it broke.
    let forced = app
        .host
        .post("/api/scale-down", r#"{"force": true, "waitSeconds": 200}"#)
        .await;
    let overridden = forced.body["leasesOverridden"].clone();
    let forced = app.host.until_final(forced).await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["pool"]["currentDedicatedNodes"], 0);
    let run_b = pool_resizer::resizer::lease::fingerprint(&"run-b".parse().unwrap());
    assert_eq!(overridden[0]["holder"], run_b.as_str(), "{overridden}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_the_one_shape_with_operation_and_pool() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    for (path, body, status, code) in [
        ("/api/scale-up", "{not json", 400, "InvalidJson"),
        (
            "/api/scale-up",
            r#"{"leaseId":"a","leaseMinutes":0}"#,
            400,
            "InvalidParameter",
        ),
        (
            "/api/scale-up",
            r#"{"leaseMinutes":30}"#,
            400,
            "InvalidParameter",
        ),
        (
            "/api/scale-up",
            r#"{"force":true}"#,
            400,
            "InvalidParameter",
        ),
        (
            "/api/scale-down",
            r#"{"poolId":"nope"}"#,
            404,
            "PoolNotFound",
        ),
    ] {
        let response = app.host.post(path, body).await;
        assert_eq!(response.status, status, "{body}: {}", response.body);
        assert_eq!(response.body["error"]["code"], code, "{}", response.body);
        let operation = path.trim_start_matches("/api/");
        assert_eq!(response.body["operation"], operation, "{}", response.body);
        assert!(response.body["poolId"].is_string(), "{}", response.body);
    }
    let bad = app.host.get("/api/pool-status?resume=1").await;
    assert_eq!(bad.status, 400, "resume needs a target: {}", bad.body);
    assert_eq!(bad.body["poolId"], "adf-pool");
}
