//! The simulator through real HTTPS: lifecycle, errors, auth, faults, OData.

use std::time::{Duration, Instant};

use crate::helpers::batch::*;
use batch_simulator::{EventKind, FaultSpec, SimulatorConfig};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_grow_then_shrink_with_taskcompletion() {
    let (s, c) = sim(1000.0, &[]).await;
    c.create_pool("p1", json!({})).await;
    let p = c.wait_pool("p1", "initial steady", steady).await;
    assert_eq!(p["vmSize"], "standard_a1_v2");
    assert_eq!(p["currentDedicatedNodes"], 0);

    let etag0 = p["eTag"].as_str().unwrap().to_string();
    let r = c.resize("p1", json!({"targetDedicatedNodes": 2})).await;
    assert_eq!(r.status, 202);
    let new_etag = r.header("etag").unwrap();
    assert_ne!(new_etag, etag0);
    let p = c.pool("p1").await;
    assert_eq!(p["allocationState"], "resizing");
    assert_eq!(p["targetDedicatedNodes"], 2);
    assert_eq!(p["eTag"], new_etag.as_str());
    assert_eq!(p["lastModified"], p["allocationStateTransitionTime"]);

    // Steady once allocated, before the nodes are idle.
    let p = c
        .wait_pool("p1", "steady at 2", |p| {
            steady(p) && p["currentDedicatedNodes"] == 2
        })
        .await;
    assert_eq!(
        p["eTag"],
        new_etag.as_str(),
        "settling does not move the ETag"
    );
    let nodes = c.wait_nodes("p1", "2 idle", |n| all_in(n, "idle", 2)).await;
    for n in &nodes {
        assert_eq!(n["startTaskInfo"]["state"], "completed");
        assert_eq!(n["startTaskInfo"]["exitCode"], 0);
        assert_eq!(n["startTaskInfo"]["result"], "success");
        assert!(n.get("lastBootTime").is_some());
    }
    let ev = s.events();
    let steady_at = ev.iter().position(|e| matches!(&e.kind, EventKind::PoolTarget { allocation_state, target_dedicated_nodes: 2, .. } if allocation_state == "steady")).unwrap();
    let first_idle = ev
        .iter()
        .position(|e| matches!(&e.kind, EventKind::Node { to, .. } if to == "idle"))
        .unwrap();
    assert!(
        steady_at < first_idle,
        "pool goes steady before nodes are idle"
    );

    // A running task on one node, then shrink to 0 with taskcompletion.
    assert_eq!(c.add_job("j1", "p1").await.status, 201);
    assert_eq!(
        c.add_task("j1", "t1", "/bin/bash -c 'sleep 400'")
            .await
            .status,
        201
    );
    let t = c.call("GET", "/jobs/j1/tasks/t1", None).await;
    assert_eq!(t.body["state"], "running");
    let nodes = c.nodes("p1").await;
    assert_eq!(nodes.iter().filter(|n| n["state"] == "running").count(), 1);
    let r = c
        .resize(
            "p1",
            json!({"targetDedicatedNodes": 0, "nodeDeallocationOption": "taskcompletion"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let p = c
        .wait_pool("p1", "steady at 0", |p| {
            steady(p) && p["currentDedicatedNodes"] == 0
        })
        .await;
    assert_eq!(p["targetDedicatedNodes"], 0);
    let t = c.call("GET", "/jobs/j1/tasks/t1", None).await;
    assert_eq!(t.body["state"], "completed");
    assert_eq!(t.body["executionInfo"]["exitCode"], 0);
    let tc = c.call("GET", "/jobs/j1/taskcounts", None).await;
    assert_eq!(tc.body["taskCounts"]["succeeded"], 1);

    // Invariant from the event log: no running task was ever killed.
    for e in s.events() {
        if let EventKind::Task { from, reason, .. } = &e.kind {
            assert!(
                !(from == "running" && reason != "completed"),
                "task killed: {e:?}"
            );
        }
    }
    // The HTTP event log says the same.
    let log = c.control("GET", "/events?since=0", None).await;
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "request"
                && e["path"] == "/pools/p1/resize"
                && e["status"] == 202)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_and_terminate_affect_running_tasks() {
    let (s, c) = sim(1000.0, &["p1"]).await;
    c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    c.wait_nodes("p1", "idle", |n| all_in(n, "idle", 1)).await;
    c.add_job("j", "p1").await;
    c.add_task("j", "t", "sleep 100000").await;
    c.wait_pool("p1", "steady", steady).await;
    assert_eq!(
        c.resize(
            "p1",
            json!({"targetDedicatedNodes": 0, "nodeDeallocationOption": "terminate"})
        )
        .await
        .status,
        202
    );
    let t = c.call("GET", "/jobs/j/tasks/t", None).await;
    assert_eq!(t.body["state"], "completed");
    assert_eq!(t.body["executionInfo"]["result"], "failure");
    c.wait_pool("p1", "0", |p| steady(p) && p["currentDedicatedNodes"] == 0)
        .await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_task_failure_and_no_wait() {
    let (s, c) = sim(1000.0, &[]).await;
    c.create_pool("bad", json!({"targetDedicatedNodes": 1, "startTask": {"commandLine": "/bin/bash -c 'exit 3'", "waitForSuccess": true}})).await;
    let n = c
        .wait_nodes("bad", "starttaskfailed", |n| {
            all_in(n, "starttaskfailed", 1)
        })
        .await;
    let sti = &n[0]["startTaskInfo"];
    assert_eq!(sti["exitCode"], 3);
    assert_eq!(sti["result"], "failure");
    assert_eq!(sti["failureInfo"]["category"], "UserError");
    assert_eq!(sti["failureInfo"]["code"], "FailureExitCode");
    c.create_pool("nowait", json!({"targetDedicatedNodes": 1, "startTask": {"commandLine": "sleep 100000", "waitForSuccess": false}})).await;
    let n = c
        .wait_nodes("nowait", "idle", |n| all_in(n, "idle", 1))
        .await;
    assert_eq!(n[0]["startTaskInfo"]["state"], "running");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_cases() {
    let (s, c) = sim(1000.0, &["p1"]).await;
    // Body without targets (checked before existence, as recorded).
    let r = c.resize("nope", json!({})).await;
    assert_eq!((r.status, r.code()), (400, "MissingRequiredProperty"));
    assert_eq!(
        r.body["values"],
        json!([{"key": "PropertyName", "value": "targetDedicatedNodes and/or targetLowPriorityNodes"}])
    );
    let r = c.resize("nope", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!((r.status, r.code()), (404, "PoolNotFound"));
    assert!(r.body.get("values").is_none());
    let r = c.call("GET", "/pools/nope", None).await;
    assert_eq!((r.status, r.code()), (404, "PoolNotFound"));
    assert!(
        r.body["message"]["value"]
            .as_str()
            .unwrap()
            .contains("\nRequestId:")
    );
    let r = c.call("HEAD", "/pools/nope", None).await;
    assert_eq!(r.status, 404);
    let r = c.call("HEAD", "/pools/p1", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("etag").unwrap().starts_with("0x"));
    // Short resize timeout, bad JSON, bad dealloc.
    let r = c
        .resize(
            "p1",
            json!({"targetDedicatedNodes": 1, "resizeTimeout": "PT4M"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidPropertyValue"));
    let r = c.resize("p1", json!({"targetDedicatedNodes": "x"})).await;
    assert_eq!(r.status, 400);
    let r = c
        .resize(
            "p1",
            json!({"targetDedicatedNodes": 1, "nodeDeallocationOption": "nope"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidPropertyValue"));
    // api-version.
    let r = c.call("GET", "/pools/p1?noapiversion", None).await;
    assert_eq!((r.status, r.code()), (400, "MissingRequiredQueryParameter"));
    let r = c
        .call("GET", "/pools/p1?api-version=2020-01-01.1.0", None)
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidQueryParameterValue"));
    assert_eq!(r.body["values"][0]["value"], "api-version");
    // Every published version is served, each in its own shape.
    for v in batch_simulator::API_VERSIONS {
        let r = c
            .call("GET", &format!("/pools/p1?api-version={v}"), None)
            .await;
        assert_eq!(r.status, 200, "{v}: {}", r.body);
    }
    let old = c
        .call("GET", "/pools/p1?api-version=2017-01-01.4.0", None)
        .await;
    assert!(
        old.body.get("targetDedicated").is_some() && old.body.get("targetDedicatedNodes").is_none()
    );
    // Numbers sent as strings are read as OData reads them (the Azure CLI sends them so).
    let r = c.resize("p1", json!({"targetDedicatedNodes": "0"})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    // A property the body type does not have is refused, not ignored.
    let r = c
        .call(
            "PATCH",
            "/pools/p1",
            Some(json!({"targetDedicatedNodes": 3})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequestBody"));
    // $select and $filter name properties and values the type has.
    let r = c.call("GET", "/pools/p1?$select=id,nope", None).await;
    assert_eq!((r.status, r.code()), (400, "InvalidQueryParameterValue"));
    let r = c
        .call("GET", "/pools?$filter=state%20eq%20'bogus'", None)
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidQueryParameterValue"));
    c.wait_pool("p1", "steady", |p| p["allocationState"] == "steady")
        .await;
    // Resize while resizing.
    assert_eq!(
        c.resize("p1", json!({"targetDedicatedNodes": 3}))
            .await
            .status,
        202
    );
    let r = c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!((r.status, r.code()), (409, "PoolBeingResized"));
    c.wait_pool("p1", "steady", steady).await;
    // PATCH with If-Match.
    let p = c.pool("p1").await;
    let etag = p["eTag"].as_str().unwrap().to_string();
    let md = json!({"metadata": [{"name": "lease", "value": "a"}]});
    let r = c
        .call_with(
            "PATCH",
            "/pools/p1",
            Some(md.clone()),
            &[("if-match", &etag)],
            Auth::Key,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .call_with(
            "PATCH",
            "/pools/p1",
            Some(md),
            &[("if-match", &etag)],
            Auth::Key,
        )
        .await;
    assert_eq!((r.status, r.code()), (412, "ConditionNotMet"));
    assert_eq!(
        c.pool("p1").await["metadata"],
        json!([{"name": "lease", "value": "a"}])
    );
    // Autoscale on -> resize refused; off -> works again.
    let r = c.call("POST", "/pools/p1/enableautoscale", Some(json!({"autoScaleFormula": "$TargetDedicatedNodes=1", "autoScaleEvaluationInterval": "PT5M"}))).await;
    assert_eq!(r.status, 200);
    let p = c.pool("p1").await;
    assert_eq!(p["enableAutoScale"], true);
    assert_eq!(p["autoScaleFormula"], "$TargetDedicatedNodes=1");
    let r = c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!((r.status, r.code()), (409, "OperationNotValidOnPool"));
    assert_eq!(
        c.call("POST", "/pools/p1/disableautoscale", None)
            .await
            .status,
        200
    );
    assert!(c.pool("p1").await.get("autoScaleFormula").is_none());
    // Delete -> deleting -> 409 -> gone.
    assert_eq!(c.call("DELETE", "/pools/p1", None).await.status, 202);
    let p = c.pool("p1").await;
    assert_eq!(
        (p["state"].as_str(), p["allocationState"].as_str()),
        (Some("deleting"), Some("resizing"))
    );
    let r = c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!((r.status, r.code()), (409, "PoolBeingDeleted"));
    let r = c
        .call("PATCH", "/pools/p1", Some(json!({"metadata": []})))
        .await;
    assert_eq!((r.status, r.code()), (409, "PoolBeingDeleted"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.call("GET", "/pools/p1", None).await.status != 404 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_stopresize_and_removenodes() {
    let (s, c) = sim_with(SimulatorConfig {
        time_scale: 1000.0,
        pools: vec!["p1".into()],
        dedicated_core_quota: 3,
        ..Default::default()
    })
    .await;
    c.resize("p1", json!({"targetDedicatedNodes": 5})).await;
    let p = c.wait_pool("p1", "steady", steady).await;
    assert_eq!(p["currentDedicatedNodes"], 3);
    assert_eq!(p["targetDedicatedNodes"], 5);
    assert_eq!(p["resizeErrors"][0]["code"], "AccountCoreQuotaReached");
    // removenodes: target drops at once, current stays until the node leaves.
    let nodes = c.nodes("p1").await;
    let id = nodes[0]["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            "POST",
            "/pools/p1/removenodes",
            Some(json!({"nodeList": [id]})),
        )
        .await;
    assert_eq!(r.status, 202);
    let p = c.pool("p1").await;
    assert_eq!(
        (
            p["targetDedicatedNodes"].as_u64(),
            p["currentDedicatedNodes"].as_u64()
        ),
        (Some(2), Some(3)),
        "target = nodes that stay"
    );
    assert!(
        p.get("resizeErrors").is_none(),
        "errors cleared by the next resize"
    );
    let p = c.wait_pool("p1", "steady", steady).await;
    assert_eq!(p["currentDedicatedNodes"], 2);
    let too_many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    let r = c
        .call(
            "POST",
            "/pools/p1/removenodes",
            Some(json!({"nodeList": too_many})),
        )
        .await;
    assert_eq!(r.status, 400);
    // stopresize: resizing -> stopping -> steady with ResizeStopped, targets kept.
    c.resize(
        "p1",
        json!({"targetDedicatedNodes": 1, "targetLowPriorityNodes": 2}),
    )
    .await;
    c.wait_pool("p1", "steady", steady).await;
    c.resize("p1", json!({"targetLowPriorityNodes": 3})).await;
    assert_eq!(
        c.call("POST", "/pools/p1/stopresize", None).await.status,
        202
    );
    // `stopping` lasts 5 simulated seconds, 5 ms here: a loaded machine may
    // look only after it, so the event log is the witness, not a GET.
    let p = c.wait_pool("p1", "steady", steady).await;
    assert!(
        s.events().iter().any(|e| matches!(
            &e.kind,
            EventKind::PoolTarget { pool_id, allocation_state, .. }
                if pool_id == "p1" && allocation_state == "stopping"
        )),
        "the pool went through stopping"
    );
    assert_eq!(p["targetLowPriorityNodes"], 3);
    assert_eq!(p["currentLowPriorityNodes"], 2);
    assert_eq!(p["resizeErrors"][0]["code"], "ResizeStopped");
    assert_eq!(
        p["resizeErrors"][0]["message"],
        "Desired number of dedicated nodes could not be allocated due to a stop resize operation"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odata_select_filter_paging() {
    let (s, c) = sim(1000.0, &["a", "b", "c"]).await;
    let r = c.call("GET", "/pools/a?$select=id,state", None).await;
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{:?}", r.body);
    assert_eq!(r.body["state"], "active");
    let r = c.call("GET", "/pools?maxresults=2", None).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let next = r.body["odata.nextLink"].as_str().unwrap().to_string();
    let rest = next.strip_prefix(&c.endpoint).unwrap();
    let r2 = c.call("GET", rest, None).await;
    assert_eq!(r2.status, 200, "{:?}", r2.body);
    assert_eq!(r2.body["value"][0]["id"], "c");
    assert!(r2.body.get("odata.nextLink").is_none());
    let r = c.call("GET", "/pools?maxresults=-5", None).await;
    assert_eq!((r.status, r.code()), (400, "InvalidQueryParameterValue"));
    let r = c.call("GET", "/pools?$filter=id%20eq%20'b'", None).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let r = c.call("GET", "/pools?$filter=id%20eq", None).await;
    assert_eq!(r.status, 400);
    // Node filters.
    c.resize("a", json!({"targetDedicatedNodes": 3})).await;
    c.wait_nodes("a", "idle", |n| all_in(n, "idle", 3)).await;
    c.add_job("j", "a").await;
    c.add_task("j", "t", "sleep 100000").await;
    let q = |f: &str| format!("/pools/a/nodes?$filter={}", f.replace(' ', "%20"));
    let count = |r: &Resp| r.body["value"].as_array().unwrap().len();
    assert_eq!(count(&c.call("GET", &q("state eq 'idle'"), None).await), 2);
    assert_eq!(count(&c.call("GET", &q("state ne 'idle'"), None).await), 1);
    assert_eq!(
        count(
            &c.call("GET", &q("state eq 'idle' or state eq 'running'"), None)
                .await
        ),
        3
    );
    assert_eq!(
        count(
            &c.call(
                "GET",
                &q("startTaskInfo/state eq 'completed' and state eq 'running'"),
                None
            )
            .await
        ),
        1
    );
    let r = c
        .call("GET", "/pools/a/nodes?maxresults=2&$select=id,state", None)
        .await;
    assert_eq!(count(&r), 2);
    assert_eq!(r.body["value"][0].as_object().unwrap().len(), 2);
    assert!(r.body["odata.nextLink"].is_string());
    let r = c.call("GET", "/nodecounts", None).await;
    let a = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["poolId"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["dedicated"]["idle"], 2);
    assert_eq!(a["dedicated"]["running"], 1);
    assert_eq!(a["dedicated"]["total"], 3);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_and_tokens() {
    let (s, c) = sim_with(SimulatorConfig {
        time_scale: 100.0,
        pools: vec!["p1".into()],
        token_lifetime: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    assert_eq!(c.call("GET", "/pools/p1", None).await.status, 200);
    let r = c
        .call_with("GET", "/pools/p1", None, &[], Auth::WrongKey)
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthenticationFailed"));
    let r = c.call_with("GET", "/pools/p1", None, &[], Auth::None).await;
    assert_eq!((r.status, r.code()), (400, "MissingRequiredHeader"));
    assert_eq!(
        r.body["values"],
        json!([{"key": "HeaderName", "value": "Authorization"}])
    );
    // Signed zero-length POST with empty content-length works too (stopresize).
    let r = c.call("POST", "/pools/p1/stopresize", None).await;
    assert_eq!(r.status, 202);
    // Query names: sign lower-cased even though sent as timeOut.
    assert_eq!(
        c.call("GET", "/pools/p1?timeOut=30", None).await.status,
        200
    );

    let info = s.ready_info().clone();
    let tok = |hdr: Option<String>, resource: &str| {
        let mut rb = c.http.get(format!(
            "{}?api-version=2019-08-01&resource={resource}",
            info.identity_endpoint
        ));
        if let Some(h) = hdr {
            rb = rb.header("X-IDENTITY-HEADER", h);
        }
        rb.send()
    };
    let r = tok(
        Some(info.identity_header.clone()),
        "https://batch.core.windows.net/",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(body["expires_on"].is_string());
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        c.call_with("GET", "/pools/p1", None, &[], Auth::Bearer(token))
            .await
            .status,
        200
    );
    assert_eq!(
        tok(None, "https://batch.core.windows.net/")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        tok(Some("wrong".into()), "https://batch.core.windows.net/")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        tok(
            Some(info.identity_header.clone()),
            "https://vault.azure.net"
        )
        .await
        .unwrap()
        .status(),
        400
    );
    assert_eq!(
        tok(
            Some(info.identity_header.clone()),
            "https://batch.core.windows.net"
        )
        .await
        .unwrap()
        .status(),
        200
    );

    let wrong = s.issue_token("https://management.azure.com/", Duration::from_secs(60));
    let r = c
        .call_with("GET", "/pools/p1", None, &[], Auth::Bearer(wrong))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, "InvalidAuthenticationTokenAudience")
    );
    let expired = s.issue_token("https://batch.core.windows.net/", Duration::ZERO);
    let r = c
        .call_with("GET", "/pools/p1", None, &[], Auth::Bearer(expired))
        .await;
    assert_eq!((r.status, r.code()), (401, "ExpiredAuthenticationToken"));
    let r = c
        .call_with(
            "GET",
            "/pools/p1",
            None,
            &[],
            Auth::Bearer("made-up".into()),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"));
    // Control-surface minting.
    let t = c
        .control(
            "POST",
            "/tokens",
            Some(json!({"resource": "https://batch.core.windows.net/", "lifetimeSecs": 60})),
        )
        .await;
    let r = c
        .call_with(
            "GET",
            "/pools/p1",
            None,
            &[],
            Auth::Bearer(t["access_token"].as_str().unwrap().into()),
        )
        .await;
    assert_eq!(r.status, 200);
    // client-request-id echo.
    let r = c
        .call_with(
            "GET",
            "/pools/p1",
            None,
            &[
                ("client-request-id", "abc-123"),
                ("return-client-request-id", "true"),
            ],
            Auth::Key,
        )
        .await;
    assert_eq!(r.header("client-request-id").as_deref(), Some("abc-123"));
    assert_eq!(r.header("dataserviceversion").as_deref(), Some("3.0"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json; odata=minimalmetadata")
    );
    assert!(r.header("request-id").is_some());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_faults() {
    let (s, c) = sim(1000.0, &["p1"]).await;
    c.control("POST", "/faults", Some(json!({"kind": "status", "status": 429, "retryAfter": 7, "pathContains": "/pools/p1", "count": 2}))).await;
    for _ in 0..2 {
        let r = c.call("GET", "/pools/p1", None).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after").as_deref(), Some("7"));
        assert!(r.body["message"]["value"].is_string());
    }
    assert_eq!(c.call("GET", "/pools/p1", None).await.status, 200);
    s.faults()
        .inject(FaultSpec::Status {
            status: 503,
            code: None,
            retry_after: None,
            method: Some("POST".into()),
            path_contains: None,
            count: 1,
        })
        .unwrap();
    let r = c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!((r.status, r.code()), (503, "ServerBusy"));
    assert!(r.header("retry-after").is_some());
    s.faults().fail_next(1, 500, None, None, Some("/pools"));
    let r = c.call("GET", "/pools/p1", None).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    // Drop: the request fails at the transport level.
    c.control("POST", "/faults", Some(json!({"kind": "drop", "count": 1})))
        .await;
    let err = c
        .http
        .get(c.url("/pools/p1?api-version=2025-06-01"))
        .send()
        .await;
    assert!(err.is_err(), "connection should be dropped");
    // Latency.
    c.control(
        "POST",
        "/faults",
        Some(json!({"kind": "latency", "ms": 300, "count": 1})),
    )
    .await;
    let t0 = Instant::now();
    assert_eq!(c.call("GET", "/pools/p1", None).await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let faults = c.control("GET", "/faults", None).await;
    assert_eq!(faults["faults"], json!([]));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_faults_and_node_faults() {
    let (s, c) = sim(2000.0, &["p1", "p2"]).await;
    c.control(
        "POST",
        "/faults",
        Some(json!({"kind": "allocationFailure", "poolId": "p1", "afterNodes": 1})),
    )
    .await;
    c.resize("p1", json!({"targetDedicatedNodes": 3})).await;
    let p = c.wait_pool("p1", "steady", steady).await;
    assert_eq!(p["currentDedicatedNodes"], 1);
    assert_eq!(p["resizeErrors"][0]["code"], "AllocationFailed");
    // Stall -> AllocationTimedout at resizeTimeout (5 simulated minutes here).
    s.faults()
        .inject(FaultSpec::AllocationStall {
            pool_id: "p2".into(),
        })
        .unwrap();
    c.resize(
        "p2",
        json!({"targetDedicatedNodes": 2, "resizeTimeout": "PT5M"}),
    )
    .await;
    let p = c.wait_pool("p2", "steady", steady).await;
    assert_eq!(p["currentDedicatedNodes"], 0);
    assert_eq!(p["resizeErrors"][0]["code"], "AllocationTimedout");
    // Node faults.
    c.wait_nodes("p1", "idle", |n| all_in(n, "idle", 1)).await;
    let r = c
        .control(
            "POST",
            "/faults",
            Some(json!({"kind": "nodeState", "poolId": "p1", "state": "unusable"})),
        )
        .await;
    assert!(r["nodeId"].is_string(), "{r}");
    let n = c.nodes("p1").await;
    assert_eq!(n[0]["state"], "unusable");
    s.shutdown().await;
}

/// A node that joined a month ago and reboots, through the control surface: its times as
/// Batch shows them (the recorded reboot and reimage): `allocationTime` stays, `lastBootTime`
/// is the boot before until the node is up again, `stateTransitionTime` is the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_aged_a_month_reboots_as_batch_shows_it() {
    let (s, c) = sim(2000.0, &["p1"]).await;
    c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    c.wait_nodes("p1", "idle", |n| all_in(n, "idle", 1)).await;
    let month = time::Duration::days(30);
    let r = c
        .control(
            "POST",
            "/age",
            Some(json!({"poolId": "p1", "seconds": month.whole_seconds()})),
        )
        .await;
    assert_eq!(r["nodeIds"].as_array().map(Vec::len), Some(1), "{r}");
    let ts = |n: &Value, key: &str| {
        time::OffsetDateTime::parse(
            n[key].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let aged = c.nodes("p1").await.remove(0);
    assert!(s.now() - ts(&aged, "allocationTime") > month);
    assert!(s.now() - ts(&aged, "lastBootTime") > month);

    let r = c
        .control(
            "POST",
            "/faults",
            Some(json!({"kind": "nodeState", "poolId": "p1", "state": "rebooting"})),
        )
        .await;
    assert_eq!(r["nodeId"], aged["id"], "{r}");
    let rebooting = c.nodes("p1").await.remove(0);
    assert_eq!(rebooting["state"], "rebooting");
    assert!(s.now() - ts(&rebooting, "stateTransitionTime") < time::Duration::minutes(5));
    assert_eq!(
        rebooting["lastBootTime"], aged["lastBootTime"],
        "the boot before"
    );
    assert_eq!(rebooting["allocationTime"], aged["allocationTime"]);

    let back = c
        .wait_nodes("p1", "idle again", |n| all_in(n, "idle", 1))
        .await
        .remove(0);
    assert_eq!(back["allocationTime"], aged["allocationTime"]);
    assert!(s.now() - ts(&back, "lastBootTime") < time::Duration::minutes(15));
    let walk: Vec<String> = s
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Node { to, .. } => Some(to),
            _ => None,
        })
        .skip_while(|to| to != "rebooting")
        .collect();
    assert_eq!(
        walk,
        ["rebooting", "starting", "waitingforstarttask", "idle"]
    );

    // What the control surface refuses.
    for (body, code) in [
        (json!({"poolId": "nope", "seconds": 60}), "PoolNotFound"),
        (
            json!({"poolId": "p1", "nodeId": "nope", "seconds": 60}),
            "NodeNotFound",
        ),
        (json!({"poolId": "p1", "seconds": -1}), "InvalidRequestBody"),
        (json!({"poolId": "p1", "days": 1}), "InvalidRequestBody"),
        (
            json!({"poolId": "p1", "seconds": 400_000_000}),
            "InvalidPropertyValue",
        ),
    ] {
        let r = c.control("POST", "/age", Some(body.clone())).await;
        assert_eq!(r["code"], code, "{body} -> {r}");
    }
    s.shutdown().await;
}

/// Pool ids as Batch treats them: case-preserving, case-insensitive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_ids_are_case_insensitive_and_case_preserving() {
    let (s, c) = sim(2000.0, &[]).await;
    c.create_pool("P1", json!({})).await;
    c.wait_pool("P1", "steady", steady).await;
    let again = c
        .call(
            "POST",
            "/pools",
            Some(json!({"id": "p1", "vmSize": "standard_a1_v2"})),
        )
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.code(), "PoolExists");
    let p = c.pool("p1").await;
    assert_eq!(p["id"], "P1", "answers with its own id");
    assert!(p["url"].as_str().unwrap().ends_with("/pools/P1"), "{p}");
    let r = c.resize("p1", json!({"targetDedicatedNodes": 1})).await;
    assert_eq!(r.status, 202);
    assert!(
        r.header("dataserviceid")
            .unwrap()
            .ends_with("/pools/P1/resize"),
        "{:?}",
        r.header("dataserviceid")
    );
    let n = c.wait_nodes("p1", "idle", |n| all_in(n, "idle", 1)).await;
    assert!(n[0]["url"].as_str().unwrap().contains("/pools/P1/nodes/"));
    let listed = c.call("GET", "/pools", None).await;
    let ids: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["P1"]);
    assert!(s.events().iter().all(|e| match &e.kind {
        EventKind::PoolTarget { pool_id, .. } | EventKind::Node { pool_id, .. } => pool_id == "P1",
        _ => true,
    }));
    let counts = c.call("GET", "/nodecounts", None).await;
    assert_eq!(counts.body["value"][0]["poolId"], "P1");
    assert_eq!(c.call("DELETE", "/pools/p1", None).await.status, 202);
    assert_eq!(c.pool("P1").await["state"], "deleting");
    s.shutdown().await;
}

/// The event log keeps its newest events only, and says what a reader missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_keeps_the_newest_events_and_says_what_was_dropped() {
    let (s, c) = sim_with(SimulatorConfig {
        pools: vec!["p1".into()],
        event_log_capacity: 5,
        ..Default::default()
    })
    .await;
    let start = c.control("GET", "/events?since=0", None).await;
    assert_eq!(
        (&start["dropped"], &start["missed"]),
        (&json!(0), &json!(0)),
        "nothing dropped yet: {start}"
    );
    for _ in 0..8 {
        assert_eq!(c.call("GET", "/pools/p1", None).await.status, 200);
    }
    let all = c.control("GET", "/events?since=0", None).await;
    let seqs: Vec<u64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let last = all["lastSeq"].as_u64().unwrap();
    assert!(last >= 8, "{all}");
    assert_eq!(
        seqs,
        ((last - 4)..=last).collect::<Vec<_>>(),
        "the newest five"
    );
    assert_eq!(all["dropped"], last - 5);
    assert_eq!(all["missed"], last - 5, "a reader from 0 missed them all");
    let recent = c
        .control("GET", &format!("/events?since={}", last - 2), None)
        .await;
    assert_eq!(recent["events"].as_array().unwrap().len(), 2);
    assert_eq!(recent["missed"], 0, "{recent}");
    let behind = c
        .control("GET", &format!("/events?since={}", last - 7), None)
        .await;
    assert_eq!(behind["missed"], 2, "{behind}");
    assert_eq!(s.events_dropped(), last - 5);
    assert_eq!(s.events().first().map(|e| e.seq), Some(last - 4));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deterministic_for_same_seed() {
    async fn run() -> Vec<String> {
        let (s, c) = sim(1000.0, &["p1"]).await;
        c.resize("p1", json!({"targetDedicatedNodes": 2})).await;
        c.wait_nodes("p1", "idle", |n| all_in(n, "idle", 2)).await;
        let ids = c
            .nodes("p1")
            .await
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        s.shutdown().await;
        ids
    }
    // Node ids derive from seed, pool and creation time; the node *order of states* is seeded.
    let a = run().await;
    let b = run().await;
    assert_eq!(a.len(), b.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_keep_alive() {
    let (s, c) = sim(1.0, &["p1"]).await;
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let http = c.http.clone();
        let url = c.url("/_simulator/health");
        let url2 = c.url("/pools/p1?api-version=2025-06-01");
        handles.push(tokio::spawn(async move {
            for i in 0..250 {
                let u = if i % 2 == 0 { &url } else { &url2 };
                let r = http.get(u).send().await.unwrap();
                let _ = r.bytes().await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let el = t0.elapsed();
    assert!(el < Duration::from_secs(10), "2000 requests took {el:?}");
    s.shutdown().await;
}

/// The fences pool-resizer relies on, under the service's ETag semantics: a stop-resize
/// keeps the ETag of the resize it stops (its 202, the `stopping` GET and the steady one
/// with `ResizeStopped`), so a lease write or a resize decided from a look taken before
/// the stop still lands (the stop changed neither targets nor metadata); what the
/// `If-Match` fences still refuse is a write based on a look older than another
/// resize or lease write, including a stop of a resize that was since replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_fences_writes_not_stops() {
    // Slow enough that the stop comes long before the VMs are allocated.
    let (s, c) = sim(20.0, &["p1"]).await;
    let if_match = |e: &str| vec![("if-match".to_string(), e.to_string())];
    let call = |method: &'static str, path: &'static str, body: Option<Value>, etag: String| {
        let c = &c;
        async move {
            let h = if_match(&etag);
            let extra: Vec<(&str, &str)> =
                h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            c.call_with(method, path, body, &extra, Auth::Key).await
        }
    };
    let resize = c.resize("p1", json!({"targetDedicatedNodes": 2})).await;
    let e1 = resize.header("etag").unwrap();
    assert_eq!(
        resize.header("dataserviceid").unwrap(),
        format!("{}/pools/p1/resize", s.ready_info().endpoint)
    );
    // A stop fenced on the resize's ETag: accepted, and the ETag stays.
    let stop = call("POST", "/pools/p1/stopresize", None, e1.clone()).await;
    assert_eq!(stop.status, 202);
    assert_eq!(stop.header("etag").as_deref(), Some(e1.as_str()));
    assert!(
        stop.header("dataserviceid")
            .unwrap()
            .ends_with("/pools/p1/stopresize")
    );
    assert_eq!(c.pool("p1").await["allocationState"], "stopping");
    // A second caller's stop, decided from the same look: also accepted (a no-op).
    assert_eq!(
        call("POST", "/pools/p1/stopresize", None, e1.clone())
            .await
            .status,
        202
    );
    let p = c.wait_pool("p1", "stopped", steady).await;
    assert_eq!(p["eTag"], e1.as_str(), "steady with ResizeStopped keeps it");
    assert_eq!(p["resizeErrors"][0]["code"], "ResizeStopped");
    // A lease write read before the stop still lands: the stop changed no metadata.
    let lease = call(
        "PATCH",
        "/pools/p1",
        Some(json!({"metadata": [{"name": "pool-resizer-lease:a", "value": "{}"}]})),
        e1.clone(),
    )
    .await;
    assert_eq!(lease.status, 200, "{}", lease.body);
    let e2 = lease.header("etag").unwrap();
    assert_ne!(e2, e1, "a lease write moves the ETag");
    // Anything still fenced on the look before that write is refused: a resize, a stop.
    let stale = call(
        "POST",
        "/pools/p1/resize",
        Some(json!({"targetDedicatedNodes": 0})),
        e1.clone(),
    )
    .await;
    assert_eq!((stale.status, stale.code()), (412, "ConditionNotMet"));
    let grow = call(
        "POST",
        "/pools/p1/resize",
        Some(json!({"targetDedicatedNodes": 3})),
        e2.clone(),
    )
    .await;
    assert_eq!(grow.status, 202);
    assert_eq!(
        call("POST", "/pools/p1/stopresize", None, e2).await.status,
        412,
        "a stop decided before another caller's resize does not stop that resize"
    );
    s.shutdown().await;
}
