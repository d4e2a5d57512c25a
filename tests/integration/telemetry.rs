//! Telemetry as Application Insights receives it: the handler's connection
//! string points at a loopback HTTPS stand-in of the ingestion endpoint
//! (helpers/ingestion.rs), and the tests read what arrives. Export happens
//! in the background and is flushed at shutdown (SIGTERM), so each test
//! stops the handler and then reads.

use crate::helpers::app::{STATUS_URL_SECRET, pools, spawn_app_with};
use crate::helpers::host::FUNCTION_KEY;
use crate::helpers::ingestion::{INSTRUMENTATION_KEY, Ingestion, Mode};
use serde_json::Value;

const LEASE_ID: &str = "pipeline-run-7f3e9c2a-secret-lease";

fn base_data(envelope: &Value) -> &Value {
    &envelope["data"]["baseData"]
}

fn base_type(envelope: &Value) -> &str {
    envelope["data"]["baseType"].as_str().unwrap_or("")
}

/// The metric envelopes named `name`: (properties, value).
fn metrics<'a>(envelopes: &'a [Value], name: &str) -> Vec<(&'a Value, f64)> {
    envelopes
        .iter()
        .filter(|e| base_type(e) == "MetricData")
        .filter_map(|e| {
            let data = base_data(e);
            let metric = data["metrics"].as_array()?.first()?;
            (metric["name"] == name)
                .then(|| (&data["properties"], metric["value"].as_f64().unwrap()))
        })
        .collect()
}

fn with_ingestion(
    ingestion: &Ingestion,
) -> impl FnOnce(&mut crate::helpers::app::Settings, &batch_simulator::Simulator) + '_ {
    move |settings, _| {
        settings.insert(
            "APPLICATIONINSIGHTS_CONNECTION_STRING".into(),
            ingestion.connection_string(),
        );
        settings.insert(
            "TELEMETRY_CA_FILE".into(),
            ingestion.ca_file.display().to_string(),
        );
    }
}

#[tokio::test]
async fn a_scale_up_and_a_scale_down_arrive_as_metrics_and_requests_without_secrets() {
    let ingestion = Ingestion::start(Mode::Accept).await;
    let mut app = spawn_app_with(pools(&["adf-pool"]), with_ingestion(&ingestion)).await;
    let up = app
        .scale_up(&format!(
            r#"{{"dedicatedNodes": 1, "waitSeconds": 200, "leaseId": "{LEASE_ID}"}}"#
        ))
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let down = app
        .scale_down(&format!(
            r#"{{"waitSeconds": 200, "leaseId": "{LEASE_ID}"}}"#
        ))
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(app.host.terminate().await, Some(0));

    let envelopes = ingestion.envelopes();
    let answers = metrics(&envelopes, "poolresizer.answers");
    // The scale-up answers 202 and its status URL, followed, 200.
    for (operation, status, code) in [
        ("scale-up", "inProgress", "202"),
        ("operation-status", "succeeded", "200"),
        ("scale-down", "succeeded", "200"),
    ] {
        assert!(
            answers.iter().any(|(p, n)| p["operation"] == operation
                && p["pool"] == "adf-pool"
                && p["status"] == status
                && p["httpStatus"] == code
                && *n >= 1.0),
            "no {operation} answer among {answers:?}"
        );
    }
    let resizes = metrics(&envelopes, "poolresizer.resizes");
    assert!(
        resizes.iter().any(|(p, _)| p["operation"] == "scale-up")
            && resizes.iter().any(|(p, _)| p["operation"] == "scale-down"),
        "{resizes:?}"
    );
    assert!(!metrics(&envelopes, "poolresizer.batch.calls").is_empty());
    assert!(!metrics(&envelopes, "poolresizer.answer.seconds").is_empty());

    // One request per operation, beside the host's: the same invocation id.
    let requests: Vec<&Value> = envelopes
        .iter()
        .filter(|e| base_type(e) == "RequestData")
        .map(base_data)
        .collect();
    for answer in [&up, &down] {
        let request = requests
            .iter()
            .find(|r| r["properties"]["InvocationId"] == answer.invocation_id.as_str())
            .unwrap_or_else(|| panic!("no request for {}: {requests:?}", answer.invocation_id));
        assert_eq!(request["responseCode"], answer.status.to_string());
        assert_eq!(request["properties"]["pool"], "adf-pool");
    }

    // Nothing secret: not the lease id, the account key, the function key,
    // the status URL secret; the instrumentation key only as each envelope's iKey.
    let raw = ingestion.raw();
    let account_key = app.settings["BATCH_ACCOUNT_KEY"].clone();
    for secret in [
        LEASE_ID,
        &account_key,
        FUNCTION_KEY,
        STATUS_URL_SECRET,
        "code=",
    ] {
        assert!(!raw.contains(secret), "{secret} was sent: {raw}");
    }
    assert_eq!(
        raw.matches(INSTRUMENTATION_KEY).count(),
        envelopes.len(),
        "the instrumentation key outside iKey"
    );
}

/// Ingestion that takes an upload and never answers: every answer still
/// comes, the spans that do not fit the bounded queue are dropped (the SDK
/// counts them and says so), and the handler stops within its bound.
#[tokio::test]
async fn with_ingestion_hanging_answers_keep_coming_and_spans_are_dropped() {
    let ingestion = Ingestion::start(Mode::Hang).await;
    let mut app = spawn_app_with(pools(&["adf-pool"]), |settings, sim| {
        with_ingestion(&ingestion)(settings, sim);
        settings.insert("OTEL_BSP_MAX_QUEUE_SIZE".into(), "2".into());
        settings.insert("OTEL_BSP_SCHEDULE_DELAY".into(), "1".into());
    })
    .await;
    // The first span's upload hangs, holding the export thread.
    let first = app.pool_status("adf-pool").await;
    assert_eq!(first.status, 200);
    while ingestion.uploads() == 0 {
        let _ = app.pool_status("adf-pool").await;
    }
    let mut answered = 0;
    for _ in 0..8 {
        if app.pool_status("adf-pool").await.status == 200 {
            answered += 1;
        }
    }
    assert_eq!(answered, 8);
    assert_eq!(app.host.terminate().await, Some(0));
    let logs = app.host.logs().join("\n");
    assert!(
        logs.contains("dropped a Span due to queue full"),
        "no drop counted: {logs}"
    );
    assert!(ingestion.envelopes().is_empty());
}

/// Ingestion that refuses (503) every upload: the answers are the same.
#[tokio::test]
async fn with_ingestion_refusing_answers_are_unchanged() {
    let ingestion = Ingestion::start(Mode::Refuse).await;
    let mut app = spawn_app_with(pools(&["adf-pool"]), with_ingestion(&ingestion)).await;
    let up = app
        .scale_up(r#"{"dedicatedNodes": 1, "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(app.host.terminate().await, Some(0));
    assert!(
        ingestion.uploads() >= 1,
        "nothing was tried: {}",
        app.host.logs().join("\n")
    );
}
