//! Status URLs are capabilities, not key carriers: a 202's `Location` is
//! `/api/operation-status?token=<sealed>` on an anonymous route, followed as
//! ADF does (no headers). Anything the app did not seal unchanged, an
//! expired token, or a hand-written `resume` acts on nothing: 403 before any
//! Batch call, with the simulator's request log as the witness. And no key,
//! lease id, status-URL secret or token reaches a log line, even at trace.

use crate::helpers::app::{STATUS_URL_SECRET, TestApp, pools, spawn_app, spawn_app_with, writes};
use crate::helpers::host::{FUNCTION_KEY, FunctionsHost, HostResponse, Key};
use batch_simulator::{EventKind, Simulator};

/// Every request Batch has seen so far.
fn batch_requests(sim: &Simulator) -> usize {
    sim.events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Request { .. }))
        .count()
}

/// The path and query of an absolute URL.
fn path_of(location: &str) -> &str {
    let rest = location.split_once("://").expect("absolute URL").1;
    &rest[rest.find('/').expect("a path")..]
}

/// A GET with no key and no header, as ADF's poller sends, on `host`.
async fn follow_on(host: &FunctionsHost, path_and_query: &str) -> HostResponse {
    host.request("GET", path_and_query, None, Key::None).await
}

/// A scale-up that answers 202 at once: its status URL.
async fn pending_scale_up(app: &TestApp, body: &str) -> String {
    let up = app.host.post("/api/scale-up", body).await;
    assert_eq!(up.status, 202, "{}", up.body);
    let location = up.header("location").unwrap().to_owned();
    assert_eq!(up.body["statusUrl"], location.as_str());
    location
}

/// `path` is refused with 403 and `code`, and Batch hears nothing of it.
async fn assert_refused(app: &TestApp, host: &FunctionsHost, path: &str, code: &str) {
    let before = batch_requests(&app.sim);
    let response = follow_on(host, path).await;
    assert_eq!(response.status, 403, "{path}: {}", response.body);
    assert_eq!(response.body["error"]["code"], code, "{path}");
    assert_eq!(response.body["status"], "failed");
    assert!(response.body["statusUrl"].is_null());
    assert_eq!(
        batch_requests(&app.sim),
        before,
        "{path}: refused before any Batch call"
    );
}

