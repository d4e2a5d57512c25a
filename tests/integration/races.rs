//! Races and hostile callers: pipelines that race each other, callers that
//! try to change leases they do not hold or to fill every lease slot, and a
//! handler stopped in the middle of a lease write or a status resume. The
//! simulator's event log is the witness.

use crate::helpers::app::{pools, spawn_app, spawn_app_with};
use crate::helpers::faults;
use crate::helpers::host::{FunctionsHost, HostResponse};
use batch_simulator::Simulator;
use pool_resizer::resizer::lease::{MAX_LEASES, fingerprint};
use std::time::Duration;

/// Two leased scale-ups at once (want 1, want 3): the larger one does not
/// stop the smaller one's grow, and neither reads the other's doing as its
/// own failure. Both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_scale_ups_both_succeed() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let small = app.host.post(
        "/api/scale-up",
        r#"{"leaseId": "run-small", "dedicatedNodes": 1, "waitSeconds": 200}"#,
    );
    let large = async {
        // The small one's resize is in flight when the large one looks.
        tokio::time::sleep(Duration::from_millis(20)).await;
        app.host
            .post(
                "/api/scale-up",
                r#"{"leaseId": "run-large", "dedicatedNodes": 3, "waitSeconds": 200}"#,
            )
            .await
    };
    let (small, large) = tokio::join!(small, large);
    let (small, large) = tokio::join!(app.host.until_final(small), app.host.until_final(large));
    assert_eq!(small.status, 200, "{}", small.body);
    assert_eq!(large.status, 200, "{}", large.body);
    assert!(large.body["pool"]["readyDedicatedNodes"].as_u64().unwrap() >= 3);
    let log: Vec<String> = app
        .sim
        .events()
        .iter()
        .map(|e| format!("{:?}", e.kind))
        .filter(|k| !k.contains("method: \"GET\""))
        .collect();
    assert_eq!(
        app.accepted("POST", "/stopresize"),
        0,
        "nobody stopped a grow that was heading their way: {log:#?}\n{}\n{}",
        small.body,
        large.body
    );
}

