//! A pool's rhythm (issue 21, item 1): when scale-ups arrive and how long
//! nodes took to boot, kept in the pool's metadata beside the leases, so a
//! restart and a second instance keep it, and bounded, so Batch's
//! `MetadataTooLarge` never fails a scale-up.

use crate::helpers::app::{pools, spawn_app};
use batch_simulator::{EventKind, SimulatorConfig};
use serde_json::{Value, json};

const POOL: &str = "adf-pool";

/// The pool's `pool-resizer-rhythm` entry, as Batch stores it.
async fn rhythm(app: &crate::helpers::app::TestApp) -> Value {
    let pool = app.batch().pool(POOL).await;
    pool["metadata"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "pool-resizer-rhythm")
        .map(|m| serde_json::from_str(m["value"].as_str().unwrap()).unwrap())
        .unwrap_or(Value::Null)
}

fn len(rhythm: &Value, key: &str) -> usize {
    rhythm[key].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_and_a_second_instance_keep_the_history() {
    let mut app = spawn_app(pools(&[POOL])).await;
    let up = app
        .scale_up(r#"{"leaseId": "run-1", "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let first = rhythm(&app).await;
    assert_eq!(len(&first, "a"), 1, "run-1 arrived: {first}");
    assert_eq!(first["a"][0][1], 1, "asking one dedicated node");
    assert_eq!(len(&first, "b"), 1, "its node's boot: {first}");
    let boot = first["b"][0].as_u64().unwrap();
    assert!(
        (60..=600).contains(&boot),
        "{boot} s from allocation to ready"
    );

    // The instance is recycled; another one carries on.
    app.host.kill().await;
    let second = app.instance().await;
    let down = second
        .scale_down(r#"{"leaseId": "run-1", "waitSeconds": 200}"#)
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    let after = rhythm(&app).await;
    assert_eq!(after["a"], first["a"], "a scale-down is no arrival");
    assert_eq!(after["b"], first["b"]);
    assert_eq!(
        after["d"].as_array().map(Vec::len),
        Some(1),
        "but a departure, for keep-warm auto: {after}"
    );
    let again = second
        .scale_up(r#"{"leaseId": "run-2", "waitSeconds": 200}"#)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    // A renewal by the same run is no new arrival.
    let renewed = second
        .post("/api/scale-up", r#"{"leaseId": "run-2", "waitSeconds": 0}"#)
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let both = rhythm(&app).await;
    assert_eq!(len(&both, "a"), 2, "run-1's arrival kept: {both}");
    assert_eq!(both["a"][0], first["a"][0]);
    assert_eq!(len(&both, "b"), 2, "and its boot, beside run-2's: {both}");
    assert_eq!(both["b"][0], first["b"][0]);
}

/// Batch refuses oversized metadata (`MetadataTooLarge`, limit undocumented;
/// here the simulator's is set small). The scale-up still holds its lease
/// and answers; only the history is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_too_large_cuts_the_history_never_the_scale_up() {
    let app = spawn_app(SimulatorConfig {
        metadata_limit_bytes: 420,
        ..pools(&[POOL])
    })
    .await;
    // A long history already there (written as the service writes it).
    let arrivals: Vec<Value> = (0..20).map(|i| json!([29_925_000 + i, 1, 0])).collect();
    let stored = json!({"a": arrivals, "b": [200, 210], "t": 1}).to_string();
    assert!(stored.len() > 300, "{}", stored.len());
    let patched = app
        .batch()
        .call(
            "PATCH",
            &format!("/pools/{POOL}"),
            Some(json!({"metadata": [{"name": "pool-resizer-rhythm", "value": stored}]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);

    let up = app
        .scale_up(r#"{"leaseId": "run-1", "waitSeconds": 200}"#)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["pool"]["leases"].as_array().unwrap().len(), 1);
    let refused = app
        .sim
        .events()
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Request { method, status: 400, .. } if method == "PATCH")
        })
        .count();
    assert!(
        refused >= 1,
        "Batch refused at least one write as too large"
    );
    let kept = rhythm(&app).await;
    assert!(len(&kept, "a") < 21, "the history was cut: {kept}");
    let newest = kept["a"].as_array().and_then(|a| a.last()).unwrap();
    assert!(
        newest[0].as_i64().unwrap() > 29_925_019,
        "run-1's arrival is the newest kept: {kept}"
    );
}
