//! Forecast modes per pool (`FORECAST_POOLS`, issue 21): the reconcile
//! firing, after the schedule's pool, visits every other pool the setting
//! names in that pool's mode, and every pool `ALLOWED_POOLS` lists for its
//! lapsed leases. The simulator's event log witnesses what each mode
//! wrote, pool by pool.

use crate::forecast::{reconcile, remember_a_daily_trigger_on, says};
use crate::helpers::app::{TestApp, pools, spawn_app_with, writes};
use serde_json::{Value, json};

/// Never: the schedule's own window stays closed, so only forecasts act.
const NEW_YEAR: &str = "0 0 0 1 1 *";
const EVERY_SECOND: &str = "* * * * * *";

/// `p1` is the schedule's pool; `settings` are added to (or, empty, remove)
/// the timers' usual settings.
async fn spawn(settings: &[(&str, &str)]) -> TestApp {
    spawn_app_with(pools(&["p1", "p2", "p3"]), |all, _| {
        for (name, value) in [
            ("BATCH_POOL_ID", "p1"),
            ("SCALE_UP_SCHEDULE", NEW_YEAR),
            ("SCALE_DOWN_SCHEDULE", EVERY_SECOND),
            ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
            ("TIMER_WAIT_SECONDS", "60"),
            ("FORECAST_GRACE_MINUTES", "15"),
        ]
        .iter()
        .chain(settings)
        {
            if value.is_empty() {
                all.remove(*name);
            } else {
                all.insert((*name).into(), (*value).into());
            }
        }
    })
    .await
}

/// The Batch writes on one pool, in order.
fn writes_on(app: &TestApp, pool: &str) -> Vec<String> {
    let path = format!("/pools/{pool}");
    writes(&app.sim)
        .into_iter()
        .filter(|w| w.ends_with(&path) || w.contains(&format!("{path}/")))
        .collect()
}

