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
    // Batch throttles the scale-down's first looks: counted by status and code.
    app.inject(crate::helpers::faults::status(
        429,
        Some(1),
        "/pools/adf-pool",
        2,
    ));
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
    // From the scale-up's call through its status URL to ready.
    let ready = metrics(&envelopes, "poolresizer.ready.seconds");
    assert!(
        ready
            .iter()
            .any(|(p, seconds)| p["pool"] == "adf-pool" && *seconds > 0.0),
        "{ready:?}"
    );
    let resizes = metrics(&envelopes, "poolresizer.resizes");
    assert!(
        resizes.iter().any(|(p, _)| p["operation"] == "scale-up")
            && resizes.iter().any(|(p, _)| p["operation"] == "scale-down"),
        "{resizes:?}"
    );
    assert!(!metrics(&envelopes, "poolresizer.batch.calls").is_empty());
    let responses = metrics(&envelopes, "poolresizer.batch.responses");
    assert!(
        responses.iter().any(|(p, n)| p["pool"] == "adf-pool"
            && p["httpStatus"] == "429"
            && p["code"] != ""
            && *n >= 1.0),
        "{responses:?}"
    );
    assert!(
        responses
            .iter()
            .any(|(p, _)| p["pool"] == "adf-pool" && p["httpStatus"] == "200"),
        "{responses:?}"
    );
    let held = metrics(&envelopes, "poolresizer.nodes.held");
    assert!(
        held.iter()
            .any(|(p, _)| p["pool"] == "adf-pool" && p["holder"] == "leases"),
        "{held:?}"
    );
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

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The workbook's KQL queries.
fn workbook_queries() -> Vec<String> {
    let workbook: Value = serde_json::from_str(&repo_file("infra/workbook.json")).unwrap();
    workbook["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["content"]["query"].as_str().map(str::to_owned))
        .collect()
}

/// The ```kusto blocks of docs/telemetry.md.
fn doc_queries() -> Vec<String> {
    let doc = repo_file("docs/telemetry.md");
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```kusto") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                out.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            _ => {}
        }
    }
    out
}

/// Text outside double quotes, and the quoted strings.
fn split_quotes(query: &str) -> (String, Vec<String>) {
    let (mut code, mut strings) = (String::new(), Vec::new());
    for (i, part) in query.split('"').enumerate() {
        if i % 2 == 0 {
            code.push_str(part);
            code.push(' ');
        } else {
            strings.push(part.to_owned());
        }
    }
    assert!(
        query.matches('"').count().is_multiple_of(2),
        "unbalanced quotes: {query}"
    );
    (code, strings)
}

const TABLES: &[&str] = &["AppMetrics", "AppRequests"];
/// The columns of those tables the exporter's items fill.
const COLUMNS: &[&str] = &[
    "TimeGenerated",
    "Name",
    "Sum",
    "ItemCount",
    "Min",
    "Max",
    "Properties",
    "AppRoleName",
    "ResultCode",
    "DurationMs",
    "Success",
    "OperationId",
];
const OPERATORS: &[&str] = &[
    "where",
    "extend",
    "summarize",
    "project",
    "order",
    "render",
    "take",
];

/// The workbook's queries are the docs' (so they can be pasted into Logs),
/// and each reads a workspace table Application Insights fills, only metric
/// names and properties the handler writes, and only those tables' columns.
#[test]
fn workbook_queries_are_the_docs_and_name_only_what_the_exporter_writes() {
    let queries = workbook_queries();
    assert!(queries.len() >= 6, "{queries:?}");
    assert_eq!(
        queries,
        doc_queries(),
        "infra/workbook.json and docs/telemetry.md differ"
    );
    for query in &queries {
        let (code, strings) = split_quotes(query);
        let mut stages = code.split('|');
        let table = stages.next().unwrap().trim();
        assert!(TABLES.contains(&table), "table {table} in {query}");
        for stage in stages {
            let operator = stage.split_whitespace().next().unwrap_or("");
            assert!(
                OPERATORS.contains(&operator),
                "operator {operator} in {query}"
            );
        }
        let opens = code.matches('(').count();
        assert_eq!(opens, code.matches(')').count(), "parentheses in {query}");
        // Metric names are the quoted strings that start like one.
        for name in strings.iter().filter(|s| s.starts_with("poolresizer.")) {
            assert!(
                pool_resizer::telemetry::METRICS.contains(&name.as_str()),
                "metric {name}"
            );
        }
        // Aliases (`x = ...`) may be used after they are made.
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .filter(|w| !w.is_empty())
            .collect();
        let aliases: Vec<&str> = code
            .split([',', '|'])
            .filter_map(|part| {
                part.split_once(" = ")
                    .map(|(l, _)| l.split_whitespace().last().unwrap_or(""))
            })
            .collect();
        for word in words {
            if let Some(property) = word.strip_prefix("Properties.") {
                assert!(
                    pool_resizer::telemetry::DIMENSIONS.contains(&property)
                        || property == "InvocationId",
                    "property {property} in {query}"
                );
            } else if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                assert!(
                    COLUMNS.contains(&word) || TABLES.contains(&word) || aliases.contains(&word),
                    "column {word} in {query}"
                );
            }
        }
    }
}

/// The template deploys the workbook, on the workspace, with the file's text.
#[test]
fn the_template_deploys_the_workbook_on_the_workspace() {
    let bicep = repo_file("infra/main.bicep");
    assert!(bicep.contains("serializedData: loadTextContent('workbook.json')"));
    let arm: Value = serde_json::from_str(&repo_file("infra/main.json")).unwrap();
    let workbook = arm["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Microsoft.Insights/workbooks")
        .expect("a workbook resource");
    assert_eq!(
        workbook["properties"]["serializedData"].as_str().unwrap(),
        repo_file("infra/workbook.json"),
        "main.json's workbook is not infra/workbook.json (rebuild main.json from main.bicep)"
    );
    assert_eq!(
        workbook["properties"]["sourceId"],
        "[resourceId('Microsoft.OperationalInsights/workspaces', variables('logWorkspaceName'))]"
    );
    assert_eq!(workbook["kind"], "shared");
}

/// A reconcile with the forecast on (`forecast-only`): its backtest arrives
/// per pool, hits and misses, the firing is counted, and the pool it saw
/// reports its nodes held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecasts_backtest_and_the_timer_firing_arrive() {
    let ingestion = Ingestion::start(Mode::Accept).await;
    let mut app = spawn_app_with(pools(&["p1"]), |settings, sim| {
        with_ingestion(&ingestion)(settings, sim);
        for (name, value) in [
            ("BATCH_POOL_ID", "p1"),
            ("SCALE_UP_SCHEDULE", "0 0 0 1 1 *"),
            ("SCALE_DOWN_SCHEDULE", "* * * * * *"),
            ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
            ("TIMER_WAIT_SECONDS", "60"),
            ("FORECAST_MODE", "forecast-only"),
        ] {
            settings.insert(name.into(), value.into());
        }
    })
    .await;
    // A trigger seen every day of the last two weeks, three minutes from now.
    let next = app.sim.now() + std::time::Duration::from_secs(3 * 60);
    let arrivals: Vec<Value> = (1..=14)
        .map(|days| {
            let at = next - time::Duration::days(days);
            serde_json::json!([at.unix_timestamp().div_euclid(60), 1, 0])
        })
        .collect();
    let rhythm = serde_json::json!({"a": arrivals, "b": [], "t": 0}).to_string();
    let patched = app
        .batch()
        .call(
            "PATCH",
            "/pools/p1",
            Some(
                serde_json::json!({"metadata": [{"name": "pool-resizer-rhythm", "value": rhythm}]}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let (status, _) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200);
    assert_eq!(app.host.terminate().await, Some(0));

    let envelopes = ingestion.envelopes();
    let arrivals = metrics(&envelopes, "poolresizer.forecast.arrivals");
    for result in ["hit", "miss", "unforeseen"] {
        assert!(
            arrivals
                .iter()
                .any(|(p, _)| p["pool"] == "p1" && p["result"] == result),
            "no {result}: {arrivals:?}"
        );
    }
    assert!(
        arrivals
            .iter()
            .any(|(p, n)| p["result"] == "hit" && *n > 0.0),
        "{arrivals:?}"
    );
    assert!(!metrics(&envelopes, "poolresizer.forecast.missed.node.minutes").is_empty());
    let answers = metrics(&envelopes, "poolresizer.answers");
    assert!(
        answers
            .iter()
            .any(|(p, _)| p["operation"] == "timer-reconcile" && p["status"] == "succeeded"),
        "{answers:?}"
    ); // The firing's answer names no pool, yet the pool it saw reports who
    // holds its nodes (no HTTP call ever named p1 here).
    let held = metrics(&envelopes, "poolresizer.nodes.held");
    assert!(
        held.iter()
            .any(|(p, _)| p["pool"] == "p1" && p["holder"] == "schedule"),
        "{held:?}"
    );
}
