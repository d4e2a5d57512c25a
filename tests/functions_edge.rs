//! The handler as the Functions host sees it, before any Batch call:
//! app layout, readiness, routing, bad input, logs, shutdown.

mod support;

use std::collections::HashMap;
use support::host::{AppManifest, FUNCTION_KEY, FunctionsHost, Key, plain_client};

fn settings() -> HashMap<String, String> {
    HashMap::from([
        // Never called by these tests: every request here fails validation first.
        (
            "BATCH_ACCOUNT_URL".to_owned(),
            "https://127.0.0.1:9".to_owned(),
        ),
        ("BATCH_POOL_ID".to_owned(), "adf-pool".to_owned()),
        ("BATCH_ACCOUNT_NAME".to_owned(), "devaccount".to_owned()),
        (
            "BATCH_ACCOUNT_KEY".to_owned(),
            "c2VjcmV0LWtleS1kby1ub3QtbG9n".to_owned(),
        ),
    ])
}

#[test]
fn every_http_function_json_is_forwarded_and_keyed() {
    let app = AppManifest::repo();
    let names: Vec<_> = app.functions.iter().map(|f| f.name.as_str()).collect();
    for expected in [
        "function-pool-status",
        "function-scale-down",
        "function-scale-up",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for (name, method, route) in [
        ("function-scale-up", "post", "scale-up"),
        ("function-scale-down", "post", "scale-down"),
        ("function-pool-status", "get", "pool-status"),
    ] {
        let f = app.function(name);
        assert!(
            f.is_forwarded_http(),
            "{name} must be one httpTrigger in + one http out"
        );
        let trigger = f.trigger();
        assert_eq!(trigger["authLevel"], "function", "{name}");
        assert_eq!(trigger["route"], route, "{name}");
        assert_eq!(trigger["methods"], serde_json::json!([method]), "{name}");
    }
    let timeout = app.host["functionTimeout"].as_str().unwrap();
    assert_eq!(timeout, "00:10:00", "fits the Consumption plan maximum");
}

#[tokio::test]
async fn readiness_routes_and_bad_input_answer_json() {
    let host = FunctionsHost::start(&settings()).await;

    let client = plain_client();
    let probe = client
        .get(format!("http://127.0.0.1:{}/", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);

    for (body, code) in [
        ("{not json", "InvalidJson"),
        ("[]", "InvalidJson"),
        (r#"{"dedicatedNodes": -2}"#, "InvalidParameter"),
        (r#"{"dedicatedNodes": "many"}"#, "InvalidParameter"),
        (r#"{"dedicatedNodes": 100000}"#, "InvalidParameter"),
        (r#"{"poolId": "x/../../jobs"}"#, "InvalidParameter"),
        (r#"{"pool": "typo"}"#, "UnknownParameter"),
        (r#"{"waitSeconds": 3600}"#, "InvalidParameter"),
    ] {
        let response = host.post("/api/scale-up", body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        assert_eq!(response.body["error"]["code"], code, "{body}");
        assert!(response.body["error"]["message"].as_str().unwrap().len() > 10);
    }
    let huge = format!(r#"{{"poolId": "{}"}}"#, "a".repeat(100_000));
    let response = host.post("/api/scale-down", &huge).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.body["error"]["code"], "PayloadTooLarge");

    let response = host
        .get("/api/pool-status?poolId=adf-pool&operation=sideways")
        .await;
    assert_eq!(response.status, 400);
    let response = host
        .post("/api/scale-up", r#"{"poolId": "someone-elses-pool"}"#)
        .await;
    assert_eq!(
        response.status, 403,
        "not in ALLOWED_POOLS (defaults to BATCH_POOL_ID)"
    );
    assert_eq!(response.body["error"]["code"], "PoolNotAllowed");

    // Straight to the handler (the host would 404 first): JSON all the same.
    let direct = client
        .get(format!("http://127.0.0.1:{}/api/scale-up", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 405);
    let body: serde_json::Value = direct.json_body().await;
    assert_eq!(body["error"]["code"], "MethodNotAllowed");
    assert_eq!(
        body["operation"], "scale-up",
        "even a 405 says which function"
    );
    let missing = client
        .get(format!("http://127.0.0.1:{}/api/nope", host.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Key in a header works as well as in the query.
    let response = host
        .request("POST", "/api/scale-up", Some("{bad"), Key::Header)
        .await;
    assert_eq!(response.status, 400);

    let logs = host.logs();
    let line = logs
        .iter()
        .find(|l| l.contains("/api/scale-up") && l.contains("400"))
        .expect("a request log line");
    assert!(
        line.contains("invocation{id="),
        "invocation id on the line: {line}"
    );
    let all = logs.join("\n");
    assert!(!all.contains(FUNCTION_KEY), "function key leaked into logs");
    assert!(
        !all.contains("c2VjcmV0LWtleS1kby1ub3QtbG9n"),
        "account key leaked into logs"
    );

    assert_eq!(
        host.terminate().await,
        Some(0),
        "SIGTERM ends the handler cleanly"
    );
}

#[tokio::test]
async fn invalid_settings_stop_the_handler_with_every_reason() {
    let mut env = settings();
    env.insert("BATCH_ACCOUNT_URL".into(), "http://insecure".into());
    env.insert("BATCH_POOL_ID".into(), "no spaces allowed".into());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .arg("serve")
        .env_clear()
        .envs(&env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BATCH_ACCOUNT_URL") && stderr.contains("BATCH_POOL_ID"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2VjcmV0LWtleS1kby1ub3QtbG9n"));
}

trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        let body = serde_json::from_slice(&self.bytes().await.unwrap()).unwrap();
        support::schema::assert_answer(&body);
        body
    }
}
