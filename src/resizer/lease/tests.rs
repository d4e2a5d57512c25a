use super::*;
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-24 06:00 UTC);

fn lease(id: &str, dedicated: u32, minutes: i64) -> Lease {
    Lease {
        id: id.parse().unwrap(),
        dedicated,
        low_priority: 0,
        expires: NOW + Duration::minutes(minutes),
        idle: None,
    }
}

fn need(md: &[MetadataItem], now: OffsetDateTime) -> Counts {
    lease_need(md, now, None, UNCAPPED)
}

fn other() -> MetadataItem {
    MetadataItem {
        name: "owner".into(),
        value: "data-team".into(),
    }
}

#[test]
fn hold_release_and_need() {
    let md = vec![other()];
    let md = apply(&md, &LeaseEdit::Hold(lease("run-a", 1, 60)), NOW).unwrap();
    let md = apply(&md, &LeaseEdit::Hold(lease("run-b", 3, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (4, 0), "leases add up");
    let run_b: LeaseId = "run-b".parse().unwrap();
    assert_eq!(lease_need(&md, NOW, Some(&run_b), UNCAPPED), (1, 0));
    assert_eq!(lease_need(&md, NOW, None, (2, 0)), (2, 0), "capped");
    let above: Vec<_> = leases_above(&md, NOW, 1, 0)
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(above, [run_b]);
    assert_eq!(md[0], other(), "other metadata untouched, first");
    let md = apply(&md, &LeaseEdit::Release("run-b".parse().unwrap()), NOW).unwrap();
    assert_eq!(need(&md, NOW), (1, 0));
    let md = apply(&md, &LeaseEdit::Release("run-a".parse().unwrap()), NOW).unwrap();
    assert_eq!(md, vec![other()]);
    assert_eq!(need(&md, NOW), (0, 0));
}

#[test]
fn renewing_replaces_and_releasing_twice_changes_nothing() {
    let md = apply(&[], &LeaseEdit::Hold(lease("a", 1, 60)), NOW).unwrap();
    let md = apply(&md, &LeaseEdit::Hold(lease("a", 2, 120)), NOW).unwrap();
    assert_eq!(live_leases(&md, NOW).len(), 1);
    assert_eq!(need(&md, NOW), (2, 0));
    let gone = apply(&md, &LeaseEdit::Release("a".parse().unwrap()), NOW).unwrap();
    assert_eq!(
        apply(&gone, &LeaseEdit::Release("a".parse().unwrap()), NOW),
        None
    );
}

#[test]
fn expired_and_garbled_leases_count_as_gone_and_are_pruned() {
    let md = vec![
        lease("old", 5, -1).to_item(),
        MetadataItem {
            name: format!("{LEASE_PREFIX}garbled"),
            value: "{not json".into(),
        },
        lease("live", 1, 10).to_item(),
    ];
    assert_eq!(need(&md, NOW), (1, 0));
    let next = apply(&md, &LeaseEdit::Hold(lease("new", 1, 10)), NOW).unwrap();
    let names: Vec<_> = next.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [format!("{LEASE_PREFIX}live"), format!("{LEASE_PREFIX}new")]
    );
    // Expiry is exact: at `expires` the lease is gone.
    assert_eq!(need(&md, NOW + Duration::minutes(10)), (0, 0));
}

#[test]
fn full_slots_merge_into_overflow_instead_of_locking_the_pool() {
    let mut md = Vec::new();
    for i in 0..MAX_LEASES {
        md = apply(&md, &LeaseEdit::Hold(lease(&format!("r{i}"), 1, 60)), NOW).unwrap();
    }
    // One more, and one more again: accepted, merged, the counts added
    // up and the latest expiry.
    md = apply(&md, &LeaseEdit::Hold(lease("late-1", 3, 30)), NOW).unwrap();
    md = apply(&md, &LeaseEdit::Hold(lease("late-2", 2, 90)), NOW).unwrap();
    assert_eq!(md.len(), MAX_LEASES + 1, "one overflow entry, not two");
    assert_eq!(need(&md, NOW), (MAX_LEASES as u32 + 5, 0));
    assert_eq!(
        lease_need(&md, NOW, None, (10, 0)),
        (10, 0),
        "the caps bound it"
    );
    let overflow = live_leases(&md, NOW)
        .into_iter()
        .find(|l| l.id.as_str() == OVERFLOW_LEASE)
        .unwrap();
    assert_eq!(overflow.expires, NOW + Duration::minutes(90));
    assert_eq!(overflow.dedicated, 5);
    // Renewing an existing one still takes its own slot.
    let renewed = apply(&md, &LeaseEdit::Hold(lease("r0", 1, 90)), NOW).unwrap();
    assert_eq!(renewed.len(), md.len());
}

/// The service's own leases are floors the pipelines run on: a pipeline
/// inside the window or a keep-warm grace takes the nodes already there.
#[test]
fn floors_hold_at_least_their_count_beside_the_pipelines_sum() {
    let md = [
        lease(SCHEDULE_LEASE, 2, 60).to_item(),
        lease("run-a", 1, 60).to_item(),
    ];
    assert_eq!(need(&md, NOW), (2, 0), "the schedule's nodes take run-a");
    let md = apply(&md, &LeaseEdit::Hold(lease("run-b", 1, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (2, 0));
    let md = apply(&md, &LeaseEdit::Hold(lease("run-c", 1, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (3, 0), "three pipelines outgrow the floor");
    let schedule: LeaseId = SCHEDULE_LEASE.parse().unwrap();
    assert_eq!(
        leases_ahead(&md, NOW, &"run-c".parse().unwrap()),
        (2, 0),
        "the floor is not in line"
    );
    assert_eq!(lease_need(&md, NOW, Some(&schedule), UNCAPPED), (3, 0));
    // A forced shrink to 2 leaves run-c without its node.
    let above: Vec<String> = leases_above(&md, NOW, 2, 0)
        .into_iter()
        .map(|l| l.id.as_str().to_owned())
        .collect();
    assert_eq!(above, ["run-c"]);
}

/// Spare nodes (keep-warm, a pre-warm) add to what pipelines hold, so a
/// busy pool keeps them too, and the next pipelines take them over
/// instead of adding a node beside them.
#[test]
fn spares_add_up_and_arriving_pipelines_take_them_over() {
    let md = [
        lease("run-a", 1, 60).to_item(),
        lease(FORECAST_LEASE, 1, 30).to_item(),
        lease(WARM_LEASE, 2, 30).to_item(),
    ];
    assert_eq!(need(&md, NOW), (4, 0), "run-a's node and three spares");
    assert_eq!(
        leases_ahead(&md, NOW, &"run-z".parse().unwrap()),
        (1, 0),
        "spares are not in line"
    );
    // run-b takes the pre-warmed node: nothing more is needed.
    let md = apply(&md, &LeaseEdit::Hold(lease("run-b", 1, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (4, 0));
    assert!(
        !md.iter().any(|m| m.name.ends_with(FORECAST_LEASE)),
        "{md:?}"
    );
    // run-c takes one warm node: one stays warm.
    let md = apply(&md, &LeaseEdit::Hold(lease("run-c", 1, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (4, 0));
    let warm = |md: &[MetadataItem]| {
        live_leases(md, NOW)
            .into_iter()
            .find(|l| l.id.as_str() == WARM_LEASE)
            .map(|l| l.dedicated)
    };
    assert_eq!(warm(&md), Some(1), "{md:?}");
    // run-d asks two: the last warm node, and one more; a renewal takes none.
    let md = apply(&md, &LeaseEdit::Hold(lease("run-d", 2, 60)), NOW).unwrap();
    assert_eq!(need(&md, NOW), (5, 0));
    assert_eq!(warm(&md), None, "{md:?}");
    let renewed = apply(&md, &LeaseEdit::Hold(lease("run-d", 2, 90)), NOW).unwrap();
    assert_eq!(need(&renewed, NOW), (5, 0));
}

/// First come, first served: a lease is served once the ready nodes hold
/// every lease ahead of it; a renewal keeps its place, a new hold and a
/// holder not in line by its id queue last.
#[test]
fn leases_stand_in_line_and_renewals_keep_their_place() {
    let mut md = Vec::new();
    for (id, n) in [("run-a", 1), ("run-b", 2), ("run-c", 1)] {
        md = apply(&md, &LeaseEdit::Hold(lease(id, n, 60)), NOW).unwrap();
    }
    let ahead = |md: &[MetadataItem], id: &str| leases_ahead(md, NOW, &id.parse().unwrap());
    assert_eq!(ahead(&md, "run-a"), (0, 0));
    assert_eq!(ahead(&md, "run-b"), (1, 0));
    assert_eq!(ahead(&md, "run-c"), (3, 0));
    assert_eq!(ahead(&md, "merged-away"), (4, 0), "not in line: last");
    let renewed = apply(&md, &LeaseEdit::Hold(lease("run-a", 1, 120)), NOW).unwrap();
    assert_eq!(
        ahead(&renewed, "run-a"),
        (0, 0),
        "a renewal keeps its place"
    );
    let gone = apply(&md, &LeaseEdit::Release("run-a".parse().unwrap()), NOW).unwrap();
    let back = apply(&gone, &LeaseEdit::Hold(lease("run-a", 1, 60)), NOW).unwrap();
    assert_eq!(ahead(&back, "run-a"), (3, 0), "taken anew: last in line");
}

/// Telemetry reads holders off the answers by these names, without
/// importing the resizer: renaming a lease id must change it too.
#[test]
fn telemetry_names_the_services_own_leases_by_their_ids() {
    use crate::telemetry::metrics::holder_kind;
    assert_eq!(holder_kind(SCHEDULE_LEASE), "schedule");
    assert_eq!(holder_kind(WARM_LEASE), "keep-warm");
    assert_eq!(holder_kind(FORECAST_LEASE), "forecast");
    assert_eq!(holder_kind("run-42"), "leases");
}

#[test]
fn zero_node_leases_take_no_slot() {
    assert_eq!(
        apply(&[], &LeaseEdit::Hold(lease("nothing", 0, 60)), NOW),
        None
    );
    let md = apply(&[], &LeaseEdit::Hold(lease("a", 1, 60)), NOW).unwrap();
    // Dropping to zero nodes is letting go.
    assert_eq!(
        apply(&md, &LeaseEdit::Hold(lease("a", 0, 60)), NOW),
        Some(vec![])
    );
}

#[test]
fn answers_show_fingerprints_never_ids() {
    let shown = serde_json::to_value(lease("4f1c2d9e-secret-run-id", 1, 60)).unwrap();
    let holder = shown["holder"].as_str().unwrap();
    assert!(
        holder.starts_with("sha256:") && holder.len() == 19,
        "{holder}"
    );
    assert!(!shown.to_string().contains("secret-run-id"));
    assert_eq!(fingerprint(&"schedule".parse().unwrap()), "schedule");
}

#[test]
fn lease_ids_are_checked() {
    assert!(
        "4f1c2d9e-0000-4000-8000-000000000000"
            .parse::<LeaseId>()
            .is_ok()
    );
    assert!("schedule:business-hours".parse::<LeaseId>().is_ok());
    for bad in ["", "a b", "a/b", "é", &"x".repeat(81)] {
        assert!(bad.parse::<LeaseId>().is_err(), "{bad}");
    }
}
