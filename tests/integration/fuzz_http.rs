//! Property tests over everything a caller controls: method, path, query,
//! headers, JSON or garbage bodies, timer invocation payloads. Every input
//! must get a JSON object with a 2xx/4xx status: never a panic, never a 5xx
//! from the handler itself. The Batch behind it is a healthy simulator, so a
//! 5xx here could only be ours.

use axum::body::Body;
use axum::http::Request;
use batch_simulator::{Simulator, SimulatorConfig};
use pool_resizer::functions::{AppState, router};
use pool_resizer::resizer::PollPolicy;
use pool_resizer::settings::Settings;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use tower::ServiceExt;

/// The router in this process over a healthy simulator, shared by both
/// properties. A static of the whole test binary: built on first use and
/// never dropped, its runtime and simulator idle until the binary exits. Its
/// handler has its own stop token, never cancelled: nothing here touches the
/// process's signals.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    _sim: Simulator,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (sim, app) = runtime.block_on(async {
            let sim = batch_simulator::start(SimulatorConfig {
                time_scale: 1000.0,
                pools: vec!["adf-pool".into(), "other".into()],
                ..SimulatorConfig::default()
            })
            .await
            .unwrap();
            let mut values = crate::helpers::app::settings_for(&sim, "adf-pool");
            values.insert("POOL_RESIZER_TIME_SCALE".into(), "1000".into());
            values.insert("TIMER_WAIT_SECONDS".into(), "0".into());
            values.insert("ALLOWED_POOLS".into(), "adf-pool,other".into());
            let settings = Settings::from_env(|name| values.get(name).cloned()).unwrap();
            let batch = pool_resizer::app::batch_client(&settings).unwrap();
            let stop = tokio_util::sync::CancellationToken::new();
            let state = AppState::new(batch, settings, PollPolicy::default(), stop).unwrap();
            (sim, router(state))
        });
        Fixture {
            runtime,
            app,
            _sim: sim,
        }
    })
}

/// Sends one request through the router and checks the contract.
fn check(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(), TestCaseError> {
    let fixture = fixture();
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let Ok(request) = request.body(Body::from(body)) else {
        // Not a request a server could receive (e.g. an invalid header).
        return Ok(());
    };
    let (status, bytes) = fixture.runtime.block_on(async {
        let response = fixture.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, bytes)
    });
    prop_assert!(
        status < 500,
        "{method} {uri} -> {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if method != "HEAD" {
        let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| {
            TestCaseError::fail(format!(
                "{method} {uri} -> {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ))
        })?;
        prop_assert!(parsed.is_object(), "{method} {uri}: not an object");
        // Timer invocations answer in the host's own protocol shape.
        let timer = uri.trim_start_matches('/').starts_with("timer-");
        if uri != "/" && !uri.starts_with("/?") && !timer {
            crate::helpers::schema::assert_answer(&parsed);
        }
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0u32..20).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 _./%-]{0,30}".prop_map(Value::String),
        Just(json!("adf-pool")),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const NAMES: &[&str] = &[
    "poolId",
    "dedicatedNodes",
    "lowPriorityNodes",
    "waitSeconds",
    "leaseId",
    "leaseMinutes",
    "operation",
    "code",
    "typo",
];

fn scale_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::btree_map(prop::sample::select(NAMES), json_value(), 0..5).prop_map(
            |fields| {
                let object: serde_json::Map<String, Value> = fields
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k.to_owned(),
                            if k == "waitSeconds" {
                                json!(v.as_u64().map(|n| n % 3))
                            } else {
                                v
                            },
                        )
                    })
                    .collect();
                serde_json::to_vec(&Value::Object(object)).unwrap()
            }
        ),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..300),
        Just(Vec::new()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (prop::sample::select(NAMES), "[a-zA-Z0-9 %&=+/-]{0,12}"),
        0..4,
    )
    .prop_map(|pairs| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, &v);
        }
        q.finish()
    })
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "/",
            "/api/scale-up",
            "/api/scale-down",
            "/api/pool-status",
            "/timer-scale-up",
            "/timer-scale-down",
            "/timer-reconcile",
            "/api/",
            "/api/scale-up/extra",
            "/API/SCALE-UP",
        ])
        .prop_map(str::to_owned),
        "/[a-zA-Z0-9._~-]{0,10}(/[a-zA-Z0-9._~-]{0,10}){0,2}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let content_type = prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/octet-stream",
        "",
    ]);
    (content_type, "[ -~]{0,80}").prop_map(|(content_type, invocation_id)| {
        let mut headers = vec![("x-azure-functions-invocationid".to_owned(), invocation_id)];
        if !content_type.is_empty() {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        headers
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_http_request_gets_a_json_answer_below_500(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
        path in path(),
        query in query(),
        headers in headers(),
        body in scale_body(),
    ) {
        let uri = if query.is_empty() { path } else { format!("{path}?{query}") };
        check(method, &uri, &headers, body)?;
    }

    #[test]
    fn any_timer_payload_gets_a_json_answer_below_500(
        function in prop::sample::select(vec!["/timer-scale-up", "/timer-scale-down", "/timer-reconcile"]),
        data in json_value(),
        is_past_due in prop_oneof![any::<bool>().prop_map(Value::Bool), json_value()],
        schedule_status in json_value(),
        raw in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
    ) {
        let body = raw.unwrap_or_else(|| {
            serde_json::to_vec(&json!({
                "Data": { "timer": { "IsPastDue": is_past_due, "ScheduleStatus": schedule_status, "Extra": data.clone() } },
                "Metadata": { "sys": { "UtcNow": data } },
            }))
            .unwrap()
        });
        let headers = vec![("content-type".to_owned(), "application/json; charset=utf-8".to_owned())];
        check("POST", function, &headers, body)?;
    }
}
