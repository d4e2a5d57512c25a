//! Overlapping pipelines sharing one pool: leases in pool metadata.
//!
//! Several handler processes (as Function instances) run against one
//! simulator. The invariant, checked in the simulator's event log: while any
//! pipeline holds a live lease, the pool's target never drops below what it
//! needs; no lease is lost in a storm of concurrent writers (412s forced);
//! and the pool reaches zero once the last lease is released or expires.

use crate::helpers::app::{pools, spawn_app};
use crate::helpers::host::FunctionsHost;
use batch_simulator::EventKind;
use pool_resizer::resizer::lease::fingerprint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn last_seq(sim: &batch_simulator::Simulator) -> u64 {
    sim.events().last().map_or(0, |e| e.seq)
}

/// The pool's lease holders, as the ids they are fingerprints of (answers
/// never show ids): each shown holder is matched back to one of `ids`.
fn lease_names(pool: &Value) -> Vec<String> {
    const IDS: &[&str] = &["run-a", "run-b", "run-dead", "run-live"];
    let mut names: Vec<String> = pool["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let holder = l["holder"].as_str().unwrap();
            IDS.iter()
                .find(|id| fingerprint(&id.parse().unwrap()) == holder)
                .map_or_else(|| holder.to_owned(), |id| (*id).to_owned())
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pipeline_finishing_does_not_strand_another() {
    let app = spawn_app(pools(&["shared"])).await;

    let a = app
        .scale_up(r#"{"leaseId": "run-a", "waitSeconds": 200}"#)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Leases add up: B gets a node of its own, not A's.
    let b = app
        .scale_up(r#"{"leaseId": "run-b", "waitSeconds": 200}"#)
        .await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.body["pool"]["readyDedicatedNodes"], 2, "{}", b.body);
    assert_eq!(lease_names(&b.body["pool"]), ["run-a", "run-b"]);

    // A finishes: its node goes, B's stays.
    let a_down = app
        .scale_down(r#"{"leaseId": "run-a", "waitSeconds": 200}"#)
        .await;
    assert_eq!(a_down.status, 200, "{}", a_down.body);
    assert_eq!(a_down.body["actions"][0]["targetDedicatedNodes"], 1);
    assert_eq!(a_down.body["pool"]["targetDedicatedNodes"], 1);
    assert_eq!(lease_names(&a_down.body["pool"]), ["run-b"]);

    // A call without a lease keeps today's behaviour: it would shrink. B's
    // release is the last one: the pool goes to zero.
    let b_down = app
        .scale_down(r#"{"leaseId": "run-b", "waitSeconds": 200}"#)
        .await;
    assert_eq!(b_down.status, 200, "{}", b_down.body);
    assert_eq!(b_down.body["pool"]["currentDedicatedNodes"], 0);
    assert_eq!(lease_names(&b_down.body["pool"]), Vec::<String>::new());

    // Other metadata on the pool is untouched by all of this.
    let status = app.pool_status("shared").await;
    assert_eq!(status.body["pool"]["leases"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_cannot_hold_nodes_forever() {
    let app = spawn_app(pools(&["shared"])).await;
    let host = &app.host;
    let warm = app.scale_up(r#"{"waitSeconds": 200}"#).await;
    assert_eq!(warm.status, 200, "{}", warm.body);
    // A pipeline that dies without scaling down holds a two-minute lease.
    let dead = host
        .post(
            "/api/scale-up",
            r#"{"leaseId": "run-dead", "leaseMinutes": 2}"#,
        )
        .await;
    assert_eq!(dead.status, 200, "{}", dead.body);
    // Leases add up: run-live's node is a second one, still booting when
    // this answers (at once: 202).
    let live = host
        .post(
            "/api/scale-up",
            r#"{"leaseId": "run-live", "waitSeconds": 0}"#,
        )
        .await;
    assert_eq!(
        live.body["pool"]["targetDedicatedNodes"], 2,
        "{}",
        live.body
    );
    assert_eq!(lease_names(&live.body["pool"]), ["run-dead", "run-live"]);
    // Two simulated minutes later (0.4 s at 300x) the dead lease is gone.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let down = app
        .scale_down(r#"{"leaseId": "run-live", "waitSeconds": 200}"#)
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["pool"]["targetDedicatedNodes"], 0);
    assert_eq!(down.body["pool"]["leases"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pipelines_on_three_instances_keep_the_invariant() {
    const PIPELINES: usize = 12;
    let app = spawn_app(pools(&["shared"])).await;
    let sim = Arc::new(app.sim);
    let mut hosts = vec![Arc::new(app.host)];
    for _ in 1..3 {
        hosts.push(Arc::new(FunctionsHost::start(&app.settings).await));
    }

    // Phase 1, a conflict storm: every pipeline scales up at once.
    let mut ups = Vec::new();
    for i in 0..PIPELINES {
        let host = hosts[i % hosts.len()].clone();
        ups.push(tokio::spawn(async move {
            let body = format!(r#"{{"leaseId": "run-{i:02}", "waitSeconds": 0}}"#);
            host.post("/api/scale-up", &body).await
        }));
    }
    for up in ups {
        let response = up.await.unwrap();
        assert!(
            response.status == 200 || response.status == 202,
            "{}",
            response.body
        );
    }
    let up_done = last_seq(&sim);
    let view = hosts[0].get("/api/pool-status?poolId=shared").await;
    assert_eq!(
        lease_names(&view.body["pool"]).len(),
        PIPELINES,
        "no lease lost: {}",
        view.body["pool"]["leases"]
    );
    let conflicts = sim
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { method, status: 412, .. } if method == "PATCH"))
        .count();
    assert!(conflicts > 0, "the storm forced at least one 412");

    // Phase 2: pipelines finish in a random order, some starting again.
    let mut rng = StdRng::seed_from_u64(7);
    let mut order: Vec<usize> = (0..PIPELINES).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut finishes = Vec::new();
    for (n, i) in order.into_iter().enumerate() {
        let host = hosts[rng.random_range(0..hosts.len())].clone();
        let delay = Duration::from_millis(rng.random_range(0..60) + 10 * n as u64);
        let again = rng.random_bool(0.25);
        let sim = sim.clone();
        finishes.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut intervals = Vec::new();
            let started = last_seq(&sim);
            let down = host
                .post(
                    "/api/scale-down",
                    &format!(r#"{{"leaseId": "run-{i:02}", "waitSeconds": 1}}"#),
                )
                .await;
            assert!(down.status == 200 || down.status == 202, "{}", down.body);
            if again {
                let up = host
                    .post(
                        "/api/scale-up",
                        &format!(r#"{{"leaseId": "run-{i:02}-again", "waitSeconds": 1}}"#),
                    )
                    .await;
                assert!(up.status == 200 || up.status == 202, "{}", up.body);
                let held = last_seq(&sim);
                tokio::time::sleep(Duration::from_millis(50)).await;
                let released = last_seq(&sim);
                let down = host
                    .post(
                        "/api/scale-down",
                        &format!(r#"{{"leaseId": "run-{i:02}-again", "waitSeconds": 1}}"#),
                    )
                    .await;
                assert!(down.status == 200 || down.status == 202, "{}", down.body);
                intervals.push((held, released));
            }
            (started, intervals)
        }));
    }
    // Lease i is live from `up_done` (all phase-1 ups returned) until its
    // scale-down starts; re-ups are live between their return and release.
    let mut live: Vec<(u64, u64)> = Vec::new();
    for finish in finishes {
        let (released_from, extra) = finish.await.unwrap();
        live.push((up_done, released_from));
        live.extend(extra);
    }

    // Phase 3: everyone is gone; the pool reaches zero.
    let last = hosts[0]
        .scale_down(r#"{"leaseId": "nobody", "waitSeconds": 200}"#)
        .await;
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(last.body["pool"]["targetDedicatedNodes"], 0);
    assert_eq!(last.body["pool"]["currentDedicatedNodes"], 0);
    assert_eq!(last.body["pool"]["leases"], serde_json::json!([]));

    // The invariant, from the simulator's own log.
    for event in sim.events() {
        if let EventKind::PoolTarget {
            target_dedicated_nodes,
            ..
        } = &event.kind
        {
            let needed = live
                .iter()
                .any(|(from, to)| *from < event.seq && event.seq < *to);
            assert!(
                !needed || *target_dedicated_nodes >= 1,
                "target dropped to {target_dedicated_nodes} at seq {} while a lease was live",
                event.seq
            );
        }
    }
}