/// Lease ids are bearer secrets: never shown, and a caller that does not
/// know one cannot release it; the service's own ids cannot be named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_leases_holder_can_change_it() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let secret = "4f1c2d9e-7a51-4c55-9d0e-1b8cf00d2a77";
    let up = app
        .scale_up(&format!(
            r#"{{"leaseId": "{secret}", "dedicatedNodes": 1, "waitSeconds": 200}}"#
        ))
        .await;
    assert_eq!(up.status, 200, "{}", up.body);

    let look = app.pool_status("adf-pool").await;
    assert!(!look.body.to_string().contains(secret), "{}", look.body);
    assert_eq!(
        look.body["pool"]["leases"][0]["holder"],
        fingerprint(&secret.parse().unwrap()).as_str()
    );

    // Someone else, guessing: their release changes nothing, their plain
    // scale-down keeps the holder's node.
    let other = app
        .scale_down(r#"{"leaseId": "sha256-guess", "waitSeconds": 200}"#)
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(other.body["pool"]["targetDedicatedNodes"], 1);
    assert_eq!(other.body["pool"]["leases"].as_array().unwrap().len(), 1);
    for reserved in ["schedule", "overflow"] {
        let refused = app
            .host
            .post(
                "/api/scale-down",
                &format!(r#"{{"leaseId": "{reserved}"}}"#),
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
    }
}

/// Filling the lease slots cannot lock a pool: zero-node leases take none,
/// and past the limit new leases merge into one overflow entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_slots_cannot_be_exhausted() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    for i in 0..MAX_LEASES {
        let zero = app
            .host
            .post(
                "/api/scale-up",
                &format!(
                    r#"{{"leaseId": "zero-{i}", "dedicatedNodes": 0, "leaseMinutes": 10080}}"#
                ),
            )
            .await;
        assert_eq!(zero.status, 200, "{}", zero.body);
    }
    let look = app.pool_status("adf-pool").await;
    assert_eq!(look.body["pool"]["leases"], serde_json::json!([]));

    for i in 0..=MAX_LEASES {
        let one = app
            .scale_up(&format!(
                r#"{{"leaseId": "run-{i}", "dedicatedNodes": 1, "leaseMinutes": 10080, "waitSeconds": 200}}"#
            ))
            .await;
        assert_eq!(one.status, 200, "lease {i}: {}", one.body);
    }
    let leases = app.pool_status("adf-pool").await.body["pool"]["leases"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(leases.len(), MAX_LEASES + 1, "{leases:?}");
    assert!(leases.iter().any(|l| l["holder"] == "overflow"));
}

/// SIGTERM while the lease write hangs, and while a status URL resumes:
/// each open request gets 202 + `Location`, and a new instance's poll of
/// that URL finishes the job, lease included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_lease_write_or_a_resume_answers_202() {
    // As in Azure: the status URL names the app, not an instance, so a new
    // instance can answer it.
    let mut app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("WEBSITE_HOSTNAME".into(), "myapp.azurewebsites.net".into());
    })
    .await;

    app.inject(faults::latency(1500, Some("PATCH"), "/pools/adf-pool", 1));
    let up = sigterm_during(
        &app.host,
        app.host.post(
            "/api/scale-up",
            r#"{"leaseId": "run-term", "dedicatedNodes": 1, "waitSeconds": 200}"#,
        ),
    )
    .await;
    assert_eq!(up.status, 202, "{}", up.body);
    let location = up.header("location").unwrap().to_owned();
    // The lease travels sealed inside the token, never in the clear.
    assert!(
        location.contains("/api/operation-status?token=") && !location.contains("run-term"),
        "{location}"
    );
    app.host.wait_exit().await;

    // A new instance; its status resume is interrupted too.
    let mut host = app.instance().await;
    app.inject(faults::latency(1500, Some("GET"), "/pools/adf-pool", 1));
    let poll = sigterm_during(&host, host.follow(&location)).await;
    assert_eq!(poll.status, 202, "{}", poll.body);
    host.wait_exit().await;

    let host = app.instance().await;
    let done = host.until_final(host.follow(&location).await).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        done.body["pool"]["leases"][0]["holder"],
        fingerprint(&"run-term".parse().unwrap()).as_str(),
        "the lease is held in the end: {}",
        done.body
    );
}

/// `request`'s answer, with SIGTERM sent to `host` half a second into it.
async fn sigterm_during(
    host: &FunctionsHost,
    request: impl Future<Output = HostResponse>,
) -> HostResponse {
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        host.sigterm();
    };
    tokio::join!(request, stop).0
}

/// Batch load does not grow with callers: 200 pipelines waiting on one
/// pool in one instance cost a small multiple of what one pipeline costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_waits_share_their_batch_calls() {
    let calls = |sim: &Simulator| {
        sim.events()
            .iter()
            .filter(|e| matches!(&e.kind, batch_simulator::EventKind::Request { path, .. } if path.starts_with("/pools/adf-pool")))
            .count()
    };
    let body = r#"{"dedicatedNodes": 1, "waitSeconds": 200}"#;

    let alone = spawn_app(pools(&["adf-pool"])).await;
    assert_eq!(alone.scale_up(body).await.status, 200);
    let one = calls(&alone.sim);

    let crowd = spawn_app(pools(&["adf-pool"])).await;
    const CALLERS: usize = 200;
    let answers =
        futures::future::join_all((0..CALLERS).map(|_| crowd.host.post("/api/scale-up", body)))
            .await;
    let finals =
        futures::future::join_all(answers.into_iter().map(|a| crowd.host.until_final(a))).await;
    assert!(finals.iter().all(|f| f.status == 200));
    let many = calls(&crowd.sim);
    eprintln!("Batch calls: 1 caller {one}, {CALLERS} callers {many}");
    assert!(
        many <= 4 * one,
        "{CALLERS} callers made {many} Batch calls, one caller {one}"
    );
}
