//! Timer functions end to end: the host stand-in posts real-shaped timer
//! invocations to the handler, which drives the in-process Batch simulator.
//!
//! "Now" is the real clock, so the tests pick schedules whose window is open
//! (or closed) whatever the time: up every second and down once a year on
//! 1 January at midnight, or the reverse.

#[path = "simulator_support/mod.rs"]
mod simulator_support;
mod support;

use batch_simulator::{EventKind, Simulator, SimulatorConfig};
use pool_resizer::schedule::Schedule;
use serde_json::{Value, json};
use simulator_support::{Client, all_in, sim_with, steady};
use std::collections::HashMap;
use support::host::{AppManifest, FunctionsHost, timer_payload};

const SCALE: f64 = 300.0;
const EVERY_SECOND: &str = "* * * * * *";
const NEW_YEAR: &str = "0 0 0 1 1 *";

enum Window {
    Open,
    Closed,
}

async fn simulator(pools: &[&str]) -> (Simulator, Client) {
    sim_with(SimulatorConfig {
        time_scale: SCALE,
        pools: pools.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    })
    .await
}

fn settings(sim: &Simulator, window: Window) -> HashMap<String, String> {
    let info = sim.ready_info();
    let ca = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("timers-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let (up, down) = match window {
        Window::Open => (EVERY_SECOND, NEW_YEAR),
        Window::Closed => (NEW_YEAR, EVERY_SECOND),
    };
    [
        ("BATCH_ACCOUNT_URL", info.endpoint.as_str()),
        ("BATCH_POOL_ID", "p1"),
        ("BATCH_ACCOUNT_NAME", info.account.as_str()),
        ("BATCH_ACCOUNT_KEY", info.key.as_str()),
        ("BATCH_CA_FILE", ca.to_str().unwrap()),
        ("POOL_RESIZER_TIME_SCALE", "300"),
        ("SCALE_UP_SCHEDULE", up),
        ("SCALE_DOWN_SCHEDULE", down),
        ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
        ("SCHEDULE_DEDICATED_NODES", "1"),
        // 15 simulated minutes = 3 real seconds: room for a node to boot.
        ("TIMER_WAIT_SECONDS", "900"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Invokes a timer function and checks what every answer must be: JSON
/// object with `Outputs`, `Logs`, `ReturnValue`, as `application/json`.
async fn fire(host: &FunctionsHost, function: &str, payload: &Value) -> (u16, Vec<String>) {
    let (status, content_type, body) = host.invoke(function, payload).await;
    check_shape(status, content_type.as_deref(), &body);
    let logs = body["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (status, logs)
}

fn check_shape(status: u16, content_type: Option<&str>, body: &Value) {
    assert!(
        content_type.is_some_and(|c| c.starts_with("application/json")),
        "{status}: content type {content_type:?}"
    );
    assert_eq!(body["Outputs"], json!({}), "{body}");
    assert!(body["ReturnValue"].is_null(), "{body}");
    let logs = body["Logs"].as_array().expect("Logs array");
    assert!(
        !logs.is_empty() && logs.iter().all(Value::is_string),
        "{body}"
    );
}

fn has(logs: &[String], needle: &str) -> bool {
    logs.iter().any(|l| l.contains(needle))
}

fn resizes(sim: &Simulator) -> usize {
    sim.events()
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Request { method, path, status, .. }
                if method == "POST" && path.ends_with("/resize") && *status == 202)
        })
        .count()
}

fn no_running_task_was_killed(sim: &Simulator) {
    for e in sim.events() {
        if let EventKind::Task { from, reason, .. } = &e.kind {
            assert!(
                !(from == "running" && reason != "completed"),
                "task killed: {e:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_window_brings_a_ready_node_and_repeats_change_nothing() {
    let (sim, client) = simulator(&["p1"]).await;
    let host = FunctionsHost::start(&settings(&sim, Window::Open)).await;

    let payload = timer_payload(
        "timer-scale-up",
        false,
        Some(("2025-03-03T06:00:00+00:00", "2025-03-04T06:00:00+00:00")),
    );
    let (status, logs) = fire(&host, "timer-scale-up", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "timer-scale-up fired: on schedule"), "{logs:#?}");
    assert!(has(&logs, ": open since"), "{logs:#?}");
    assert!(
        has(&logs, "resize to 1 dedicated + 0 low-priority accepted"),
        "{logs:#?}"
    );
    assert!(has(&logs, "done after"), "{logs:#?}");
    let pool = client.pool("p1").await;
    assert_eq!(pool["targetDedicatedNodes"], 1);
    let nodes = client.nodes("p1").await;
    assert!(all_in(&nodes, "idle", 1), "{nodes:?}");
    assert_eq!(resizes(&sim), 1);

    // Repeated, past due, unmonitored, with fields we do not know, any timer,
    // keys in another case: the window is open, the pool is right, nothing to do.
    let mut odd = timer_payload("timer-scale-up", true, None);
    odd["Data"]["timer"]["FutureField"] = json!({"x": [1, 2]});
    odd["Metadata"]["sys"]["Extra"] = json!("y");
    odd["Unknown"] = json!(42);
    let lower =
        json!({"data": {"timer": {"isPastDue": true, "scheduleStatus": null}}, "metadata": {}});
    for (function, payload) in [
        ("timer-scale-up", &odd),
        ("timer-scale-up", &lower),
        ("timer-reconcile", &payload),
        ("timer-scale-down", &odd),
    ] {
        let (status, logs) = fire(&host, function, payload).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert!(has(&logs, "no resize needed"), "{function}: {logs:#?}");
        assert!(has(&logs, "ready 1 dedicated"), "{function}: {logs:#?}");
    }
    let (_, logs) = fire(&host, "timer-scale-up", &odd).await;
    assert!(has(&logs, "past due"), "{logs:#?}");
    assert!(
        has(&logs, "ScheduleStatus null (useMonitor off)"),
        "{logs:#?}"
    );
    assert_eq!(resizes(&sim), 1, "repeated firings issue no second resize");

    host.terminate().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_window_only_the_end_firing_releases_and_running_tasks_finish() {
    let (sim, client) = simulator(&["p1"]).await;
    // A pipeline scaled the pool up outside the window and runs a task.
    let r = client
        .call(
            "POST",
            "/pools/p1/resize",
            Some(json!({"targetDedicatedNodes": 1})),
        )
        .await;
    assert_eq!(r.status, 202);
    client
        .wait_nodes("p1", "1 idle", |n| all_in(n, "idle", 1))
        .await;
    client.wait_pool("p1", "steady", steady).await;
    let job = json!({"id": "j", "poolInfo": {"poolId": "p1"}});
    assert_eq!(client.call("POST", "/jobs", Some(job)).await.status, 201);
    let task = json!({"id": "t", "commandLine": "/bin/bash -c 'sleep 240'"});
    assert_eq!(
        client
            .call("POST", "/jobs/j/tasks", Some(task))
            .await
            .status,
        201
    );
    let before = resizes(&sim);

    let host = FunctionsHost::start(&settings(&sim, Window::Closed)).await;
    // The reconcile and a late up-firing leave a closed window's pool alone.
    for function in ["timer-reconcile", "timer-scale-up"] {
        let payload = timer_payload(function, true, None);
        let (status, logs) = fire(&host, function, &payload).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert!(has(&logs, ": closed since"), "{logs:#?}");
        assert!(has(&logs, "leaving pool 'p1' as it is"), "{logs:#?}");
        assert!(has(&logs, "target 1 dedicated"), "{logs:#?}");
    }
    assert_eq!(resizes(&sim), before, "nothing shrank the pool");
    let t = client.call("GET", "/jobs/j/tasks/t", None).await;
    assert_eq!(t.body["state"], "running");

    // The end firing releases the node, but only once its task is done.
    let payload = timer_payload("timer-scale-down", false, None);
    let (status, logs) = fire(&host, "timer-scale-down", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "with taskcompletion"), "{logs:#?}");
    assert!(
        has(
            &logs,
            "resize to 0 dedicated + 0 low-priority (taskcompletion) accepted"
        ),
        "{logs:#?}"
    );
    assert!(has(&logs, "done after"), "{logs:#?}");
    let pool = client.pool("p1").await;
    assert_eq!(pool["currentDedicatedNodes"], 0, "{pool}");
    let t = client.call("GET", "/jobs/j/tasks/t", None).await;
    assert_eq!(t.body["state"], "completed");
    assert_eq!(t.body["executionInfo"]["exitCode"], 0);
    no_running_task_was_killed(&sim);
    assert_eq!(resizes(&sim), before + 1);

    // Fired again (past due): already there.
    let payload = timer_payload("timer-scale-down", true, None);
    let (status, logs) = fire(&host, "timer-scale-down", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "no resize needed"), "{logs:#?}");
    assert_eq!(resizes(&sim), before + 1);

    host.terminate().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_cannot_be_kept_fails_the_invocation_with_json_logs() {
    let (sim, _client) = simulator(&[]).await;
    let host = FunctionsHost::start(&settings(&sim, Window::Open)).await;
    let payload = timer_payload("timer-scale-up", false, None);
    let (status, logs) = fire(&host, "timer-scale-up", &payload).await;
    assert_eq!(status, 500, "{logs:#?}");
    assert!(has(&logs, "FAILED: PoolNotFound"), "{logs:#?}");
    assert!(
        host.logs()
            .iter()
            .any(|l| l.starts_with("[stderr]") && l.contains("PoolNotFound")),
        "the failure reaches stderr, since the host drops non-2xx bodies"
    );
    host.terminate().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_converging_at_the_end_of_the_wait_is_logged_not_failed() {
    let (sim, client) = simulator(&["p1"]).await;
    let mut env = settings(&sim, Window::Open);
    env.insert("TIMER_WAIT_SECONDS".into(), "20".into());
    let host = FunctionsHost::start(&env).await;
    let payload = timer_payload("timer-scale-up", false, None);
    let (status, logs) = fire(&host, "timer-scale-up", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(
        has(&logs, "still converging at the end of the 20 s wait"),
        "{logs:#?}"
    );
    assert_eq!(client.pool("p1").await["targetDedicatedNodes"], 1);
    host.terminate().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_invocations_get_400_json_and_nothing_is_done() {
    // Batch is never called: every payload here is refused first.
    let env: HashMap<String, String> = [
        ("BATCH_ACCOUNT_URL", "https://127.0.0.1:9"),
        ("BATCH_POOL_ID", "p1"),
        ("BATCH_ACCOUNT_NAME", "devaccount"),
        ("BATCH_ACCOUNT_KEY", "c2VjcmV0LWtleS1kby1ub3QtbG9n"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let host = FunctionsHost::start(&env).await;
    for function in ["timer-scale-up", "timer-scale-down", "timer-reconcile"] {
        for (body, needle) in [
            ("", "empty"),
            ("{not json", "not JSON"),
            ("[1,2]", "is an array in JSON"),
            (r#"{"Data": "timer"}"#, "Data must be an object"),
            (
                r#"{"Data": {"timer": {"IsPastDue": "yes"}}}"#,
                "IsPastDue must be true or false",
            ),
            (
                r#"{"Data": {"timer": {"ScheduleStatus": 7}}}"#,
                "ScheduleStatus must be an object",
            ),
        ] {
            let (status, content_type, bytes) = host.invoke_raw(function, body.as_bytes()).await;
            assert_eq!(status, 400, "{function} {body}");
            let json: Value = serde_json::from_slice(&bytes).expect("JSON body");
            check_shape(status, content_type.as_deref(), &json);
            let line = json["Logs"][0].as_str().unwrap();
            assert!(line.contains(needle), "{body}: {line}");
            assert!(line.contains("nothing done"), "{line}");
        }
    }
    let huge = format!(
        r#"{{"Data": {{"timer": {{"x": "{}"}}}}}}"#,
        "a".repeat(100_000)
    );
    let (status, content_type, bytes) = host.invoke_raw("timer-scale-up", huge.as_bytes()).await;
    assert_eq!(status, 400);
    check_shape(
        status,
        content_type.as_deref(),
        &serde_json::from_slice(&bytes).unwrap(),
    );
    assert_eq!(host.terminate().await, Some(0), "no panic, clean exit");
}

/// Every function.json in the repo: known trigger types, HTTP ones forwarded
/// with an http out binding, timer schedules that parse, whether literal or a
/// `%SETTING%` whose value in `local.settings.json.example` parses.
#[test]
fn every_function_json_in_the_repo_is_valid() {
    let app = AppManifest::repo();
    let example: Value = serde_json::from_slice(
        &std::fs::read(app.root.join("local.settings.json.example")).unwrap(),
    )
    .expect("local.settings.json.example is JSON");
    let values = example["Values"].as_object().expect("Values");
    let mut timers = Vec::new();
    for f in &app.functions {
        match f.trigger_type() {
            "httpTrigger" => {
                assert!(
                    f.is_forwarded_http(),
                    "{}: one httpTrigger in and one http out",
                    f.name
                );
            }
            "timerTrigger" => {
                assert_eq!(
                    f.bindings.len(),
                    1,
                    "{}: a timer takes no other binding",
                    f.name
                );
                let trigger = f.trigger();
                assert_eq!(trigger["direction"], "in", "{}", f.name);
                assert_eq!(
                    trigger["name"], "timer",
                    "{}: the handler reads Data.timer",
                    f.name
                );
                assert_eq!(
                    trigger["runOnStartup"], false,
                    "{}: would fire on every restart",
                    f.name
                );
                assert!(trigger["useMonitor"].is_boolean(), "{}", f.name);
                let schedule = trigger["schedule"].as_str().expect("schedule");
                let expression = match schedule.strip_prefix('%').and_then(|s| s.strip_suffix('%'))
                {
                    Some(setting) => {
                        timers.push((f.name.clone(), setting.to_owned()));
                        values
                            .get(setting)
                            .and_then(Value::as_str)
                            .unwrap_or_else(|| {
                                panic!("{}: {setting} missing from the example settings; the host would not start", f.name)
                            })
                            .to_owned()
                    }
                    None => schedule.to_owned(),
                };
                let parsed =
                    Schedule::parse(&expression).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                assert!(
                    parsed.ever_fires(),
                    "{}: '{expression}' never fires",
                    f.name
                );
            }
            other => panic!("{}: unknown trigger type {other}", f.name),
        }
    }
    timers.sort();
    assert_eq!(
        timers,
        [
            (
                "timer-reconcile".to_owned(),
                "SCHEDULE_RECONCILE_SCHEDULE".to_owned()
            ),
            (
                "timer-scale-down".to_owned(),
                "SCALE_DOWN_SCHEDULE".to_owned()
            ),
            ("timer-scale-up".to_owned(), "SCALE_UP_SCHEDULE".to_owned()),
        ],
        "the handler's routes and the settings it reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_firing_keeps_nodes_a_pipeline_holds_a_lease_on() {
    let (sim, _client) = simulator(&["p1"]).await;
    let open = FunctionsHost::start(&settings(&sim, Window::Open)).await;
    let (status, logs) = fire(
        &open,
        "timer-scale-up",
        &timer_payload("timer-scale-up", false, None),
    )
    .await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "holding lease 'schedule' until"), "{logs:#?}");

    // A pipeline that started inside the window still runs when it closes.
    let pipeline = open
        .post(
            "/api/scale-up",
            r#"{"poolId": "p1", "leaseId": "run-late"}"#,
        )
        .await;
    assert_eq!(pipeline.status, 200, "{}", pipeline.body);
    let holders: Vec<&str> = pipeline.body["pool"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["holder"].as_str().unwrap())
        .collect();
    // Callers' lease ids are never shown, only their fingerprints.
    let run_late = pool_resizer::resizer::lease::fingerprint(&"run-late".parse().unwrap());
    let mut expected = [run_late.as_str(), "schedule"];
    expected.sort();
    let mut holders = holders;
    holders.sort();
    assert_eq!(holders, expected);
    open.terminate().await;

    let closed = FunctionsHost::start(&settings(&sim, Window::Closed)).await;
    let before = resizes(&sim);
    let (status, logs) = fire(
        &closed,
        "timer-scale-down",
        &timer_payload("timer-scale-down", false, None),
    )
    .await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "released lease 'schedule'"), "{logs:#?}");
    assert_eq!(
        resizes(&sim),
        before,
        "the pipeline's lease keeps its node: {logs:#?}"
    );

    // When the pipeline releases its lease, the pool goes to zero.
    let done = closed
        .post(
            "/api/scale-down",
            r#"{"poolId": "p1", "leaseId": "run-late", "waitSeconds": 200}"#,
        )
        .await;
    assert!(done.status == 200 || done.status == 202, "{}", done.body);
    assert_eq!(
        done.body["pool"]["targetDedicatedNodes"], 0,
        "{}",
        done.body
    );
    closed.terminate().await;
    sim.shutdown().await;
}

/// A schedule problem must not take the HTTP functions down with it: the
/// handler starts, warns once naming the setting, serves HTTP as usual, and
/// every timer firing fails (500, the invocation's JSON) with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_time_zone_disables_the_timers_but_not_http() {
    let (sim, _client) = simulator(&["p1"]).await;
    let mut env = settings(&sim, Window::Open);
    env.insert("WEBSITE_TIME_ZONE".into(), "W. Europe Standard Time".into());
    let host = FunctionsHost::start(&env).await;

    let warning = host
        .logs()
        .into_iter()
        .find(|l| l.contains("schedule disabled"))
        .expect("a warning at start");
    assert!(warning.starts_with("[stderr]"), "{warning}");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("WEBSITE_TIME_ZONE is 'W. Europe Standard Time'")
            && warning.contains("UTC only"),
        "{warning}"
    );

    let status = host.get("/api/pool-status?poolId=p1").await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["pool"]["exists"], true, "{}", status.body);

    for function in ["timer-scale-up", "timer-scale-down", "timer-reconcile"] {
        let (status, logs) = fire(&host, function, &timer_payload(function, false, None)).await;
        assert_eq!(status, 500, "{function}: {logs:#?}");
        assert!(
            has(
                &logs,
                "FAILED: schedule disabled: WEBSITE_TIME_ZONE is 'W. Europe Standard Time'"
            ),
            "{function}: {logs:#?}"
        );
    }
    assert_eq!(resizes(&sim), 0, "a disabled schedule touches no pool");
    assert!(
        host.logs()
            .iter()
            .filter(|l| l.starts_with("[stderr]") && l.contains("FAILED: schedule disabled"))
            .count()
            >= 3,
        "each failed firing reaches stderr, since the host drops non-2xx bodies"
    );
    assert_eq!(host.terminate().await, Some(0));
    sim.shutdown().await;
}

/// CR/LF inside a timer payload (ScheduleStatus, UtcNow, a key name) stays
/// inside the one line that quotes it, escaped: in the handler's stdout and
/// stderr, which the host reads line by line, and in the invocation `Logs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_in_a_timer_payload_forges_no_log_line() {
    let (sim, _client) = simulator(&["p1"]).await;
    let host = FunctionsHost::start(&settings(&sim, Window::Closed)).await;
    let mut payload = timer_payload(
        "timer-reconcile",
        false,
        Some((
            "2025-03-03T06:00:00+00:00\r\nERROR forged line",
            "2025-03-04\nINFO forged too",
        )),
    );
    payload["Metadata"]["sys"]["UtcNow"] = json!("2025-03-03T06:00:00Z\r[stderr] forged");
    let (status, logs) = fire(&host, "timer-reconcile", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(logs.iter().all(|l| !l.contains(['\r', '\n'])), "{logs:#?}");
    let fired = logs
        .iter()
        .find(|l| l.contains("timer-reconcile fired"))
        .expect("the firing line");
    assert!(
        fired.contains(
            r"last 2025-03-03T06:00:00+00:00\r\nERROR forged line, next 2025-03-04\nINFO forged too"
        ) && fired.contains(r"host UtcNow 2025-03-03T06:00:00Z\r[stderr] forged"),
        "{fired}"
    );

    // A key name the handler quotes in a refusal.
    let (status, _, bytes) = host
        .invoke_raw(
            "timer-scale-up",
            br#"{"Data": {"t\r\nERROR forged key": 5}}"#,
        )
        .await;
    assert_eq!(status, 400);
    let refusal: Value = serde_json::from_slice(&bytes).unwrap();
    let line = refusal["Logs"][0].as_str().unwrap();
    assert!(
        line.contains(r"Data.t\r\nERROR forged key must be an object"),
        "{line}"
    );

    let handler_logs = host.logs();
    let forged: Vec<_> = handler_logs
        .iter()
        .filter(|l| l.contains("forged"))
        .collect();
    assert_eq!(forged.len(), 2, "one firing line, one refusal: {forged:#?}");
    assert!(
        forged
            .iter()
            .all(|l| l.contains("timer-reconcile fired:")
                || l.contains("malformed timer invocation")),
        "a payload's text stays on the line that quotes it: {forged:#?}"
    );
    host.terminate().await;
    sim.shutdown().await;
}

/// Local-time windows (`SCHEDULE_WINDOWS`) that are open, or closed, whatever
/// the real time: days named in the zone's own calendar, worked out here
/// with the same time-zone crate the handler uses.
struct LocalDays {
    zone: jiff::tz::TimeZone,
    today: jiff::civil::Date,
}

impl LocalDays {
    fn in_zone(name: &str) -> Self {
        let zone = jiff::tz::TimeZone::get(name).unwrap();
        let today = zone.to_datetime(jiff::Timestamp::now()).date();
        LocalDays { zone, today }
    }

    fn day(&self, offset: i32) -> jiff::civil::Date {
        self.today
            .checked_add(jiff::Span::new().days(offset))
            .unwrap()
    }

    fn name(&self, offset: i32) -> String {
        self.day(offset).strftime("%a").to_string()
    }

    /// Today and tomorrow, whole days: open now, and still open should the
    /// handler's clock have passed midnight since.
    fn open_now(&self, options: &str) -> String {
        format!("{},{} 00:00-24:00 {options}", self.name(0), self.name(1))
    }

    /// The day after tomorrow's day after: closed now and all of tomorrow.
    fn closed_now(&self, options: &str) -> String {
        format!("{} 00:00-24:00 {options}", self.name(3))
    }

    /// When `open_now` closes, as the handler's logs write it.
    fn open_now_closes(&self) -> String {
        let end = self
            .day(2)
            .at(0, 0, 0, 0)
            .to_zoned_datetime(self.zone.clone())
            .unwrap()
            .timestamp();
        end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn local_settings(sim: &Simulator, windows: &str, zone: &str) -> HashMap<String, String> {
    // The two-schedule window, were it used, would be closed: the windows decide.
    let mut env = settings(sim, Window::Closed);
    env.insert("SCHEDULE_WINDOWS".into(), windows.into());
    env.insert("SCHEDULE_TIME_ZONE".into(), zone.into());
    env
}

async fn leases(host: &FunctionsHost) -> Vec<(String, u64)> {
    let status = host.get("/api/pool-status?poolId=p1").await;
    assert_eq!(status.status, 200, "{}", status.body);
    let mut leases: Vec<(String, u64)> = status.body["pool"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["holder"].as_str().unwrap().to_owned(),
                l["dedicated"].as_u64().unwrap(),
            )
        })
        .collect();
    leases.sort();
    leases
}

/// With local windows the reconcile enforces both states: it opens a window
/// (the window's own nodes, lease `schedule` until its end) and closes one
/// (lease released, pool shrunk with taskcompletion), so a missed edge is
/// repaired within one reconcile period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_opens_and_closes_a_local_window() {
    let (sim, client) = simulator(&["p1"]).await;
    let days = LocalDays::in_zone("America/New_York");
    let window = days.open_now("dedicated=1");
    let mut env = local_settings(&sim, &window, "America/New_York");
    // The window's own count wins over the default.
    env.insert("SCHEDULE_DEDICATED_NODES".into(), "3".into());
    let open = FunctionsHost::start(&env).await;
    let reconcile = timer_payload("timer-reconcile", false, None);
    let (status, logs) = fire(&open, "timer-reconcile", &reconcile).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "in America/New_York: open since"), "{logs:#?}");
    assert!(
        has(&logs, &format!("closes at {}", days.open_now_closes())),
        "the window's end, in real time: {logs:#?}"
    );
    assert!(has(&logs, "holding at least 1 dedicated"), "{logs:#?}");
    assert!(has(&logs, "holding lease 'schedule' until"), "{logs:#?}");
    assert!(
        has(&logs, "resize to 1 dedicated + 0 low-priority accepted"),
        "{logs:#?}"
    );
    assert!(has(&logs, "done after"), "{logs:#?}");
    assert!(all_in(&client.nodes("p1").await, "idle", 1));
    assert_eq!(leases(&open).await, [("schedule".to_owned(), 1)]);
    // timer-scale-up and timer-scale-down fire on their own UTC schedules,
    // which no longer say anything: any firing keeps the window's state.
    for function in ["timer-scale-down", "timer-scale-up", "timer-reconcile"] {
        let (status, logs) = fire(&open, function, &timer_payload(function, true, None)).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert!(has(&logs, "no resize needed"), "{function}: {logs:#?}");
    }
    assert_eq!(resizes(&sim), 1);
    open.terminate().await;

    // The close was missed (no firing at the window's end): the next
    // reconcile, in a closed window, releases the lease and the node.
    let closed = FunctionsHost::start(&local_settings(
        &sim,
        &days.closed_now(""),
        "America/New_York",
    ))
    .await;
    let (status, logs) = fire(&closed, "timer-reconcile", &reconcile).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "in America/New_York: closed since"), "{logs:#?}");
    assert!(
        has(
            &logs,
            "window closed: releasing lease 'schedule' and scaling pool 'p1' down to what live leases need"
        ),
        "{logs:#?}"
    );
    assert!(has(&logs, "released lease 'schedule'"), "{logs:#?}");
    assert!(
        has(
            &logs,
            "resize to 0 dedicated + 0 low-priority (taskcompletion) accepted"
        ),
        "{logs:#?}"
    );
    assert!(has(&logs, "done after"), "{logs:#?}");
    assert_eq!(client.pool("p1").await["currentDedicatedNodes"], 0);
    assert!(leases(&closed).await.is_empty());
    // Every 15 minutes through the night: nothing more to do.
    let (status, logs) = fire(&closed, "timer-reconcile", &reconcile).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "no resize needed"), "{logs:#?}");
    assert_eq!(resizes(&sim), 2);
    closed.terminate().await;
    sim.shutdown().await;
}

