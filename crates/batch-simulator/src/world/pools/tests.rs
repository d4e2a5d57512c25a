use super::*;
use crate::model::node::NodeState;
use crate::world::testing::*;

fn codes(p: &Pool) -> Vec<&str> {
    p.resize_errors.iter().map(|e| e.code.as_str()).collect()
}

/// Batch's `MetadataTooLarge`: on create and on PATCH, the pool unchanged.
#[test]
fn oversized_metadata_is_refused() {
    let mut w = world_with(|c| c.metadata_limit_bytes = 10);
    let item = |value: &str| NameValue {
        name: "k".into(),
        value: value.into(),
    };
    let mut big = NewPool::default_ubuntu("big");
    big.metadata = vec![item("0123456789")];
    let refused = w.create_pool(big).unwrap_err();
    assert_eq!(
        (refused.status, refused.code),
        (StatusCode::BAD_REQUEST, "MetadataTooLarge")
    );
    w.create_pool(NewPool::default_ubuntu("p")).unwrap();
    w.patch_pool("p", Some(vec![item("012345678")]), None, None)
        .unwrap();
    let refused = w
        .patch_pool("p", Some(vec![item("0123456789")]), None, None)
        .unwrap_err();
    assert_eq!(refused.code, "MetadataTooLarge");
    assert_eq!(w.pools["p"].metadata[0].value, "012345678", "unchanged");
}

#[test]
fn a_new_pool_sizes_itself_and_settles_without_moving_last_modified() {
    let mut w = world();
    w.create_pool(NewPool::default_ubuntu("p")).unwrap();
    let p = &w.pools["p"];
    assert_eq!(p.allocation_state, AllocationState::Resizing);
    let created = p.last_modified;
    w.advance_to(w.now() + secs(FIXED.noop_settle.0));
    let p = &w.pools["p"];
    assert_eq!(p.allocation_state, AllocationState::Steady);
    assert_eq!(p.last_modified, created);
    assert!(
        w.create_pool(NewPool::default_ubuntu("p")).is_err(),
        "PoolExists"
    );
}

