//! The HTTP triggers end to end: the handler binary under the host stand-in
//! (driven by the repo's host.json/function.json), against the simulator at
//! a high time scale, checked through the simulator's own event log.

use crate::helpers::app::{TestApp, pools, spawn_app, spawn_app_with, use_managed_identity};
use crate::helpers::batch::{self, steady};
use crate::helpers::faults;
use crate::helpers::host::{FunctionsHost, HostResponse};
use batch_simulator::{EventKind, SimulatorConfig};
use serde_json::{Value, json};

/// The app with pool `adf-pool` scaled up to one ready node, and a job
/// whose task runs `seconds` on it; and a client for looking at them.
async fn ready_node_running_a_task(seconds: u32) -> (TestApp, batch::Client) {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let client = app.batch();
    let up = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
    let job = json!({"id": "job1", "poolInfo": {"poolId": "adf-pool"}});
    assert_eq!(client.call("POST", "/jobs", Some(job)).await.status, 201);
    let task = json!({"id": "t1", "commandLine": format!("/bin/bash -c 'sleep {seconds}'")});
    assert_eq!(
        client
            .call("POST", "/jobs/job1/tasks", Some(task))
            .await
            .status,
        201
    );
    client
        .wait_nodes("adf-pool", "running", |n| {
            n.iter().any(|n| n["state"] == "running")
        })
        .await;
    (app, client)
}

