//! Timer functions end to end: the host stand-in posts real-shaped timer
//! invocations to the handler, which drives the in-process Batch simulator.
//!
//! "Now" is the real clock, so the tests pick schedules whose window is open
//! (or closed) whatever the time: up every second and down once a year on
//! 1 January at midnight, or the reverse.

use crate::helpers::app::{Settings, TestApp, offline_settings, pools, spawn_app_with};
use crate::helpers::batch::{all_in, steady};
use crate::helpers::host::{AppManifest, FunctionsHost, timer_payload};
use pool_resizer::schedule::Schedule;
use serde_json::{Value, json};

const EVERY_SECOND: &str = "* * * * * *";
const NEW_YEAR: &str = "0 0 0 1 1 *";

#[derive(Clone, Copy)]
enum Window {
    Open,
    Closed,
}

/// The schedule settings for pool `p1`, its UTC window open (or closed)
/// now and for a while.
fn schedule(settings: &mut Settings, window: Window) {
    let (up, down) = match window {
        Window::Open => (EVERY_SECOND, NEW_YEAR),
        Window::Closed => (NEW_YEAR, EVERY_SECOND),
    };
    for (name, value) in [
        ("BATCH_POOL_ID", "p1"),
        ("SCALE_UP_SCHEDULE", up),
        ("SCALE_DOWN_SCHEDULE", down),
        ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
        ("SCHEDULE_DEDICATED_NODES", "1"),
        // 15 simulated minutes = 3 real seconds: room for a node to boot.
        ("TIMER_WAIT_SECONDS", "900"),
    ] {
        settings.insert(name.into(), value.into());
    }
}

