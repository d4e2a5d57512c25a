use super::*;
use crate::resizer::lease::{IdleLimit, LeaseEdit, LeaseId, apply};
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);

fn at(minutes_ago: i64) -> OffsetDateTime {
    NOW - Duration::minutes(minutes_ago)
}

/// A pipeline's lease of `dedicated` nodes, held `held_ago` minutes ago,
/// lapsing after `idle` idle minutes (`None`: only when it expires).
fn pipeline(id: &str, dedicated: u32, held_ago: i64, idle: Option<u32>) -> Lease {
    Lease {
        id: id.parse().unwrap(),
        dedicated,
        low_priority: 0,
        expires: NOW + Duration::minutes(120),
        idle: idle.map(|minutes| IdleLimit {
            minutes,
            held_at: at(held_ago),
        }),
    }
}

fn service(id: &str, dedicated: u32) -> Lease {
    Lease {
        idle: None,
        ..pipeline(id, dedicated, 0, None)
    }
}

fn metadata(leases: &[Lease]) -> Vec<MetadataItem> {
    leases.iter().fold(Vec::new(), |md, lease| {
        apply(&md, &LeaseEdit::Hold(lease.clone()), at(0)).unwrap_or(md)
    })
}

/// Dedicated nodes: idle ones by how many minutes ago they went idle, and
/// how many run tasks or are still booting.
fn pool(idle_minutes_ago: &[i64], running: u32, coming: u32) -> NodesSeen {
    NodesSeen {
        ready: (idle_minutes_ago.len() as u32 + running, 0),
        coming: (coming, 0),
        idle_since: idle_minutes_ago.iter().map(|m| (true, at(*m))).collect(),
    }
}

fn lapsed(leases: &[Lease], nodes: &NodesSeen) -> Vec<String> {
    idle_leases(&metadata(leases), nodes, NOW)
        .into_iter()
        .map(|lease| lease.id.as_str().to_owned())
        .collect()
}

