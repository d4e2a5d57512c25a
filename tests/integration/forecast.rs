//! Nodes ready before the pipeline asks (issue 21): the reconcile timer
//! reads the pool's rhythm, and with `FORECAST_MODE=on` pre-warms ahead of an
//! arrival it expects, under a `forecast` floor lease that the pipeline
//! takes and that lapses when nobody comes; `forecast-only` says what it
//! would do and writes nothing. The simulator's event log is the witness.

use crate::helpers::app::{TIME_SCALE, TestApp, pools, spawn_app_with, writes};
use serde_json::{Value, json};
use std::time::Duration;

const POOL: &str = "p1";
/// Never: the schedule's own window stays closed, so only the forecast acts.
const NEW_YEAR: &str = "0 0 0 1 1 *";
const EVERY_SECOND: &str = "* * * * * *";

async fn spawn(mode: &str, grace_minutes: &str) -> TestApp {
    spawn_app_with(pools(&[POOL]), |settings, _| {
        for (name, value) in [
            ("BATCH_POOL_ID", POOL),
            ("SCALE_UP_SCHEDULE", NEW_YEAR),
            ("SCALE_DOWN_SCHEDULE", EVERY_SECOND),
            ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
            ("TIMER_WAIT_SECONDS", "60"),
            ("FORECAST_MODE", mode),
            ("FORECAST_GRACE_MINUTES", grace_minutes),
        ] {
            settings.insert(name.into(), value.into());
        }
    })
    .await
}

/// A schedule trigger three minutes from now, seen every day of the last
/// two weeks: the pool's rhythm as scale-ups would have recorded it.
async fn remember_a_daily_trigger(app: &TestApp) {
    remember_a_daily_trigger_on(app, POOL).await;
}

/// [`remember_a_daily_trigger`] on any pool.
pub(crate) async fn remember_a_daily_trigger_on(app: &TestApp, pool: &str) {
    let next = app.sim.now() + Duration::from_secs(3 * 60);
    let arrivals: Vec<Value> = (1..=14)
        .map(|days| {
            let at = next - time::Duration::days(days);
            json!([at.unix_timestamp().div_euclid(60), 1, 0])
        })
        .collect();
    let rhythm = json!({"a": arrivals, "b": [], "t": 0}).to_string();
    let patched = app
        .batch()
        .call(
            "PATCH",
            &format!("/pools/{pool}"),
            Some(json!({"metadata": [{"name": "pool-resizer-rhythm", "value": rhythm}]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
}

pub(crate) async fn reconcile(app: &TestApp) -> Vec<String> {
    let (status, answer) = app.host.fire("timer-reconcile").await;
    let logs: Vec<String> = answer["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(status, 200, "{logs:#?}");
    logs
}

pub(crate) fn says(logs: &[String], needle: &str) -> bool {
    logs.iter().any(|l| l.contains(needle))
}

async fn metadata(app: &TestApp) -> Vec<Value> {
    app.batch().pool(POOL).await["metadata"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn simulated(duration: Duration) {
    tokio::time::sleep(duration.div_f64(TIME_SCALE)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_only_says_what_it_would_do_and_writes_nothing() {
    let app = spawn("forecast-only", "15").await;
    remember_a_daily_trigger(&app).await;
    let before = writes(&app.sim);
    let logs = reconcile(&app).await;
    assert!(
        says(
            &logs,
            "forecast-only: would pre-warm 1 dedicated + 0 low-priority node(s)"
        ),
        "{logs:#?}"
    );
    assert!(says(&logs, "nothing written"), "{logs:#?}");
    assert!(says(&logs, "14 arrival(s) remembered"), "{logs:#?}");
    // How often trusting it would have been right: a trigger every day.
    assert!(
        says(&logs, "right 100 % of the times it would have warmed"),
        "{logs:#?}"
    );
    assert_eq!(writes(&app.sim), before, "forecast-only changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learned_rhythm_pre_warms_and_the_pipeline_takes_the_node() {
    let app = spawn("on", "15").await;
    remember_a_daily_trigger(&app).await;

    // Ahead of the arrival: a floor lease of its own and one resize.
    let logs = reconcile(&app).await;
    assert!(says(&logs, "pre-warm: 1 dedicated"), "{logs:#?}");
    assert_eq!(app.accepted("POST", "/resize"), 1, "{logs:#?}");
    let leases: Vec<Value> = metadata(&app)
        .await
        .into_iter()
        .filter(|m| m["name"] == "pool-resizer-lease:forecast")
        .collect();
    assert_eq!(leases.len(), 1, "the pre-warm's floor lease");
    // Another firing while it is held changes nothing.
    let again = reconcile(&app).await;
    assert!(says(&again, "pre-warm already held"), "{again:#?}");
    assert_eq!(app.accepted("POST", "/resize"), 1);

    // The pipeline comes: its node is there (or on its way), no new resize.
    let up = app
        .scale_up(r#"{"poolId": "p1", "leaseId": "run-9", "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["pool"]["targetDedicatedNodes"], 1, "{}", up.body);
    assert_eq!(
        app.accepted("POST", "/resize"),
        1,
        "the pipeline took the pre-warmed node"
    );
    // The service's own scale-up was no arrival; the pipeline's was.
    let rhythm = metadata(&app)
        .await
        .into_iter()
        .find(|m| m["name"] == "pool-resizer-rhythm")
        .map(|m| serde_json::from_str::<Value>(m["value"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(rhythm["a"].as_array().unwrap().len(), 15, "{rhythm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_warm_nobody_comes_for_lapses_and_its_node_goes() {
    let app = spawn("on", "1").await;
    remember_a_daily_trigger(&app).await;
    let logs = reconcile(&app).await;
    assert!(says(&logs, "pre-warm: 1 dedicated"), "{logs:#?}");
    // Past the expected arrival and its one-minute grace: nobody came.
    simulated(Duration::from_secs(12 * 60)).await;
    let later = reconcile(&app).await;
    assert!(says(&later, "pre-warm nobody came for"), "{later:#?}");
    assert!(
        !metadata(&app)
            .await
            .iter()
            .any(|m| m["name"] == "pool-resizer-lease:forecast"),
        "the lapsed lease is gone"
    );
    let pool = app.batch().pool(POOL).await;
    assert_eq!(pool["targetDedicatedNodes"], 0, "{pool}");
}