/// Closing a local window shrinks only to what live leases need: a pipeline
/// that scaled up with a lease inside the window keeps its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_local_window_keeps_what_a_pipeline_lease_needs() {
    let (sim, client) = simulator(&["p1"]).await;
    let days = LocalDays::in_zone("Europe/Brussels");
    let open = FunctionsHost::start(&local_settings(
        &sim,
        &days.open_now("dedicated=2"),
        "Europe/Brussels",
    ))
    .await;
    let (status, logs) = fire(
        &open,
        "timer-reconcile",
        &timer_payload("timer-reconcile", false, None),
    )
    .await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(
        has(&logs, "resize to 2 dedicated + 0 low-priority accepted"),
        "{logs:#?}"
    );
    // A pipeline inside the window holds one node, for long enough (600
    // simulated minutes are 2 real minutes at this time scale).
    let pipeline = open
        .post(
            "/api/scale-up",
            r#"{"poolId": "p1", "leaseId": "run-late", "leaseMinutes": 600}"#,
        )
        .await;
    assert_eq!(pipeline.status, 200, "{}", pipeline.body);
    let run_late = pool_resizer::resizer::lease::fingerprint(&"run-late".parse().unwrap());
    assert_eq!(
        leases(&open).await,
        [("schedule".to_owned(), 2), (run_late.clone(), 1)]
    );
    open.terminate().await;

    let closed = FunctionsHost::start(&local_settings(
        &sim,
        &days.closed_now("dedicated=2"),
        "Europe/Brussels",
    ))
    .await;
    let before = resizes(&sim);
    let (status, logs) = fire(
        &closed,
        "timer-reconcile",
        &timer_payload("timer-reconcile", false, None),
    )
    .await;
    assert_eq!(status, 200, "{logs:#?}");
    assert!(has(&logs, "released lease 'schedule'"), "{logs:#?}");
    assert!(
        has(
            &logs,
            "resize to 1 dedicated + 0 low-priority (taskcompletion) accepted"
        ),
        "down to the pipeline's node, not to 0: {logs:#?}"
    );
    assert_eq!(resizes(&sim), before + 1);
    assert_eq!(leases(&closed).await, [(run_late, 1)]);
    let pool = client.pool("p1").await;
    assert_eq!(pool["targetDedicatedNodes"], 1, "{pool}");

    // When the pipeline scales down with its lease, the pool goes to zero.
    let done = closed
        .post(
            "/api/scale-down",
            r#"{"poolId": "p1", "leaseId": "run-late", "waitSeconds": 200}"#,
        )
        .await;
    assert!(done.status == 200 || done.status == 202, "{}", done.body);
    assert_eq!(
        done.body["pool"]["targetDedicatedNodes"], 0,
        "{}",
        done.body
    );
    closed.terminate().await;
    sim.shutdown().await;
}