/// The simulator with `pool_ids`, and the handler for pool `p1` with the
/// window open or closed.
async fn spawn(pool_ids: &[&str], window: Window) -> TestApp {
    spawn_app_with(pools(pool_ids), |settings, _| schedule(settings, window)).await
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

/// Each of `needles` is in some line of `logs`.
fn assert_logged(logs: &[String], needles: &[&str]) {
    for needle in needles {
        assert!(has(logs, needle), "{needle:?} not logged: {logs:#?}");
    }
}

/// Fires `function` on schedule (not past due, no monitor status).
async fn fire_on_schedule(host: &FunctionsHost, function: &str) -> (u16, Vec<String>) {
    fire(host, function, &timer_payload(function, false, None)).await
}

fn resizes(app: &TestApp) -> usize {
    app.accepted("POST", "/resize")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_window_brings_a_ready_node_and_repeats_change_nothing() {
    let app = spawn(&["p1"], Window::Open).await;
    let (host, client) = (&app.host, app.batch());

    let payload = timer_payload(
        "timer-scale-up",
        false,
        Some(("2025-03-03T06:00:00+00:00", "2025-03-04T06:00:00+00:00")),
    );
    let (status, logs) = fire(host, "timer-scale-up", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(
        &logs,
        &[
            "timer-scale-up fired: on schedule",
            ": open since",
            "resize to 1 dedicated + 0 low-priority accepted",
            "done after",
        ],
    );
    let pool = client.pool("p1").await;
    assert_eq!(pool["targetDedicatedNodes"], 1);
    let nodes = client.nodes("p1").await;
    assert!(all_in(&nodes, "idle", 1), "{nodes:?}");
    assert_eq!(resizes(&app), 1);

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
        let (status, logs) = fire(host, function, payload).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert!(has(&logs, "no resize needed"), "{function}: {logs:#?}");
        assert!(has(&logs, "ready 1 dedicated"), "{function}: {logs:#?}");
    }
    let (_, logs) = fire(host, "timer-scale-up", &odd).await;
    assert_logged(&logs, &["past due", "ScheduleStatus null (useMonitor off)"]);
    assert_eq!(resizes(&app), 1, "repeated firings issue no second resize");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_window_only_the_end_firing_releases_and_running_tasks_finish() {
    let app = spawn(&["p1"], Window::Closed).await;
    let (host, client) = (&app.host, app.batch());
    // A pipeline scaled the pool up outside the window and runs a task.
    let r = client
        .resize("p1", json!({"targetDedicatedNodes": 1}))
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
    let before = resizes(&app);

    // The reconcile and a late up-firing leave a closed window's pool alone.
    for function in ["timer-reconcile", "timer-scale-up"] {
        let payload = timer_payload(function, true, None);
        let (status, logs) = fire(host, function, &payload).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert_logged(
            &logs,
            &[
                ": closed since",
                "leaving pool 'p1' as it is",
                "target 1 dedicated",
            ],
        );
    }
    assert_eq!(resizes(&app), before, "nothing shrank the pool");
    let t = client.call("GET", "/jobs/j/tasks/t", None).await;
    assert_eq!(t.body["state"], "running");

    // The end firing releases the node, but only once its task is done.
    let (status, logs) = fire_on_schedule(host, "timer-scale-down").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(
        &logs,
        &[
            "with taskcompletion",
            "resize to 0 dedicated + 0 low-priority (taskcompletion) accepted",
            "done after",
        ],
    );
    let pool = client.pool("p1").await;
    assert_eq!(pool["currentDedicatedNodes"], 0, "{pool}");
    let t = client.call("GET", "/jobs/j/tasks/t", None).await;
    assert_eq!(t.body["state"], "completed");
    assert_eq!(t.body["executionInfo"]["exitCode"], 0);
    assert!(app.killed_tasks().is_empty(), "{:?}", app.killed_tasks());
    assert_eq!(resizes(&app), before + 1);

    // Fired again (past due): already there.
    let payload = timer_payload("timer-scale-down", true, None);
    let (status, logs) = fire(host, "timer-scale-down", &payload).await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["no resize needed"]);
    assert_eq!(resizes(&app), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_cannot_be_kept_fails_the_invocation_with_json_logs() {
    let app = spawn(&[], Window::Open).await;
    let (status, logs) = fire_on_schedule(&app.host, "timer-scale-up").await;
    assert_eq!(status, 500, "{logs:#?}");
    assert_logged(&logs, &["FAILED: PoolNotFound"]);
    assert!(
        app.host
            .logged(|l| l.starts_with("[stderr]") && l.contains("PoolNotFound"))
            .await,
        "the failure reaches stderr, since the host drops non-2xx bodies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_converging_at_the_end_of_the_wait_is_logged_not_failed() {
    let app = spawn_app_with(pools(&["p1"]), |settings, _| {
        schedule(settings, Window::Open);
        settings.insert("TIMER_WAIT_SECONDS".into(), "20".into());
    })
    .await;
    let (status, logs) = fire_on_schedule(&app.host, "timer-scale-up").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["still converging at the end of the 20 s wait"]);
    assert_eq!(app.batch().pool("p1").await["targetDedicatedNodes"], 1);
}

#[tokio::test]
async fn malformed_invocations_get_400_json_and_nothing_is_done() {
    // Batch is never called: every payload here is refused first.
    let mut host = FunctionsHost::start(&offline_settings()).await;
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

/// A pipeline that started inside the window: a scale-up with lease
/// `run-late` (`extra` adds to its body). Returns the answer and the lease's
/// holder as answers show it (its fingerprint: lease ids are never shown).
async fn a_late_pipeline(host: &FunctionsHost, extra: &str) -> (Value, String) {
    let pipeline = host
        .post(
            "/api/scale-up",
            &format!(r#"{{"poolId": "p1", "leaseId": "run-late"{extra}}}"#),
        )
        .await;
    assert_eq!(pipeline.status, 200, "{}", pipeline.body);
    let run_late = pool_resizer::resizer::lease::fingerprint(&"run-late".parse().unwrap());
    (pipeline.body, run_late)
}

/// When the late pipeline scales down with its lease, the pool goes to zero.
async fn the_late_pipeline_leaves(host: &FunctionsHost) {
    let done = host
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_firing_keeps_nodes_a_pipeline_holds_a_lease_on() {
    let mut app = spawn(&["p1"], Window::Open).await;
    let (status, logs) = fire_on_schedule(&app.host, "timer-scale-up").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["holding lease 'schedule' until"]);

    // A pipeline that started inside the window still runs when it closes.
    let (pipeline, run_late) = a_late_pipeline(&app.host, "").await;
    let mut holders: Vec<&str> = pipeline["pool"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["holder"].as_str().unwrap())
        .collect();
    let mut expected = [run_late.as_str(), "schedule"];
    expected.sort();
    holders.sort();
    assert_eq!(holders, expected);
    app.host.terminate().await;

    let closed = app
        .instance_with(|settings| schedule(settings, Window::Closed))
        .await;
    let before = resizes(&app);
    let (status, logs) = fire_on_schedule(&closed, "timer-scale-down").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["released lease 'schedule'"]);
    assert_eq!(
        resizes(&app),
        before,
        "the pipeline's lease keeps its node: {logs:#?}"
    );

    the_late_pipeline_leaves(&closed).await;
}

/// A schedule problem must not take the HTTP functions down with it: the
/// handler starts, warns once naming the setting, serves HTTP as usual, and
/// every timer firing fails (500, the invocation's JSON) with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_time_zone_disables_the_timers_but_not_http() {
    let mut app = spawn_app_with(pools(&["p1"]), |settings, _| {
        schedule(settings, Window::Open);
        settings.insert("WEBSITE_TIME_ZONE".into(), "W. Europe Standard Time".into());
    })
    .await;
    let host = &mut app.host;

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

    let status = host.pool_status("p1").await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["pool"]["exists"], true, "{}", status.body);

    for function in ["timer-scale-up", "timer-scale-down", "timer-reconcile"] {
        let (status, logs) = fire_on_schedule(host, function).await;
        assert_eq!(status, 500, "{function}: {logs:#?}");
        assert!(
            has(
                &logs,
                "FAILED: schedule disabled: WEBSITE_TIME_ZONE is 'W. Europe Standard Time'"
            ),
            "{function}: {logs:#?}"
        );
    }
    let failed = |logs: &[String]| {
        logs.iter()
            .filter(|l| l.starts_with("[stderr]") && l.contains("FAILED: schedule disabled"))
            .count()
    };
    assert!(
        failed(&host.logs_once(|logs| failed(logs) >= 3).await) >= 3,
        "each failed firing reaches stderr, since the host drops non-2xx bodies"
    );
    assert_eq!(host.terminate().await, Some(0));
    assert_eq!(resizes(&app), 0, "a disabled schedule touches no pool");
}

/// CR/LF inside a timer payload (ScheduleStatus, UtcNow, a key name) stays
/// inside the one line that quotes it, escaped: in the handler's stdout and
/// stderr, which the host reads line by line, and in the invocation `Logs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_in_a_timer_payload_forges_no_log_line() {
    let app = spawn(&["p1"], Window::Closed).await;
    let host = &app.host;
    let mut payload = timer_payload(
        "timer-reconcile",
        false,
        Some((
            "2025-03-03T06:00:00+00:00\r\nERROR forged line",
            "2025-03-04\nINFO forged too",
        )),
    );
    payload["Metadata"]["sys"]["UtcNow"] = json!("2025-03-03T06:00:00Z\r[stderr] forged");
    let (status, logs) = fire(host, "timer-reconcile", &payload).await;
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

    let forged_lines = |logs: &[String]| logs.iter().filter(|l| l.contains("forged")).count();
    let handler_logs = host.logs_once(|logs| forged_lines(logs) >= 2).await;
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

/// Local-time windows in `zone` instead of the two UTC schedules.
fn local_windows(settings: &mut Settings, windows: &str, zone: &str) {
    // The two-schedule window, were it used, would be closed: the windows decide.
    schedule(settings, Window::Closed);
    settings.insert("SCHEDULE_WINDOWS".into(), windows.into());
    settings.insert("SCHEDULE_TIME_ZONE".into(), zone.into());
}

async fn leases(host: &FunctionsHost) -> Vec<(String, u64)> {
    let status = host.pool_status("p1").await;
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
    let days = LocalDays::in_zone("America/New_York");
    let mut app = spawn_app_with(pools(&["p1"]), |settings, _| {
        local_windows(settings, &days.open_now("dedicated=1"), "America/New_York");
        // The window's own count wins over the default.
        settings.insert("SCHEDULE_DEDICATED_NODES".into(), "3".into());
    })
    .await;
    let client = app.batch();
    let open = &mut app.host;
    let (status, logs) = fire_on_schedule(open, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["in America/New_York: open since"]);
    assert!(
        has(&logs, &format!("closes at {}", days.open_now_closes())),
        "the window's end, in real time: {logs:#?}"
    );
    assert_logged(
        &logs,
        &[
            "holding at least 1 dedicated",
            "holding lease 'schedule' until",
            "resize to 1 dedicated + 0 low-priority accepted",
            "done after",
        ],
    );
    assert!(all_in(&client.nodes("p1").await, "idle", 1));
    assert_eq!(leases(open).await, [("schedule".to_owned(), 1)]);
    // timer-scale-up and timer-scale-down fire on their own UTC schedules,
    // which no longer say anything: any firing keeps the window's state.
    for function in ["timer-scale-down", "timer-scale-up", "timer-reconcile"] {
        let (status, logs) = fire(open, function, &timer_payload(function, true, None)).await;
        assert_eq!(status, 200, "{function}: {logs:#?}");
        assert!(has(&logs, "no resize needed"), "{function}: {logs:#?}");
    }
    open.terminate().await;
    assert_eq!(resizes(&app), 1);

    // The close was missed (no firing at the window's end): the next
    // reconcile, in a closed window, releases the lease and the node.
    let closed = app
        .instance_with(|settings| {
            local_windows(settings, &days.closed_now(""), "America/New_York");
        })
        .await;
    let (status, logs) = fire_on_schedule(&closed, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(
        &logs,
        &[
            "in America/New_York: closed since",
            "window closed: releasing lease 'schedule' and scaling pool 'p1' down to what live leases need",
            "released lease 'schedule'",
            "resize to 0 dedicated + 0 low-priority (taskcompletion) accepted",
            "done after",
        ],
    );
    assert_eq!(client.pool("p1").await["currentDedicatedNodes"], 0);
    assert!(leases(&closed).await.is_empty());
    // Every 15 minutes through the night: nothing more to do.
    let (status, logs) = fire_on_schedule(&closed, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["no resize needed"]);
    assert_eq!(resizes(&app), 2);
}

/// Closing a local window shrinks only to what live leases need: a pipeline
/// that scaled up with a lease inside the window keeps its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_local_window_keeps_what_a_pipeline_lease_needs() {
    let days = LocalDays::in_zone("Europe/Brussels");
    let mut app = spawn_app_with(pools(&["p1"]), |settings, _| {
        local_windows(settings, &days.open_now("dedicated=2"), "Europe/Brussels");
    })
    .await;
    let (status, logs) = fire_on_schedule(&app.host, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["resize to 2 dedicated + 0 low-priority accepted"]);
    // A pipeline inside the window holds one node, for long enough (600
    // simulated minutes are 2 real minutes at this time scale).
    let (_, run_late) = a_late_pipeline(&app.host, r#", "leaseMinutes": 600"#).await;
    assert_eq!(
        leases(&app.host).await,
        [("schedule".to_owned(), 2), (run_late.clone(), 1)]
    );
    app.host.terminate().await;

    let closed = app
        .instance_with(|settings| {
            local_windows(settings, &days.closed_now("dedicated=2"), "Europe/Brussels");
        })
        .await;
    let before = resizes(&app);
    let (status, logs) = fire_on_schedule(&closed, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["released lease 'schedule'"]);
    assert!(
        has(
            &logs,
            "resize to 1 dedicated + 0 low-priority (taskcompletion) accepted"
        ),
        "down to the pipeline's node, not to 0: {logs:#?}"
    );
    assert_eq!(resizes(&app), before + 1);
    assert_eq!(leases(&closed).await, [(run_late, 1)]);
    let pool = app.batch().pool("p1").await;
    assert_eq!(pool["targetDedicatedNodes"], 1, "{pool}");

    the_late_pipeline_leaves(&closed).await;
}

/// A wrong zone or window disables the timers, never the HTTP functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_time_zone_or_window_disables_the_timers_but_not_http() {
    let app = spawn(&["p1"], Window::Closed).await;
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
        let mut host = app
            .instance_with(|settings| local_windows(settings, windows, zone))
            .await;
        assert!(
            host.logs().iter().any(|l| l.starts_with("[stderr]")
                && l.contains("schedule disabled")
                && l.contains(reason)),
            "a warning at start: {:#?}",
            host.logs()
        );
        let status = host.pool_status("p1").await;
        assert_eq!(status.status, 200, "{}", status.body);
        let (status, logs) = fire_on_schedule(&host, "timer-reconcile").await;
        assert_eq!(status, 500, "{logs:#?}");
        assert_logged(&logs, &[&format!("FAILED: schedule disabled: {reason}")]);
        assert_eq!(host.terminate().await, Some(0));
    }
    assert_eq!(resizes(&app), 0, "a disabled schedule touches no pool");
}

/// A closed-window firing only looks, and a look proves nothing about
/// capacity: the backoff a quota failure started outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_firing_leaves_the_backoff_alone() {
    let app = spawn_app_with(
        batch_simulator::SimulatorConfig {
            dedicated_core_quota: 1,
            ..pools(&["p1"])
        },
        |settings, _| schedule(settings, Window::Closed),
    )
    .await;
    let up = app
        .scale_up(r#"{"poolId": "p1", "dedicatedNodes": 3, "waitSeconds": 180}"#)
        .await;
    assert_eq!(up.status, 409, "{}", up.body);
    assert_eq!(up.body["pool"]["backoff"]["minutes"], 5, "{}", up.body);

    let (status, logs) = fire_on_schedule(&app.host, "timer-reconcile").await;
    assert_eq!(status, 200, "{logs:#?}");
    assert_logged(&logs, &["leaving pool 'p1' as it is"]);
    let look = app.pool_status("p1").await;
    assert_eq!(look.body["pool"]["backoff"]["minutes"], 5, "{}", look.body);
}
