//! Overlapping pipelines sharing one pool: leases in pool metadata.
//!
//! Several handler processes (as Function instances) run against one
//! simulator. The invariant, checked in the simulator's event log: while any
//! pipeline holds a live lease, the pool's target never drops below what it
//! needs; no lease is lost in a storm of concurrent writers (412s forced);
//! and the pool reaches zero once the last lease is released or expires.

use crate::helpers::app::{TIME_SCALE, pools, spawn_app, spawn_app_with};
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

/// Pipelines that failed before their scale-down, with `leaseIdleMinutes`
/// as the pipeline template sends it: the reconcile lets a lease go once
/// the pool shows its node idle past the limit, and not before; a lease
/// whose task still runs, and one taken without a limit, stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_node_stands_idle_past_its_limit_lapses_and_no_other() {
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        // A schedule that never opens: the reconcile only looks.
        settings.insert("SCALE_UP_SCHEDULE".into(), "0 0 0 1 1 *".into());
        settings.insert("SCALE_DOWN_SCHEDULE".into(), "0 1 0 1 1 *".into());
    })
    .await;
    let simulated = |d: Duration| tokio::time::sleep(d.div_f64(TIME_SCALE));
    for body in [
        r#"{"leaseId": "run-dead", "leaseIdleMinutes": 15, "waitSeconds": 200}"#,
        r#"{"leaseId": "run-live", "leaseIdleMinutes": 15, "waitSeconds": 200}"#,
        r#"{"leaseId": "run-a", "waitSeconds": 200}"#,
    ] {
        let up = app.scale_up(body).await;
        assert_eq!(up.status, 200, "{}", up.body);
    }
    let shown = app.pool_status("adf-pool").await.body;
    let limits: Vec<&Value> = shown["pool"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lease| &lease["idleMinutes"])
        .collect();
    assert_eq!(limits.iter().filter(|m| **m == 15).count(), 2, "{shown}");
    // run-live's task runs an hour; run-dead's pipeline failed before its
    // task, run-a's is between activities.
    let batch = app.batch();
    assert_eq!(batch.add_job("live", "adf-pool").await.status, 201);
    assert_eq!(batch.add_task("live", "t", "sleep 3600").await.status, 201);

    // Idle 10 minutes: under the limit, the reconcile keeps all three.
    simulated(Duration::from_secs(10 * 60)).await;
    let (status, answer) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200, "{answer}");
    let look = app.pool_status("adf-pool").await;
    assert_eq!(
        lease_names(&look.body["pool"]),
        ["run-a", "run-dead", "run-live"]
    );

    // Past it: one idle node more than run-a (no limit) may keep is let go,
    // and with it the one lease it can be; the running task is untouched.
    simulated(Duration::from_secs(8 * 60)).await;
    let (status, answer) = app.host.fire("timer-reconcile").await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["Logs"]
            .to_string()
            .contains("a lease whose nodes stood idle past its leaseIdleMinutes over"),
        "{answer}"
    );
    let look = app.pool_status("adf-pool").await;
    assert_eq!(lease_names(&look.body["pool"]).len(), 2, "{}", look.body);
    assert!(lease_names(&look.body["pool"]).contains(&"run-a".to_owned()));
    assert_eq!(
        look.body["pool"]["targetDedicatedNodes"], 2,
        "{}\n{answer}",
        look.body
    );
    let killed = app
        .sim
        .events()
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Task { to, .. } if to == "completed"));
    assert!(!killed, "the hour-long task still runs");
}

/// `leaseIdleMinutes` is checked like every parameter: a scale-up's, with a
/// lease, at least 5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_idle_minutes_is_refused_where_it_means_nothing() {
    let app = spawn_app(pools(&["adf-pool"])).await;
    for (body, says) in [
        (r#"{"leaseIdleMinutes": 15}"#, "needs a leaseId"),
        (
            r#"{"leaseId": "run-a", "leaseIdleMinutes": 2}"#,
            "at least 5",
        ),
        (
            r#"{"leaseId": "run-a", "leaseIdleMinutes": "soon"}"#,
            "leaseIdleMinutes",
        ),
    ] {
        let up = app.scale_up(body).await;
        assert_eq!(up.status, 400, "{body}: {}", up.body);
        assert_eq!(up.body["error"]["code"], "InvalidParameter", "{}", up.body);
        assert!(
            up.body["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {}",
            up.body
        );
    }
    let down = app
        .scale_down(r#"{"leaseId": "run-a", "leaseIdleMinutes": 15}"#)
        .await;
    assert_eq!(down.status, 400, "{}", down.body);
    assert!(
        down.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scale-up only")
    );
}
