//! Reliability: Batch faults, identity faults, stuck or failing allocations,
//! nodes that break, a handler killed mid-wait, SIGTERM during a wait, no
//! secret in any log or response. Each test injects through the simulator's
//! fault controls and checks the end state in the simulator's event log.

use crate::helpers::app::{pools, spawn_app, spawn_app_with, use_managed_identity};
use crate::helpers::faults;
use crate::helpers::host::{FUNCTION_KEY, Key};
use batch_simulator::FaultSpec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_errors_drops_and_slowness_are_ridden_out_acting_once() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    app.inject(faults::status(500, Some(1), "/pools/adf-pool", 2));
    app.inject(faults::dropped("GET", "/pools/adf-pool", 2));
    app.inject(faults::latency(300, None, "/pools/adf-pool", 3));
    app.inject(faults::status(503, Some(1), "/resize", 1));
    let up = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(
        app.accepted("POST", "/resize"),
        1,
        "one resize despite the faults"
    );

    app.inject(faults::status(429, Some(1), "/pools/adf-pool", 3));
    app.inject(faults::dropped("POST", "/resize", 1));
    let down = app.scale_down(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["currentDedicatedNodes"], 0);
    assert_eq!(
        app.accepted("POST", "/resize"),
        2,
        "one shrink, even after a dropped POST was retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_faults_are_retried_or_reported_never_hung() {
    let app = spawn_app_with(pools(&["adf-pool"]), use_managed_identity).await;

    // A few failures, then it recovers: retried, the scale-up succeeds.
    app.inject(faults::status(500, Some(1), "/msi/token", 2));
    let up = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);

    // Slow: the wait budget cuts it to a 202, and polling recovers. (Each
    // step on a new instance, which has no token yet.)
    let host = app.instance().await;
    app.inject(faults::latency(2500, None, "/msi/token", 1));
    let started = Instant::now();
    let status = host
        .get("/api/pool-status?poolId=adf-pool&operation=scale-up&dedicatedNodes=1")
        .await;
    assert!(started.elapsed() < Duration::from_secs(10), "never a hang");
    assert!(
        status.status == 200 || status.status == 202,
        "{}",
        status.body
    );
    assert_eq!(host.until_final(status).await.status, 200);

    // Down for good: a clear authentication failure, quickly.
    let host = app.instance().await;
    app.inject(faults::status(500, Some(1), "/msi/token", 1000));
    let started = Instant::now();
    let response = host.post("/api/scale-down", r#"{"waitSeconds": 5}"#).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status, 502, "{}", response.body);
    // An outage of the identity service, not a refusal: say so, and that
    // it is usually transient.
    assert_eq!(response.body["error"]["code"], "IdentityUnavailable");
    assert!(
        response.body["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("transient"),
        "{}",
        response.body
    );
    app.sim.faults().clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_and_failed_allocations_are_reported_with_batch_codes() {
    let app = spawn_app(pools(&["stuck", "failing"])).await;
    app.inject(FaultSpec::AllocationStall {
        pool_id: "stuck".into(),
    });
    app.inject(FaultSpec::AllocationFailure {
        pool_id: "failing".into(),
        after_nodes: 0,
    });

    let stuck = app
        .scale_up(r#"{"poolId": "stuck", "waitSeconds": 200}"#)
        .await;
    assert_eq!(stuck.status, 409, "{}", stuck.body);
    assert_eq!(stuck.body["error"]["code"], "ResizeFailed");
    assert_eq!(stuck.body["error"]["batchCode"], "AllocationTimedout");

    let failing = app
        .scale_up(r#"{"poolId": "failing", "waitSeconds": 200}"#)
        .await;
    assert_eq!(failing.status, 409, "{}", failing.body);
    assert_eq!(failing.body["error"]["batchCode"], "AllocationFailed");
    // The caller is told what the pool holds now: nothing half-done silently.
    assert_eq!(failing.body["pool"]["targetDedicatedNodes"], 1);
    assert_eq!(failing.body["pool"]["currentDedicatedNodes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_break_after_being_ready_are_reported() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let up = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
    for (state, code) in [
        ("unusable", "NodesUnusable"),
        ("starttaskfailed", "StartTaskFailed"),
    ] {
        app.inject(faults::node_state("adf-pool", state));
        // With repairs off, the broken node is reported at once.
        let response = app
            .host
            .post(
                "/api/scale-up",
                r#"{"waitSeconds": 10, "repairAttempts": 0}"#,
            )
            .await;
        assert_eq!(response.status, 409, "{state}: {}", response.body);
        assert_eq!(response.body["error"]["code"], code);
        // With the default (one repair), it is replaced: removed with
        // taskcompletion, a new node allocated, the call succeeds.
        let repaired = app
            .host
            .post("/api/scale-up", r#"{"waitSeconds": 200}"#)
            .await;
        let first_actions = repaired.body["actions"].clone();
        let repaired = app.host.until_final(repaired).await;
        assert_eq!(repaired.status, 200, "{state}: {}", repaired.body);
        assert_eq!(first_actions[0]["action"], "removeNodes", "{first_actions}");
        assert!(app.accepted("POST", "/removenodes") > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_killed_mid_wait_loses_nothing() {
    let mut app = spawn_app(pools(&["adf-pool"])).await;
    // Kill it once the resize is in, its caller still waiting.
    tokio::select! {
        answer = app.host.post("/api/scale-up", r#"{"waitSeconds": 200}"#) => {
            panic!("answered before the resize was in: {}", answer.body)
        }
        () = app.until_accepted("POST", "/resize") => {}
    }
    app.host.kill().await;

    // Another instance answers the status URL from the pool itself.
    let second = app.instance().await;
    let status = second.get("/api/pool-status?poolId=adf-pool&operation=scale-up&dedicatedNodes=1&lowPriorityNodes=0").await;
    let status = second.until_final(status).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(app.accepted("POST", "/resize"), 1, "picked up, not redone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_wait_answers_202_with_the_status_url() {
    let mut app = spawn_app(pools(&["adf-pool"])).await;
    let waiting = app.host.post("/api/scale-up", r#"{"waitSeconds": 200}"#);
    let stop = async {
        app.until_accepted("POST", "/resize").await;
        // A client that stopped half-way through its request line holds nothing up.
        let mut half_sent = tokio::net::TcpStream::connect(("127.0.0.1", app.host.port()))
            .await
            .unwrap();
        half_sent.write_all(b"POST /api/scale-up HT").await.unwrap();
        let began = Instant::now();
        app.host.sigterm();
        (half_sent, began)
    };
    let (response, (mut half_sent, began)) = tokio::join!(waiting, stop);
    assert_eq!(response.status, 202, "{}", response.body);
    assert!(
        response
            .header("location")
            .unwrap()
            .contains("/api/operation-status?token=")
    );
    assert_eq!(app.host.wait_exit().await, Some(0));
    let exited = began.elapsed();
    assert!(
        exited < Duration::from_secs(3),
        "exited {exited:?} after SIGTERM; the bound is 10 s"
    );
    let mut rest = Vec::new();
    assert_eq!(
        half_sent.read_to_end(&mut rest).await.unwrap_or(0),
        0,
        "the half-sent request got no answer, only a closed connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_are_all_answered() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let host = Arc::new(app.host);
    let mut calls = Vec::new();
    for i in 0..200 {
        let host = host.clone();
        calls.push(tokio::spawn(async move {
            if i % 4 == 0 {
                host.post("/api/scale-up", r#"{"waitSeconds": 1}"#).await
            } else {
                host.get("/api/pool-status").await
            }
        }));
    }
    for call in calls {
        let response = call.await.unwrap();
        assert!(matches!(response.status, 200 | 202), "{}", response.body);
    }
    let resizes = crate::helpers::app::accepted(&app.sim, "POST", "/resize");
    assert!(
        resizes <= 2,
        "{resizes} resizes for one want: ETag-conditional acts keep it to one (or a retry)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_or_a_response() {
    const WRONG_KEY: &str = "c2VjcmV0LWJ1dC13cm9uZy1rZXk=";
    let app = spawn_app(pools(&["adf-pool"])).await;
    let info = app.sim.ready_info().clone();
    let mi_host = app
        .instance_with(|settings| use_managed_identity(settings, &app.sim))
        .await;
    let mut answers = Vec::new();
    for host in [&app.host, &mi_host] {
        for key in [Key::Query, Key::Header] {
            for (method, path, body) in [
                (
                    "POST",
                    "/api/scale-up",
                    Some(r#"{"waitSeconds": 200, "leaseId": "run-1"}"#),
                ),
                ("GET", "/api/pool-status?poolId=adf-pool", None),
                (
                    "POST",
                    "/api/scale-down",
                    Some(r#"{"leaseId": "run-1", "waitSeconds": 1}"#),
                ),
                ("POST", "/api/scale-up", Some("{broken")),
            ] {
                let key = match key {
                    Key::Query => Key::Query,
                    _ => Key::Header,
                };
                let response = host.request(method, path, body, key).await;
                // The status URL carries the caller's own key back to it (ADF
                // polls it without headers): the one place it may appear.
                let mut body = response.body.clone();
                if let Some(url) = body.get_mut("statusUrl") {
                    *url = serde_json::Value::Null;
                }
                let mut headers = response.headers.clone();
                headers.remove("location");
                answers.push(format!("{headers:?} {body}"));
            }
        }
    }
    // A wrong key, so an authentication failure is logged too.
    let wrong_host = app
        .instance_with(|settings| {
            settings.insert("BATCH_ACCOUNT_KEY".into(), WRONG_KEY.into());
        })
        .await;
    answers.push(
        wrong_host
            .post("/api/scale-up", "{}")
            .await
            .body
            .to_string(),
    );

    let logs = [app.host.logs(), mi_host.logs(), wrong_host.logs()]
        .concat()
        .join("\n");
    let everything = format!("{logs}\n{}", answers.join("\n"));
    for (what, secret) in [
        ("account key", info.key.as_str()),
        ("wrong account key", WRONG_KEY),
        ("function key", FUNCTION_KEY),
        ("identity header", info.identity_header.as_str()),
        ("access token", "simtok."),
        ("Authorization header", "SharedKey devaccount:"),
    ] {
        assert!(!everything.contains(secret), "{what} leaked");
    }
    assert!(logs.contains("invocation{id="), "the logs were captured");
}
