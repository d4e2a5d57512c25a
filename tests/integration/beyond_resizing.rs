//! What pool-resizer does beyond resizing, checked in the simulator's event
//! log: keep-warm for back-to-back pipelines, the operator's pause switch,
//! the backoff after an allocation failure, the Spot fallback to dedicated
//! nodes, and letting go of warmth and leases that expired.

use crate::helpers::app::{TIME_SCALE, TestApp, pools, spawn_app, spawn_app_with};
use crate::helpers::faults;
use batch_simulator::SimulatorConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// Sleeps `simulated` on the test's time scale.
async fn simulated(simulated: Duration) {
    tokio::time::sleep(simulated.div_f64(TIME_SCALE)).await;
}

/// A second pipeline 3 simulated minutes after the first one's scale-down
/// finds ready nodes with no new allocation; after the grace the next
/// scale-down empties the pool; no running task is ever killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_warm_serves_the_next_pipeline_then_lets_go() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let up = app
        .scale_up(r#"{"leaseId": "run-a", "waitSeconds": 180}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);

    let down = app
        .host
        .post(
            "/api/scale-down",
            r#"{"leaseId": "run-a", "keepWarmMinutes": 10, "waitSeconds": 180}"#,
        )
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    let warm = &down.body["pool"]["keptWarm"];
    assert_eq!(warm["holder"], "warm", "{}", down.body);
    assert_eq!(warm["dedicated"], 1);
    assert_eq!(down.body["pool"]["readyDedicatedNodes"], 1);
    let resizes = app.accepted("POST", "/resize");

    simulated(Duration::from_secs(180)).await;
    let next = app
        .host
        .post(
            "/api/scale-up",
            r#"{"leaseId": "run-b", "waitSeconds": 180}"#,
        )
        .await;
    assert_eq!(next.status, 200, "ready at once: {}", next.body);
    assert_eq!(next.body["actions"], json!([]));
    assert_eq!(
        app.accepted("POST", "/resize"),
        resizes,
        "no new allocation"
    );

    // Past the grace, run-b's plain release empties the pool.
    simulated(Duration::from_secs(10 * 60)).await;
    let last = app
        .scale_down(r#"{"leaseId": "run-b", "waitSeconds": 180}"#)
        .await;
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(last.body["pool"]["currentDedicatedNodes"], 0);
    assert_eq!(last.body["pool"]["keptWarm"], Value::Null);
    assert!(app.killed_tasks().is_empty(), "{:?}", app.killed_tasks());
}

/// An operator's pause: no route resizes the pool, every answer says who
/// and since when, and unpausing lets the same request through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pool_is_left_alone_until_unpaused() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let paused = app
        .host
        .post(
            "/api/pause",
            r#"{"poolId": "adf-pool", "by": "ops on call", "reason": "image upgrade"}"#,
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["pool"]["paused"]["by"], "ops on call");

    let up = app
        .host
        .post("/api/scale-up", r#"{"waitSeconds": 180}"#)
        .await;
    assert_eq!(up.status, 409, "{}", up.body);
    assert_eq!(up.body["error"]["code"], "PoolPaused");
    let message = up.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ops on call") && message.contains("image upgrade"),
        "{message}"
    );
    assert_eq!(app.accepted("POST", "/resize"), 0);

    let unpaused = app
        .host
        .post("/api/unpause", r#"{"poolId": "adf-pool"}"#)
        .await;
    assert_eq!(unpaused.status, 200, "{}", unpaused.body);
    assert_eq!(unpaused.body["pool"]["paused"], Value::Null);
    let up = app.scale_up(r#"{"waitSeconds": 180}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
}

/// A pool whose account has one dedicated core: asking for three nodes
/// fails with Batch's quota error.
async fn short_of_quota() -> TestApp {
    spawn_app(SimulatorConfig {
        dedicated_core_quota: 1,
        ..pools(&["adf-pool"])
    })
    .await
}

/// What the pool can give still succeeds, and clears the backoff.
async fn one_node_clears_the_backoff(app: &TestApp, wait_seconds: u32) {
    let one = app
        .scale_up(&format!(
            r#"{{"dedicatedNodes": 1, "waitSeconds": {wait_seconds}}}"#
        ))
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    let look = app.pool_status("adf-pool").await;
    assert_eq!(look.body["pool"]["backoff"], Value::Null, "{}", look.body);
}

/// After a quota failure the next scale-up that would ask again fails at
/// once with the recorded error and when the backoff ends; a success
/// clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_failure_backs_off_instead_of_asking_again() {
    let app = short_of_quota().await;
    let three = r#"{"dedicatedNodes": 3, "waitSeconds": 180}"#;
    let first = app.scale_up(three).await;
    assert_eq!(first.status, 409, "{}", first.body);
    assert_eq!(first.body["error"]["batchCode"], "AccountCoreQuotaReached");
    assert_eq!(
        first.body["pool"]["backoff"]["minutes"], 5,
        "{}",
        first.body
    );
    let resizes = app.accepted("POST", "/resize");

    let again = app.scale_up(three).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["error"]["code"], "BackingOff");
    assert_eq!(again.body["error"]["batchCode"], "AccountCoreQuotaReached");
    assert_eq!(again.body["pool"]["backoff"]["minutes"], 5);
    assert_eq!(app.accepted("POST", "/resize"), resizes, "not asked again");

    one_node_clears_the_backoff(&app, 180).await;
}