/// The table: what the reconcile lets go, and why.
#[test]
fn a_lease_lapses_only_when_the_pool_shows_its_nodes_idle_past_its_limit() {
    let cases: &[(&str, Vec<Lease>, NodesSeen, &[&str])] = &[
        (
            "a pipeline that failed before its scale-down: its node idle 20 min of 15",
            vec![pipeline("run-a", 1, 40, Some(15))],
            pool(&[20], 0, 0),
            &["run-a"],
        ),
        (
            "idle, but not yet for its limit",
            vec![pipeline("run-a", 1, 40, Some(15))],
            pool(&[10], 0, 0),
            &[],
        ),
        (
            "no limit asked: only its expiry lets it go",
            vec![pipeline("run-a", 1, 40, None)],
            pool(&[100], 0, 0),
            &[],
        ),
        (
            "held 5 min ago on a node idle for an hour: about to run its task",
            vec![pipeline("run-a", 1, 5, Some(15))],
            pool(&[60], 0, 0),
            &[],
        ),
        (
            "its task still runs",
            vec![pipeline("run-a", 1, 40, Some(15))],
            pool(&[], 1, 0),
            &[],
        ),
        (
            "an idle node a leaseless scale-up left is no evidence while the lease's task runs",
            vec![pipeline("run-a", 1, 40, Some(15))],
            pool(&[30, 30], 1, 0),
            &[],
        ),
        (
            "two pipelines, one done: one lease goes, the one held longest",
            vec![
                pipeline("run-old", 1, 60, Some(15)),
                pipeline("run-new", 1, 30, Some(15)),
            ],
            pool(&[20], 1, 0),
            &["run-old"],
        ),
        (
            "a pipeline's node still booting keeps a lease from looking idle",
            vec![
                pipeline("run-a", 1, 60, Some(15)),
                pipeline("run-b", 1, 20, Some(15)),
            ],
            pool(&[20], 0, 1),
            &["run-a"],
        ),
        (
            "a lease held minutes ago may own the idle node: nobody lapses yet",
            vec![
                pipeline("run-a", 1, 60, Some(15)),
                pipeline("run-b", 1, 2, Some(15)),
            ],
            pool(&[20], 1, 0),
            &[],
        ),
        (
            "a lease with no limit may keep its node idle as long as it likes",
            vec![
                pipeline("run-a", 1, 60, Some(15)),
                pipeline("run-between-activities", 1, 60, None),
            ],
            pool(&[30], 1, 0),
            &[],
        ),
        (
            "more idle nodes than the others can own: the limited lease goes",
            vec![
                pipeline("run-a", 1, 60, Some(15)),
                pipeline("run-between-activities", 1, 60, None),
            ],
            pool(&[30, 30], 0, 0),
            &["run-a"],
        ),
        (
            "a two-node lease with one node still working stays",
            vec![pipeline("run-a", 2, 60, Some(15))],
            pool(&[30], 1, 0),
            &[],
        ),
        (
            "warm nodes are idle on purpose",
            vec![service("warm", 1), pipeline("run-a", 1, 60, Some(15))],
            pool(&[30], 1, 0),
            &[],
        ),
        (
            "a schedule floor above the pipelines keeps its own idle node",
            vec![service("schedule", 2), pipeline("run-a", 1, 60, Some(15))],
            pool(&[30], 1, 0),
            &[],
        ),
        (
            "inside a schedule window a done pipeline's lease goes, the floor keeps the node",
            vec![service("schedule", 1), pipeline("run-a", 1, 60, Some(15))],
            pool(&[30], 0, 0),
            &["run-a"],
        ),
        (
            "each lease judged by its own limit",
            vec![
                pipeline("run-patient", 1, 90, Some(60)),
                pipeline("run-brisk", 1, 40, Some(10)),
            ],
            pool(&[20, 20], 0, 0),
            &["run-brisk"],
        ),
        (
            "idle nodes with no date are never counted idle",
            vec![pipeline("run-a", 1, 40, Some(15))],
            NodesSeen {
                ready: (1, 0),
                ..NodesSeen::default()
            },
            &[],
        ),
    ];
    for (why, leases, nodes, expected) in cases {
        assert_eq!(lapsed(leases, nodes), *expected, "{why}");
    }
}

/// The limit and the time of the hold are kept in the pool's metadata, so
/// any instance, after any restart, judges the same; older entries without
/// them lapse only when they expire.
#[test]
fn the_limit_survives_the_metadata_and_old_entries_have_none() {
    let lease = pipeline("run-a", 1, 40, Some(15));
    let md = metadata(std::slice::from_ref(&lease));
    assert!(
        md[0].value.contains(r#""idleMinutes":15"#),
        "{}",
        md[0].value
    );
    assert_eq!(super::super::live_leases(&md, NOW), vec![lease]);

    let old = vec![MetadataItem {
        name: "pool-resizer-lease:run-old".into(),
        value: r#"{"dedicated":1,"lowPriority":0,"expires":"2026-11-24T14:00:00Z"}"#.into(),
    }];
    assert_eq!(super::super::live_leases(&old, NOW)[0].idle, None);
    assert!(idle_leases(&old, &pool(&[100], 0, 0), NOW).is_empty());
}

/// A lapse drops the entry only as it was seen: a holder that renewed in
/// between keeps its lease.
#[test]
fn a_lapse_spares_a_lease_renewed_since_it_was_seen() {
    let seen = pipeline("run-a", 1, 40, Some(15));
    let md = metadata(std::slice::from_ref(&seen));
    let dropped = apply(&md, &LeaseEdit::Lapse(seen.clone()), NOW).unwrap();
    assert!(super::super::live_leases(&dropped, NOW).is_empty());

    let renewed = pipeline("run-a", 1, 0, Some(15));
    let md = apply(&md, &LeaseEdit::Hold(renewed.clone()), NOW).unwrap();
    assert_eq!(apply(&md, &LeaseEdit::Lapse(seen), NOW), None);
    let id: LeaseId = "run-a".parse().unwrap();
    assert_eq!(super::super::live_leases(&md, NOW)[0].id, id);
}