/// The app with one node running a long task (600 s), as pipeline A leaves
/// it; then A releases the pool without waiting (202: the shrink waits for
/// the task, `taskcompletion`).
async fn a_shrink_waiting_for_a_running_task() -> (TestApp, batch::Client) {
    let (app, client) = ready_node_running_a_task(600).await;
    let down = app
        .host
        .post("/api/scale-down", r#"{"waitSeconds": 0}"#)
        .await;
    assert_eq!(down.status, 202, "{}", down.body);
    (app, client)
}

/// Scale-up on a handler that Batch refuses to authenticate: a clear 502
/// `BatchAuthenticationFailed`, and the secret at fault is not logged.
async fn assert_authentication_fails(
    host: &FunctionsHost,
    body: &str,
    secret: &str,
) -> HostResponse {
    let response = host.post("/api/scale-up", body).await;
    assert_eq!(response.status, 502, "{}", response.body);
    assert_eq!(response.body["error"]["code"], "BatchAuthenticationFailed");
    assert!(!host.logs().join("\n").contains(secret), "{secret} leaked");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_pool_gets_a_ready_node_and_scale_down_releases_it() {
    let app = spawn_app(pools(&["adf-pool"])).await;

    let first = app
        .host
        .post(
            "/api/scale-up",
            r#"{"dedicatedNodes": 1, "waitSeconds": 200}"#,
        )
        .await;
    assert!(first.status == 200 || first.status == 202, "{}", first.body);
    assert_eq!(first.body["actions"][0]["action"], "resize");
    assert_eq!(first.body["actions"][0]["targetDedicatedNodes"], 1);
    let done = app.host.until_final(first).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "succeeded");
    assert!(
        done.body["pool"]["readyDedicatedNodes"].as_u64().unwrap() >= 1,
        "{}",
        done.body
    );
    assert_eq!(app.accepted("POST", "/pools/adf-pool/resize"), 1);

    // Already ready: answers at once and does nothing.
    let again = app.host.post("/api/scale-up", "{}").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["actions"], json!([]));
    // "At once" on a 300x clock: one look (two Batch calls side by side),
    // a few real milliseconds, which a loaded CI machine can stretch;
    // 30 simulated s is 0.1 s real, far below any wait.
    assert!(
        again.body["waitedSeconds"].as_f64().unwrap() < 30.0,
        "{}",
        again.body
    );
    assert_eq!(
        app.accepted("POST", "/pools/adf-pool/resize"),
        1,
        "no second resize"
    );

    let down = app.scale_down("").await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(
        down.body["actions"][0]["nodeDeallocationOption"],
        "taskcompletion"
    );
    assert_eq!(down.body["pool"]["allocationState"], "steady");
    assert_eq!(down.body["pool"]["currentDedicatedNodes"], 0);

    // Idempotent.
    let down_again = app.host.post("/api/scale-down", "{}").await;
    assert_eq!(down_again.status, 200);
    assert_eq!(down_again.body["actions"], json!([]));
    assert_eq!(app.accepted("POST", "/pools/adf-pool/resize"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_wait_answers_202_and_the_status_url_reaches_200() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let response = app
        .host
        .post(
            "/api/scale-up?poolId=adf-pool",
            r#"{"dedicatedNodes": "1", "waitSeconds": 5}"#,
        )
        .await;
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(response.body["status"], "inProgress");
    let location = response.header("location").unwrap().to_owned();
    assert!(
        location.contains("/api/operation-status?token="),
        "{location}"
    );
    assert!(response.body["waitingFor"].is_string());
    let done = app.host.until_final(response).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["operation"], "operation-status");
    assert_eq!(
        app.accepted("POST", "/pools/adf-pool/resize"),
        1,
        "polling never resized again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_during_a_scale_down_keeps_the_node_and_the_running_task() {
    // Pipeline A releases (without waiting), pipeline B asks for a node.
    let (app, client) = a_shrink_waiting_for_a_running_task().await;
    assert_eq!(client.pool("adf-pool").await["allocationState"], "resizing");
    let up = app
        .host
        .post("/api/scale-up", r#"{"waitSeconds": 200}"#)
        .await;
    let actions: Vec<String> = up.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("stopResize"),
        "{}",
        up.body
    );
    // The node finishing its task is leaving (scheduling disabled): it does
    // not count as ready, so a new node comes for pipeline B.
    let up = app.host.until_final(up).await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert!(up.body["pool"]["readyDedicatedNodes"].as_u64().unwrap() >= 1);
    assert!(app.killed_tasks().is_empty(), "{:?}", app.killed_tasks());
}

/// Two pipelines ask for a node while a scale-down is shrinking: both may stop the
/// shrink, and on Azure the second stop is accepted too (a stop keeps the ETag of the
/// resize it stops, so its `If-Match` still holds), where a simulator that moved the ETag
/// made it a 412. What the fence still guards is the grow: it is decided from a look
/// taken after the stop, and a second grow from the same look is refused (412) and
/// decided again. Both pipelines succeed, the pool is grown once, no task is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scale_ups_during_a_scale_down_stop_it_and_grow_once() {
    let (app, _client) = a_shrink_waiting_for_a_running_task().await;
    let (a, b) = tokio::join!(
        app.host.post("/api/scale-up", r#"{"waitSeconds": 200}"#),
        app.host.post("/api/scale-up", r#"{"waitSeconds": 200}"#)
    );
    let (a, b) = tokio::join!(app.host.until_final(a), app.host.until_final(b));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(b.status, 200, "{}", b.body);
    let stops = app.accepted("POST", "/stopresize");
    assert!((1..=2).contains(&stops), "{stops} stops");
    let refused_stops = app
        .sim
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { path, status: 412, .. } if path.ends_with("/stopresize")))
        .count();
    assert_eq!(
        refused_stops, 0,
        "a stop fenced on the shrink's ETag is never refused"
    );
    assert_eq!(
        app.accepted("POST", "/resize"),
        3,
        "the first grow, the shrink, then one grow"
    );
    assert!(app.killed_tasks().is_empty(), "{:?}", app.killed_tasks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_survives_scale_down() {
    // A task of 120 s keeps the node busy, so taskcompletion holds it in the pool.
    let (app, client) = ready_node_running_a_task(120).await;

    let down = app.scale_down(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["currentDedicatedNodes"], 0);
    let task = client.call("GET", "/jobs/job1/tasks/t1", None).await;
    assert_eq!(task.body["state"], "completed", "{}", task.body);
    assert!(app.killed_tasks().is_empty(), "{:?}", app.killed_tasks());
}

/// While a `taskcompletion` shrink waits for a running task, the answer
/// says so (not "Batch is resizing"), and the node is not counted ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_down_waiting_for_a_running_task_says_so() {
    let (app, _client) = ready_node_running_a_task(600).await;
    let down = app
        .host
        .post("/api/scale-down", r#"{"waitSeconds": 10}"#)
        .await;
    assert_eq!(down.status, 202, "{}", down.body);
    assert_eq!(
        down.body["waitingFor"],
        "running tasks are finishing before their nodes leave (taskcompletion)",
        "{}",
        down.body
    );
    assert_eq!(
        down.body["pool"]["targetDedicatedNodes"], 0,
        "{}",
        down.body
    );
    assert_eq!(down.body["pool"]["readyDedicatedNodes"], 0, "{}", down.body);
    assert!(app.killed_tasks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_error_is_reported_with_the_batch_code() {
    let app = spawn_app(SimulatorConfig {
        dedicated_core_quota: 1,
        ..pools(&["adf-pool"])
    })
    .await;
    let response = app
        .scale_up(r#"{"dedicatedNodes": 3, "waitSeconds": 200}"#)
        .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["status"], "failed");
    assert_eq!(response.body["error"]["code"], "ResizeFailed");
    assert_eq!(
        response.body["error"]["batchCode"],
        "AccountCoreQuotaReached"
    );
    assert!(
        response.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 of 3"),
        "{}",
        response.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_start_task_is_a_failure_not_a_success() {
    let app = spawn_app(pools(&[])).await;
    let client = app.batch();
    client
        .create_pool(
            "bad-pool",
            json!({"startTask": {"commandLine": "/bin/bash -c 'exit 1'", "waitForSuccess": true}}),
        )
        .await;
    client.wait_pool("bad-pool", "steady", steady).await;
    let response = app
        .scale_up(r#"{"poolId": "bad-pool", "waitSeconds": 200}"#)
        .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["error"]["code"], "StartTaskFailed");
    assert!(
        response.body["error"]["batchCode"].is_string(),
        "{}",
        response.body
    );
    assert_eq!(response.body["pool"]["readyDedicatedNodes"], 0);
    assert_eq!(
        response.body["pool"]["startTaskFailures"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A node rebooting a month after it joined the pool (maintenance, someone's
/// reboot) is booting again, not stuck: a scale-up waits for it and succeeds,
/// with no resize and no `ProvisionTimedOut`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebooting_a_month_after_it_joined_is_waited_for() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let up = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(up.status, 200, "{}", up.body);
    let month = std::time::Duration::from_secs(30 * 24 * 3600);
    let aged = app.sim.age_nodes("adf-pool", None, month).unwrap();
    assert_eq!(aged.len(), 1);
    app.inject(faults::node_state("adf-pool", "rebooting"));
    let seen = app.sim.events().last().map_or(0, |e| e.seq);

    let again = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["status"], "succeeded");
    assert_eq!(
        again.body["pool"]["readyDedicatedNodes"], 1,
        "{}",
        again.body
    );
    assert_eq!(
        app.accepted("POST", "/pools/adf-pool/resize"),
        1,
        "no resize"
    );
    let came_back: Vec<String> = app
        .sim
        .events_since(seen)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Node { node_id, to, .. } if node_id == aged[0] => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        came_back,
        ["starting", "waitingforstarttask", "idle"],
        "the answer waited for the reboot"
    );
}

/// Batch pool ids are case-insensitive: a request naming `ADF-Pool` is
/// about `adf-pool`, allowed as it is (ALLOWED_POOLS names `adf-pool`) and
/// resized as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_named_in_another_case_is_the_same_pool() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let up = app
        .scale_up(r#"{"poolId": "ADF-Pool", "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["pool"]["readyDedicatedNodes"], 1, "{}", up.body);
    let targets: Vec<String> = app
        .sim
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::PoolTarget { pool_id, .. } => Some(pool_id),
            _ => None,
        })
        .collect();
    assert!(!targets.is_empty() && targets.iter().all(|id| id == "adf-pool"));
    let down = app.scale_down(r#"{"poolId": "ADF-POOL"}"#).await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["currentDedicatedNodes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscale_deleting_and_unknown_pools_are_refused_without_acting() {
    let app = spawn_app(pools(&["auto", "doomed"])).await;
    let client = app.batch();
    let enable = json!({"autoScaleFormula": "$TargetDedicatedNodes = 0;", "autoScaleEvaluationInterval": "PT5M"});
    assert_eq!(
        client
            .call("POST", "/pools/auto/enableautoscale", Some(enable))
            .await
            .status,
        200
    );
    client.wait_pool("auto", "steady", steady).await;

    let response = app
        .host
        .post("/api/scale-up", r#"{"poolId": "auto"}"#)
        .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["error"]["code"], "AutoScaleEnabled");
    assert_eq!(app.accepted("POST", "/pools/auto/resize"), 0);

    let deleting = app
        .host
        .post("/api/scale-down", r#"{"poolId": "missing-pool"}"#)
        .await;
    assert_eq!(deleting.status, 404, "{}", deleting.body);
    assert_eq!(deleting.body["error"]["code"], "PoolNotFound");
    assert_eq!(deleting.body["pool"]["exists"], false);
    let status = app.pool_status("missing-pool").await;
    assert_eq!(status.status, 404, "a plain view of a missing pool says so");
    assert_eq!(status.body["error"]["code"], "PoolNotFound");
    assert_eq!(status.body["pool"]["exists"], false);

    // Grow it, then delete it: scale requests get 409 PoolBeingDeleted.
    assert_eq!(
        client
            .resize("doomed", json!({"targetDedicatedNodes": 2}))
            .await
            .status,
        202
    );
    client
        .wait_pool("doomed", "allocated", |p| p["currentDedicatedNodes"] == 2)
        .await;
    assert_eq!(
        client.call("DELETE", "/pools/doomed", None).await.status,
        202
    );
    let response = app
        .host
        .post("/api/scale-up", r#"{"poolId": "doomed"}"#)
        .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["error"]["code"], "PoolBeingDeleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_status_is_a_read_only_view() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    let view = app.host.get("/api/pool-status").await;
    assert_eq!(view.status, 200, "{}", view.body);
    for key in [
        "allocationState",
        "targetDedicatedNodes",
        "currentDedicatedNodes",
        "nodesByState",
        "resizeErrors",
        "startTaskFailures",
        "readyDedicatedNodes",
    ] {
        assert!(
            view.body["pool"].get(key).is_some(),
            "{key} missing: {}",
            view.body
        );
    }
    assert_eq!(view.body["requested"]["dedicatedNodes"], Value::Null);
    let requests_before = app.sim.events().len();
    app.pool_status("adf-pool").await;
    let writes = app.sim.events()[requests_before..]
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { method, .. } if method != "GET"))
        .count();
    assert_eq!(writes, 0, "a plain status never writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_ridden_out_and_acted_on_once() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    app.inject(faults::status(429, Some(1), "/pools/adf-pool", 2));
    app.sim
        .faults()
        .fail_next(1, 503, Some(1), Some("POST"), Some("/resize"));
    let response = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        app.accepted("POST", "/pools/adf-pool/resize"),
        1,
        "one accepted resize despite the 503"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_gets_a_token_from_the_identity_endpoint() {
    let app = spawn_app_with(pools(&["adf-pool"]), use_managed_identity).await;
    let response = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(response.status, 200, "{}", response.body);

    let token_requests = app
        .sim
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { path, status: 200, .. } if path.starts_with("/msi/token")))
        .count();
    assert!(
        token_requests >= 1,
        "the credential asked the identity endpoint"
    );
    assert!(
        token_requests <= 2,
        "and cached its token: {token_requests} requests"
    );
    let identity_header = &app.sim.ready_info().identity_header;
    let logs = app.host.logs().join("\n");
    assert!(
        logs.contains("ManagedIdentity"),
        "start-up says which credential"
    );
    assert!(!logs.contains(identity_header), "identity header leaked");

    // A wrong identity secret: a clear 502, never a hang.
    let wrong = app
        .instance_with(|settings| {
            settings.insert("IDENTITY_HEADER".into(), "wrong-secret".into());
        })
        .await;
    assert_authentication_fails(&wrong, r#"{"waitSeconds": 5}"#, "wrong-secret").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_account_key_is_a_clear_authentication_failure() {
    const WRONG_KEY: &str = "d3Jvbmcta2V5LXdyb25nLWtleQ==";
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("BATCH_ACCOUNT_KEY".into(), WRONG_KEY.into());
    })
    .await;
    let response = assert_authentication_fails(&app.host, "{}", WRONG_KEY).await;
    assert_eq!(response.body["error"]["batchCode"], "AuthenticationFailed");
}