/// The same, when every call outlives its inline wait and ends on ADF's
/// poll of the status URL: the poll that sees the quota failure starts the
/// backoff, and the poll that sees success clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_scale_up_records_and_clears_the_backoff() {
    let app = short_of_quota().await;
    let first = app
        .host
        .post(
            "/api/scale-up",
            r#"{"dedicatedNodes": 3, "waitSeconds": 0}"#,
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    let first = app.host.until_final(first).await;
    assert_eq!(first.status, 409, "{}", first.body);
    assert_eq!(
        first.body["pool"]["backoff"]["minutes"], 5,
        "{}",
        first.body
    );

    one_node_clears_the_backoff(&app, 0).await;
}

/// A pool whose account has no spot cores: spot nodes never come.
async fn no_spot_quota() -> TestApp {
    spawn_app(SimulatorConfig {
        low_priority_core_quota: 0,
        ..pools(&["adf-pool"])
    })
    .await
}

/// Spot capacity that never comes: with `fallbackToDedicated`, dedicated
/// nodes make up the difference and the call succeeds; the resize action
/// says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_nodes_that_cannot_come_fall_back_to_dedicated() {
    let app = no_spot_quota().await;
    let up = app
        .host
        .post(
            "/api/scale-up",
            r#"{"dedicatedNodes": 0, "lowPriorityNodes": 2, "fallbackToDedicated": true, "waitSeconds": 180}"#,
        )
        .await;
    let mut actions = up.body["actions"].as_array().cloned().unwrap_or_default();
    let up = app.host.until_final(up).await;
    actions.extend(up.body["actions"].as_array().cloned().unwrap_or_default());
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["pool"]["readyDedicatedNodes"], 2, "{}", up.body);
    assert!(
        actions
            .iter()
            .any(|a| a["targetDedicatedNodes"] == 2 && a["targetLowPriorityNodes"] == 0),
        "the fallback resize shows: {actions:?}"
    );

    // Without the fallback the same request fails with Batch's quota error.
    let app = no_spot_quota().await;
    let up = app
        .scale_up(r#"{"dedicatedNodes": 0, "lowPriorityNodes": 2, "waitSeconds": 180}"#)
        .await;
    assert_eq!(up.status, 409, "{}", up.body);
}

/// Spot nodes Azure takes back (preempted) are made up with dedicated ones
/// on the next scale-up with the fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preempted_spot_nodes_are_made_up_with_dedicated_ones() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let body = r#"{"dedicatedNodes": 0, "lowPriorityNodes": 1, "fallbackToDedicated": true, "waitSeconds": 180}"#;
    let up = app.scale_up(body).await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["pool"]["readyLowPriorityNodes"], 1, "{}", up.body);

    app.inject(faults::node_state("adf-pool", "preempted"));
    let again = app.scale_up(body).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.body["pool"]["readyDedicatedNodes"], 1,
        "{}",
        again.body
    );
    assert_eq!(
        again.body["pool"]["nodesByState"]["preempted"], 1,
        "{}",
        again.body
    );
}

/// An app whose schedule window is closed all year but a minute on
/// 1 January: its reconcile firings only look, and let lapsed leases go.
async fn outside_the_window() -> TestApp {
    spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("SCALE_UP_SCHEDULE".into(), "0 0 0 1 1 *".into());
        settings.insert("SCALE_DOWN_SCHEDULE".into(), "0 1 0 1 1 *".into());
    })
    .await
}