/// A wrong zone or window disables the timers, never the HTTP functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_time_zone_or_window_disables_the_timers_but_not_http() {
    let (sim, _client) = simulator(&["p1"]).await;
    for (windows, zone, reason) in [
        (
            "Mon-Fri 06:00-07:00",
            "Europe/Brusels",
            "SCHEDULE_TIME_ZONE: 'Europe/Brusels' is not an IANA time zone name",
        ),
        (
            "Mon-Fri 06:00-07:00, Sat 09:00-10:00",
            "Europe/Brussels",
            "SCHEDULE_WINDOWS: window 1 'Mon-Fri 06:00-07:00, Sat 09:00-10:00': separate windows with ';'",
        ),
    ] {
        let host = FunctionsHost::start(&local_settings(&sim, windows, zone)).await;
        assert!(
            host.logs().iter().any(|l| l.starts_with("[stderr]")
                && l.contains("schedule disabled")
                && l.contains(reason)),
            "a warning at start: {:#?}",
            host.logs()
        );
        let status = host.get("/api/pool-status?poolId=p1").await;
        assert_eq!(status.status, 200, "{}", status.body);
        let (status, logs) = fire(
            &host,
            "timer-reconcile",
            &timer_payload("timer-reconcile", false, None),
        )
        .await;
        assert_eq!(status, 500, "{logs:#?}");
        assert!(
            has(&logs, &format!("FAILED: schedule disabled: {reason}")),
            "{logs:#?}"
        );
        assert_eq!(host.terminate().await, Some(0));
    }
    assert_eq!(resizes(&sim), 0, "a disabled schedule touches no pool");
    sim.shutdown().await;
}