#[test]
fn resize_allocates_then_settles_before_the_nodes_are_idle() {
    let mut w = world_with_pool("p");
    w.resize("p", Some(2), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    assert_eq!(w.pools["p"].target_dedicated, 2);
    w.advance_to(w.now() + secs(FIXED.allocate.0));
    assert_eq!(node_states(&w, "p"), vec![NodeState::Creating; 2]);
    assert_eq!(w.pools["p"].allocation_state, AllocationState::Resizing);
    w.advance_to(w.now() + secs(FIXED.settle_after_allocate.0));
    assert_eq!(w.pools["p"].allocation_state, AllocationState::Steady);
    assert_eq!(node_states(&w, "p"), vec![NodeState::Creating; 2]);
}

#[test]
fn a_second_resize_while_resizing_is_refused() {
    let mut w = world_with_pool("p");
    w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    let e = w
        .resize("p", Some(2), None, default_timeout(), Dealloc::Requeue)
        .unwrap_err();
    assert_eq!(e.code, "PoolBeingResized");
}

#[test]
fn quota_limits_allocation_and_shows_as_a_resize_error() {
    let mut w = world_with(|c| c.dedicated_core_quota = 1);
    w.create_pool(NewPool::default_ubuntu("p")).unwrap();
    w.advance_to(w.now() + secs(FIXED.noop_settle.0));
    w.resize("p", Some(3), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    w.advance_to(w.now() + secs(FIXED.allocate.0 + FIXED.settle_after_allocate.0));
    let p = &w.pools["p"];
    assert_eq!(p.current(true), 1);
    assert_eq!(codes(p), vec!["AccountCoreQuotaReached"]);
}

#[test]
fn a_stalled_allocation_ends_at_the_resize_timeout() {
    let mut w = world_with_pool("p");
    w.arm_alloc_fault("p", AllocFault::Stall);
    w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    w.advance_to(w.now() + secs(899.0));
    assert_eq!(w.pools["p"].allocation_state, AllocationState::Resizing);
    w.advance_to(w.now() + secs(1.0));
    let p = &w.pools["p"];
    assert_eq!(p.allocation_state, AllocationState::Steady);
    assert_eq!((p.current(true), codes(p)), (0, vec!["AllocationTimedout"]));
}

#[test]
fn stop_resize_settles_with_resize_stopped_when_short() {
    let mut w = world_with_pool("p");
    w.resize("p", Some(2), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    w.stop_resize("p").unwrap();
    assert_eq!(w.pools["p"].allocation_state, AllocationState::Stopping);
    w.advance_to(w.now() + secs(FIXED.stopping));
    let p = &w.pools["p"];
    assert_eq!(p.allocation_state, AllocationState::Steady);
    assert_eq!((p.target_dedicated, codes(p)), (2, vec!["ResizeStopped"]));
    w.advance_to(w.now() + secs(FIXED.allocate.0));
    assert!(
        w.pools["p"].nodes.is_empty(),
        "the stale Allocate was dropped"
    );
}

#[test]
fn shrink_removes_failed_nodes_before_idle_ones() {
    let mut w = world_with_pool("p");
    grow_to_idle(&mut w, "p", 2);
    let failed = w.force_node_state("p", None, NodeState::Unusable).unwrap();
    w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    let leaving: Vec<&str> = w.pools["p"]
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::LeavingPool)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(leaving, vec![failed.as_str()]);
}

#[test]
fn remove_nodes_drops_the_targets_at_once() {
    let mut w = world_with_pool("p");
    grow_to_idle(&mut w, "p", 2);
    let id = w.pools["p"].nodes[0].id.clone();
    w.remove_nodes(
        "p",
        std::slice::from_ref(&id),
        default_timeout(),
        Dealloc::Requeue,
    )
    .unwrap();
    assert_eq!(w.pools["p"].target_dedicated, 1);
    let e = w
        .remove_nodes("p", &[id], default_timeout(), Dealloc::Requeue)
        .unwrap_err();
    assert_eq!(e.code, "PoolBeingResized");
}

#[test]
fn stop_resize_keeps_last_modified_and_the_etag_of_the_resize() {
    let mut w = world_with_pool("p");
    w.resize("p", Some(2), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    let resized = w.pools["p"].etag();
    w.advance_to(w.now() + secs(1.0));
    w.stop_resize("p").unwrap();
    assert_eq!(w.pools["p"].etag(), resized, "the 202 keeps it");
    w.advance_to(w.now() + secs(FIXED.stopping));
    assert_eq!(w.pools["p"].allocation_state, AllocationState::Steady);
    assert_eq!(
        w.pools["p"].etag(),
        resized,
        "steady with ResizeStopped keeps it"
    );
    w.stop_resize("p").unwrap();
    assert_eq!(
        w.pools["p"].etag(),
        resized,
        "a stop on a steady pool changes nothing"
    );
}

#[test]
fn a_deleted_pool_stays_deleting_with_its_nodes_then_is_gone() {
    let mut w = world_with_pool("p");
    grow_to_idle(&mut w, "p", 1);
    let before = w.pools["p"].etag();
    w.advance_to(w.now() + secs(1.0));
    w.delete_pool("p").unwrap();
    let p = &w.pools["p"];
    assert!(p.deleting);
    assert_ne!(p.etag(), before, "a new ETag");
    assert_eq!((p.target_dedicated, p.current(true)), (0, 1));
    assert_eq!(p.resize_timeout, DELETE_RESIZE_TIMEOUT);
    assert_eq!(w.delete_pool("p").unwrap_err().code, "PoolBeingDeleted");
    w.advance_to(w.now() + secs(FIXED.pool_delete.0 - 1.0));
    assert_eq!(
        w.pools["p"].current(true),
        1,
        "its node is counted until the end"
    );
    w.advance_to(w.now() + secs(1.0));
    assert!(!w.pools.contains_key("p"));
    let last = w.events().since(0).pop().unwrap();
    assert!(
        matches!(last.kind, crate::EventKind::PoolTarget { ref state, .. } if state == "deleted")
    );
}

/// Batch ids are case-preserving and case-insensitive: `p1` is `P1`, which keeps its
/// spelling in everything it shows and logs, whoever named it how.
#[test]
fn pool_ids_are_case_insensitive_and_keep_their_case() {
    let mut w = world_with_pool("P1");
    let e = w.create_pool(NewPool::default_ubuntu("p1")).unwrap_err();
    assert_eq!(e.code, "PoolExists");
    assert_eq!(w.pools["p1"].id, "P1");
    w.arm_alloc_fault("p1", AllocFault::FailAfter(1));
    w.resize("p1", Some(2), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    w.advance_to(w.now() + secs(FIXED.allocate.0 + FIXED.settle_after_allocate.0));
    let p = &w.pools["P1"];
    assert_eq!(p.current(true), 1, "the fault armed as p1 hit P1");
    assert_eq!(p.resize_errors[0].code, "AllocationFailed");
    w.remove_nodes(
        "p1",
        &[p.nodes[0].id.clone()],
        default_timeout(),
        Dealloc::Requeue,
    )
    .unwrap();
    w.advance_to(w.now() + secs(FIXED.leaving.0));
    let named: Vec<String> = w
        .events()
        .since(0)
        .into_iter()
        .filter_map(|e| match e.kind {
            crate::EventKind::PoolTarget { pool_id, .. }
            | crate::EventKind::Node { pool_id, .. } => Some(pool_id),
            _ => None,
        })
        .collect();
    assert!(named.iter().any(|id| id == "P1"));
    assert!(named.iter().all(|id| id == "P1"), "{named:?}");
    w.delete_pool("p1").unwrap();
    w.advance_to(w.now() + secs(FIXED.pool_delete.0));
    assert!(!w.pools.contains_key("P1"));
    w.create_pool(NewPool::default_ubuntu("p1")).unwrap();
    assert_eq!(w.pools["P1"].id, "p1", "a new pool, spelled its own way");
}

#[test]
fn autoscale_refuses_manual_resizes_until_disabled() {
    let mut w = world_with_pool("p");
    w.enable_autoscale("p", Some("$TargetDedicatedNodes=0".into()), None)
        .unwrap();
    assert_eq!(w.pools["p"].auto_scale_interval.as_deref(), Some("PT15M"));
    let e = w
        .resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
        .unwrap_err();
    assert_eq!(e.code, "OperationNotValidOnPool");
    w.disable_autoscale("p").unwrap();
    assert!(
        w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
            .is_ok()
    );
}