async fn has_forecast_lease(app: &TestApp, pool: &str) -> bool {
    app.batch().pool(pool).await["metadata"]
        .as_array()
        .is_some_and(|m| {
            m.iter()
                .any(|m: &Value| m["name"] == "pool-resizer-lease:forecast")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pool_is_forecast_in_its_own_mode() {
    let app = spawn(&[
        ("FORECAST_MODE", "off"),
        ("FORECAST_POOLS", "p2=ON, p3=forecast-only"),
    ])
    .await;
    for pool in ["p1", "p2", "p3"] {
        remember_a_daily_trigger_on(&app, pool).await;
    }
    let before = (writes_on(&app, "p1"), writes_on(&app, "p3"));
    let logs = reconcile(&app).await;

    assert!(says(&logs, "p2: pre-warm: 1 dedicated"), "{logs:#?}");
    assert!(has_forecast_lease(&app, "p2").await, "p2 pre-warmed");
    assert_eq!(app.accepted("POST", "/pools/p2/resize"), 1, "{logs:#?}");
    assert!(
        says(&logs, "p3: forecast-only: would pre-warm 1 dedicated"),
        "{logs:#?}"
    );
    assert_eq!(
        writes_on(&app, "p3"),
        before.1,
        "forecast-only wrote nothing"
    );
    assert!(!has_forecast_lease(&app, "p3").await);
    // The schedule's pool keeps FORECAST_MODE (off): no forecast at all.
    assert_eq!(writes_on(&app, "p1"), before.0, "p1 untouched");
    assert!(
        !logs
            .iter()
            .any(|l| l.starts_with("forecast") || l.starts_with("p1: ")),
        "{logs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_named_in_forecast_pools_takes_its_mode_there() {
    let app = spawn(&[
        ("FORECAST_MODE", "on"),
        ("FORECAST_POOLS", "p1=forecast-only"),
    ])
    .await;
    remember_a_daily_trigger_on(&app, "p1").await;
    let before = writes_on(&app, "p1");
    let logs = reconcile(&app).await;
    assert!(says(&logs, "forecast-only: would pre-warm"), "{logs:#?}");
    assert_eq!(writes_on(&app, "p1"), before, "{logs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_forecast_pool_neither_stops_the_others_nor_fails_the_firing() {
    let app = spawn(&[("FORECAST_POOLS", "ghost=on,p2=on")]).await;
    remember_a_daily_trigger_on(&app, "p2").await;
    // `reconcile` asserts the 200.
    let logs = reconcile(&app).await;
    assert!(says(&logs, "ghost: FAILED: PoolNotFound"), "{logs:#?}");
    assert!(says(&logs, "p2: pre-warm: 1 dedicated"), "{logs:#?}");
    assert!(has_forecast_lease(&app, "p2").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_window_the_reconcile_pre_warms_the_forecast_pools_alone() {
    let app = spawn(&[
        ("BATCH_POOL_ID", ""),
        ("SCALE_UP_SCHEDULE", ""),
        ("SCALE_DOWN_SCHEDULE", ""),
        ("FORECAST_POOLS", "p2=on"),
    ])
    .await;
    remember_a_daily_trigger_on(&app, "p2").await;
    let logs = reconcile(&app).await;
    assert!(says(&logs, "no window is configured"), "{logs:#?}");
    assert!(says(&logs, "p2: pre-warm: 1 dedicated"), "{logs:#?}");
    assert!(has_forecast_lease(&app, "p2").await);
    assert!(writes_on(&app, "p1").is_empty(), "no schedule, no p1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_pre_warm_on_a_forecast_pool_is_let_go_by_its_visit() {
    let app = spawn(&[("FORECAST_POOLS", "p2=on")]).await;
    // A pre-warm nobody came for, an hour past its expiry, and its node.
    let expired = (app.sim.now() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let lease = json!({"dedicated": 1, "lowPriority": 0, "expires": expired}).to_string();
    let batch = app.batch();
    let patched = batch
        .call(
            "PATCH",
            "/pools/p2",
            Some(json!({"metadata": [{"name": "pool-resizer-lease:forecast", "value": lease}]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let resized = batch
        .call(
            "POST",
            "/pools/p2/resize",
            Some(json!({"targetDedicatedNodes": 1, "targetLowPriorityNodes": 0})),
        )
        .await;
    assert_eq!(resized.status, 202, "{}", resized.body);

    let logs = reconcile(&app).await;
    assert!(
        says(&logs, "p2: a pre-warm nobody came for over"),
        "{logs:#?}"
    );
    assert!(
        !has_forecast_lease(&app, "p2").await,
        "the lapsed lease is gone"
    );
    let pool = batch.pool("p2").await;
    assert_eq!(pool["targetDedicatedNodes"], 0, "{pool}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_past_the_firings_budget_are_named_and_left_to_the_next() {
    let app = spawn(&[
        ("FORECAST_POOLS", "p2=on,p3=forecast-only"),
        ("TIMER_WAIT_SECONDS", "0"),
    ])
    .await;
    let before = (writes_on(&app, "p2"), writes_on(&app, "p3"));
    let logs = reconcile(&app).await;
    assert!(
        says(
            &logs,
            "pools not visited, the firing's 0 s (TIMER_WAIT_SECONDS) being spent: p2, p3"
        ),
        "{logs:#?}"
    );
    assert_eq!((writes_on(&app, "p2"), writes_on(&app, "p3")), before);
}

/// A pipeline on a pool no window and no forecast names fails before its
/// scale-down: the reconcile still visits the pool, because `ALLOWED_POOLS`
/// lists it, and lets the expired lease's node go. Pools named nowhere are
/// not visited (`*` names none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_lets_lapsed_leases_go_on_every_pool_allowed_by_name() {
    let app = spawn(&[("ALLOWED_POOLS", "p1,p2")]).await;
    let up = app
        .scale_up(
            r#"{"poolId": "p2", "leaseId": "run-failed", "leaseMinutes": 1, "waitSeconds": 200}"#,
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    tokio::time::sleep(
        std::time::Duration::from_secs(120).div_f64(crate::helpers::app::TIME_SCALE),
    )
    .await;
    let logs = reconcile(&app).await;
    assert!(
        says(&logs, "p2: a lease whose pipeline never scaled down over"),
        "{logs:#?}"
    );
    assert!(!logs.iter().any(|line| line.starts_with("p3")), "{logs:#?}");
    assert_eq!(
        app.batch().pool("p2").await["targetDedicatedNodes"],
        0,
        "the node goes"
    );
}