/// Keep-warm's grace ends with nobody calling: the next reconcile firing
/// lets the warm node go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_timer_releases_expired_warmth() {
    let app = outside_the_window().await;
    let up = app.scale_up(r#"{"waitSeconds": 180}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
    let down = app
        .host
        .post(
            "/api/scale-down",
            r#"{"keepWarmMinutes": 1, "waitSeconds": 180}"#,
        )
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["targetDedicatedNodes"], 1);

    simulated(Duration::from_secs(120)).await;
    let (status, answer) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["Logs"].to_string().contains("keep-warm grace over"),
        "{answer}"
    );
    let look = app.pool_status("adf-pool").await;
    assert_eq!(
        look.body["pool"]["targetDedicatedNodes"], 0,
        "{}",
        look.body
    );
    assert_eq!(look.body["pool"]["keptWarm"], Value::Null);
}

/// A pipeline that failed before its scale-down: its lease expires, and the
/// next reconcile firing lets its node go, so an expired lease bounds the
/// bill instead of holding the node until someone scales down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_whose_pipeline_never_scaled_down_is_let_go() {
    let app = outside_the_window().await;
    let up = app
        .scale_up(r#"{"leaseId": "run-failed", "leaseMinutes": 1, "waitSeconds": 180}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);

    // While the lease lives, the reconcile leaves the pool alone.
    let (status, answer) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        app.pool_status("adf-pool").await.body["pool"]["targetDedicatedNodes"],
        1
    );

    simulated(Duration::from_secs(120)).await;
    let (status, answer) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["Logs"]
            .to_string()
            .contains("a lease whose pipeline never scaled down over"),
        "{answer}"
    );
    let look = app.pool_status("adf-pool").await;
    assert_eq!(
        look.body["pool"]["targetDedicatedNodes"], 0,
        "{}",
        look.body
    );
    assert_eq!(look.body["pool"]["leases"], serde_json::json!([]));
}

/// Writes a rhythm into the pool's metadata: scale-downs each followed by an
/// arrival `gap_minutes` later, the last an hour ago, and 5-minute boots.
async fn remember_gaps(app: &TestApp, pool: &str, gap_minutes: i64) {
    let now = app.sim.now().unix_timestamp().div_euclid(60);
    let departures: Vec<i64> = (0..8).map(|k| now - 60 - k * 120).collect();
    let arrivals: Vec<Value> = departures
        .iter()
        .rev()
        .map(|left| json!([left + gap_minutes, 1, 0]))
        .collect();
    let rhythm = json!({"a": arrivals, "b": [300, 300, 300], "t": 0, "d": departures.iter().rev().collect::<Vec<_>>()});
    let patched = app
        .batch()
        .call(
            "PATCH",
            &format!("/pools/{pool}"),
            Some(
                json!({"metadata": [{"name": "pool-resizer-rhythm", "value": rhythm.to_string()}]}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
}

/// The departures the pool's rhythm holds.
async fn departures(app: &TestApp, pool: &str) -> usize {
    let metadata = app.batch().pool(pool).await["metadata"].clone();
    let rhythm = metadata
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["name"] == "pool-resizer-rhythm")
        .map(|item| serde_json::from_str::<Value>(item["value"].as_str().unwrap()).unwrap())
        .unwrap_or(Value::Null);
    rhythm["d"].as_array().map_or(0, Vec::len)
}

/// `keepWarmMinutes=auto` keeps nodes only where the pool's gaps say it pays:
/// pipelines that came back within two minutes of a scale-down (shorter than
/// a boot) get a warm node; pipelines half an hour apart, none. Every
/// leased scale-down is remembered as a departure either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_keep_warm_keeps_nodes_only_where_the_gaps_pay() {
    for (gap, kept) in [(2, true), (45, false)] {
        let app = spawn_app(pools(&["adf-pool"])).await;
        remember_gaps(&app, "adf-pool", gap).await;
        let up = app
            .scale_up(r#"{"leaseId": "run-a", "waitSeconds": 180}"#)
            .await;
        assert_eq!(up.status, 200, "{}", up.body);
        let before = departures(&app, "adf-pool").await;
        let down = app
            .scale_down(r#"{"leaseId": "run-a", "keepWarmMinutes": "auto", "waitSeconds": 180}"#)
            .await;
        assert_eq!(down.status, 200, "{}", down.body);
        assert_eq!(down.body["requested"]["keepWarmMinutes"], "auto");
        let warm = &down.body["pool"]["keptWarm"];
        if kept {
            assert_eq!(warm["holder"], "warm", "gaps of {gap} min: {}", down.body);
            assert_eq!(warm["dedicated"], 1);
        } else {
            assert_eq!(*warm, Value::Null, "gaps of {gap} min: {}", down.body);
            assert_eq!(down.body["pool"]["targetDedicatedNodes"], 0);
        }
        assert_eq!(departures(&app, "adf-pool").await, before + 1);
    }
}