/// One base64url character swapped for another at `at`.
fn with_char_changed(token: &str, at: usize) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_unissued_status_url_acts_on_nothing() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let location = pending_scale_up(
        &app,
        r#"{"dedicatedNodes": 2, "leaseId": "run-7", "leaseMinutes": 30, "waitSeconds": 0}"#,
    )
    .await;
    let path = path_of(&location);
    let token = path
        .strip_prefix("/api/operation-status?token=")
        .expect("only a token");
    assert!(
        !location.contains("run-7") && !location.contains(FUNCTION_KEY),
        "neither the lease id nor a key travels in the URL: {location}"
    );

    // Every part of the token is under the tag: first, middle and last
    // characters, the nonce, the sealed fields, the tag itself.
    let length = token.len();
    for at in [
        0,
        1,
        10,
        30,
        length / 2,
        length - 20,
        length - 2,
        length - 1,
    ] {
        let changed = with_char_changed(token, at);
        let tampered = format!("/api/operation-status?token={changed}");
        assert_refused(&app, &app.host, &tampered, "StatusUrlInvalid").await;
    }
    for tampered in [
        format!("/api/operation-status?token={}", &token[..length - 4]),
        format!("{path}&dedicatedNodes=5"),
        format!("{path}&resume=1"),
        format!("{path}&token={token}"),
        format!("/api/operation-status?tok={token}"),
        "/api/operation-status".to_owned(),
        "/api/operation-status?token=".to_owned(),
        "/api/operation-status?poolId=adf-pool&operation=scale-up&dedicatedNodes=5".to_owned(),
    ] {
        assert_refused(&app, &app.host, &tampered, "StatusUrlInvalid").await;
    }

    // The issue's forgeries with a key that opens pool-status: none acts.
    let before = writes(&app.sim);
    for forged in [
        "poolId=adf-pool&operation=scale-up&dedicatedNodes=5&leaseId=pin&leaseMinutes=10080&resume=1",
        "poolId=adf-pool&operation=scale-down&dedicatedNodes=0&resume=1",
        "poolId=adf-pool&operation=scale-up&lowPriorityNodes=1&fallbackToDedicated=true&resume=1",
    ] {
        let response = app.host.get(&format!("/api/pool-status?{forged}")).await;
        assert_eq!(response.status, 403, "{forged}: {}", response.body);
        assert_eq!(response.body["error"]["code"], "ResumeNotSigned");
    }
    // A look with a target may answer 202, but its status URL only looks.
    let look = app
        .host
        .get("/api/pool-status?poolId=adf-pool&operation=scale-up&dedicatedNodes=5")
        .await;
    assert_eq!(look.status, 202, "{}", look.body);
    let look_url = look.header("location").unwrap().to_owned();
    let followed = follow_on(&app.host, path_of(&look_url)).await;
    assert!(
        followed.status == 202 && followed.body["actions"] == serde_json::json!([]),
        "{}",
        followed.body
    );
    assert_eq!(
        writes(&app.sim),
        before,
        "no forgery and no look changed the pool"
    );
    let pool = app.batch().pool("adf-pool").await;
    assert_eq!(
        pool["targetDedicatedNodes"], 2,
        "as the real scale-up left it"
    );

    // The issued URL, untouched and with no headers, goes on to 200.
    let done = follow_on(&app.host, path).await;
    let done = app.host.until_final(done).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["operation"], "operation-status");
    assert_eq!(done.body["pool"]["readyDedicatedNodes"], 2, "{}", done.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_with_the_secret_honours_a_url_and_a_rotation_keeps_old_ones() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let location = pending_scale_up(&app, r#"{"dedicatedNodes": 1, "waitSeconds": 0}"#).await;
    let path = path_of(&location).to_owned();

    // Another worker of the same app (same app settings): honoured.
    let second = app.instance().await;
    let answer = follow_on(&second, &path).await;
    assert!(
        answer.status == 200 || answer.status == 202,
        "{}",
        answer.body
    );

    // Rotated: the old secret is now the previous one, and still opens.
    let rotated = app
        .instance_with(|settings| {
            settings.insert(
                "STATUS_URL_SECRET".into(),
                "the-rotated-secret-of-the-app-9e8d7c6b5a".into(),
            );
            settings.insert(
                "STATUS_URL_SECRET_PREVIOUS".into(),
                STATUS_URL_SECRET.into(),
            );
        })
        .await;
    let answer = follow_on(&rotated, &path).await;
    assert!(
        answer.status == 200 || answer.status == 202,
        "{}",
        answer.body
    );

    // Another app's secret (or the rotation finished): refused, untouched.
    let stranger = app
        .instance_with(|settings| {
            settings.insert(
                "STATUS_URL_SECRET".into(),
                "the-rotated-secret-of-the-app-9e8d7c6b5a".into(),
            );
        })
        .await;
    assert_refused(&app, &stranger, &path, "StatusUrlInvalid").await;

    // And what the rotated instance issues, the old one cannot open.
    let up = rotated
        .post(
            "/api/scale-up",
            r#"{"dedicatedNodes": 2, "waitSeconds": 0}"#,
        )
        .await;
    assert_eq!(up.status, 202, "{}", up.body);
    let newer = path_of(up.header("location").unwrap()).to_owned();
    assert_refused(&app, &app.host, &newer, "StatusUrlInvalid").await;
    assert_eq!(follow_on(&rotated, &newer).await.status / 100, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_status_url_acts_on_nothing_and_polling_never_extends_one() {
    // One simulated minute is 0.2 s of the test's time at 300x.
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("STATUS_URL_TTL_MINUTES".into(), "1".into());
    })
    .await;
    let location = pending_scale_up(&app, r#"{"dedicatedNodes": 1, "waitSeconds": 0}"#).await;
    let first = path_of(&location).to_owned();
    // A poll while it is valid is answered with a new token that keeps the
    // old expiry: following the new one later is refused as well.
    let poll = follow_on(&app.host, &first).await;
    let second = (poll.status == 202).then(|| path_of(poll.header("location").unwrap()).to_owned());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_refused(&app, &app.host, &first, "StatusUrlExpired").await;
    if let Some(second) = second {
        assert_refused(&app, &app.host, &second, "StatusUrlExpired").await;
    }
    let expired = follow_on(&app.host, &first).await;
    let message = expired.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Call the operation again"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_without_the_secret_refuses_to_start_and_says_why() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let mut settings = app.settings.clone();
    settings.remove("STATUS_URL_SECRET");
    let (code, logs) = FunctionsHost::start_expecting_exit(&settings).await;
    assert_ne!(code, Some(0));
    assert!(
        logs.contains("STATUS_URL_SECRET is not set")
            && logs.contains("every instance must share it"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_lease_id_secret_or_token_reaches_a_log_even_at_trace() {
    const LEASE: &str = "lease-run-5b1f9e2a-0c7d";
    const OTHER_LEASE: &str = "lease-run-other-77aa3c";
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("RUST_LOG".into(), "trace".into());
    })
    .await;
    let host = &app.host;
    let mut tokens = Vec::new();

    // A leased scale-up followed to the end, the key once as a header.
    let up = host
        .request(
            "POST",
            "/api/scale-up",
            Some(&format!(
                r#"{{"leaseId": "{LEASE}", "dedicatedNodes": 1, "waitSeconds": 0}}"#
            )),
            Key::Header,
        )
        .await;
    assert_eq!(up.status, 202, "{}", up.body);
    tokens.push(up.header("location").unwrap().to_owned());
    assert_eq!(host.until_final(up).await.status, 200);
    // Leases add up: a second node, followed to the end.
    let other = host
        .scale_up(&format!(
            r#"{{"leaseId": "{OTHER_LEASE}", "dedicatedNodes": 1, "waitSeconds": 200}}"#
        ))
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_ne!(
        other.body["requested"]["leaseId"], OTHER_LEASE,
        "answers show a fingerprint: {}",
        other.body
    );

    // A look judged with the lease, a tampered URL, a forged resume.
    let look = host
        .get(&format!(
            "/api/pool-status?poolId=adf-pool&operation=scale-down&dedicatedNodes=0&leaseId={LEASE}"
        ))
        .await;
    if let Some(location) = look.header("location") {
        tokens.push(location.to_owned());
    }
    let _ = follow_on(host, "/api/operation-status?token=AAAA").await;
    let _ = host
        .get(&format!(
            "/api/pool-status?poolId=adf-pool&operation=scale-up&dedicatedNodes=1&leaseId={LEASE}&resume=1"
        ))
        .await;

    // Its scale-down, then an operator's forced one past the other lease.
    let down = host
        .post(
            "/api/scale-down",
            &format!(r#"{{"leaseId": "{LEASE}", "waitSeconds": 0}}"#),
        )
        .await;
    if let Some(location) = down.header("location") {
        tokens.push(location.to_owned());
    }
    let forced = host
        .post("/api/scale-down", r#"{"force": true, "waitSeconds": 0}"#)
        .await;
    assert_eq!(forced.body["leasesOverridden"].as_array().unwrap().len(), 1);
    if let Some(location) = forced.header("location") {
        tokens.push(location.to_owned());
    }

    let logs = host.logs().join("\n");
    assert!(
        logs.contains("TRACE") || logs.contains("trace"),
        "the handler logged at trace level"
    );
    let account_key = app.settings["BATCH_ACCOUNT_KEY"].clone();
    let mut secrets = vec![
        FUNCTION_KEY.to_owned(),
        LEASE.to_owned(),
        OTHER_LEASE.to_owned(),
        STATUS_URL_SECRET.to_owned(),
        account_key,
    ];
    secrets.extend(
        tokens
            .iter()
            .map(|url| url.split_once("token=").unwrap().1.to_owned()),
    );
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a log line carries '{secret}':\n{}",
            logs.lines()
                .filter(|l| l.contains(&secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
