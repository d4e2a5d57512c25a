//! Pools: the API's pool operations, and the events that finish them.
//!
//! A resize is the heart of it:
//!
//! ```text
//! resize (API)      steady -> resizing; nodes to drop start leaving at once;
//!                   schedules Allocate (+ ResizeTimeout), or AllocDone when nothing to add
//! Allocate          the VMs exist: node records appear `creating` (as many as the
//!                   quota and an armed allocation fault allow); schedules AllocDone
//! AllocDone         allocation over: steady once no node is still leaving
//! ResizeTimeout     allocation still running at resizeTimeout: AllocationTimedout
//! stopresize (API)  resizing -> stopping; StopDone: steady, ResizeStopped if short
//! delete (API)      deleting, every node leaves; PoolGone once they are gone
//! ```
//!
//! The pool goes `steady` *before* its nodes are idle, as the service does: allocation
//! is about VMs, not about their boot. `lastModified` (and the ETag) move only on the
//! API operations here, never on the events.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::agenda::{Action, Agenda};
use super::nodes;
use crate::errors::ApiError;
use crate::model::node::Dealloc;
use crate::model::pool::{
    AllocFault, AllocationState, Pool, ResizeOp, cores_for, default_vm_config, normalize_start_task,
};
use crate::model::{Jobs, Pools};
use crate::wire::{ErrorWire, NameValue};

/// Parameters of a pool creation, already validated.
#[derive(Debug, Clone)]
pub(crate) struct NewPool {
    pub id: String,
    pub display_name: Option<String>,
    pub vm_size: String,
    pub vm_config: Option<Value>,
    pub start_task: Option<Value>,
    pub metadata: Vec<NameValue>,
    pub task_slots_per_node: u32,
    pub enable_inter_node_communication: bool,
    pub target_dedicated: u32,
    pub target_low_priority: u32,
    pub resize_timeout: (String, Duration),
    pub auto_scale: Option<(String, String)>,
}

impl NewPool {
    /// The pool `--pool ID` creates: Ubuntu, standard_a1_v2, 0 nodes, `sleep 30` start task.
    pub(crate) fn default_ubuntu(id: &str) -> Self {
        NewPool {
            id: id.to_string(),
            display_name: None,
            vm_size: "standard_a1_v2".into(),
            vm_config: Some(default_vm_config()),
            start_task: Some(normalize_start_task(json!({
                "commandLine": "/bin/bash -c \"sleep 30\"",
                "waitForSuccess": true
            }))),
            metadata: Vec::new(),
            task_slots_per_node: 1,
            enable_inter_node_communication: false,
            target_dedicated: 0,
            target_low_priority: 0,
            resize_timeout: ("PT15M".into(), Duration::from_secs(900)),
            auto_scale: None,
        }
    }
}

/// Where a resize goes.
#[derive(Debug, Clone)]
pub(super) struct Resize {
    pub dedicated: u32,
    pub low_priority: u32,
    pub timeout: (String, Duration),
    pub dealloc: Dealloc,
    /// Whether `lastModified` moves (an API resize), or not (a pool's initial sizing).
    pub touch: bool,
}

/// Account core quotas, (dedicated, low priority).
pub(super) type Quota = (u32, u32);

fn resize_error(code: &str, message: &str) -> ErrorWire {
    ErrorWire {
        code: code.to_string(),
        message: message.to_string(),
        values: Vec::new(),
    }
}

/// `POST /pools` after validation: the record, then its initial sizing (even to 0 it
/// shows `resizing` briefly, as recorded).
pub(super) fn create(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    np: NewPool,
    fault: impl FnOnce() -> Option<AllocFault>,
) -> Result<(), ApiError> {
    if pools.contains_key(&np.id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolExists",
            "The specified pool already exists.",
        ));
    }
    let now = agenda.now();
    let mut pool = Pool {
        id: np.id.clone(),
        display_name: np.display_name,
        vm_size: np.vm_size.clone(),
        cores_per_node: cores_for(&np.vm_size),
        vm_config: np.vm_config,
        start_task: np.start_task,
        metadata: np.metadata,
        task_slots_per_node: np.task_slots_per_node.max(1),
        enable_inter_node_communication: np.enable_inter_node_communication,
        creation_time: now,
        deleting: false,
        state_transition_time: now,
        allocation_state: AllocationState::Steady,
        allocation_state_transition_time: now,
        last_modified: now,
        target_dedicated: 0,
        target_low_priority: 0,
        resize_timeout: np.resize_timeout.0.clone(),
        resize_timeout_dur: np.resize_timeout.1,
        dealloc: Dealloc::Requeue,
        enable_auto_scale: false,
        auto_scale_formula: None,
        auto_scale_interval: None,
        auto_scale_run: None,
        auto_scale_epoch: 0,
        metrics: Default::default(),
        resize_errors: Vec::new(),
        op: ResizeOp {
            alloc_done: true,
            errors: Vec::new(),
            fault: None,
        },
        epoch: 0,
        nodes: Vec::new(),
        node_counter: 0,
    };
    // The formula's first evaluation follows at once (`World::create_pool`).
    if let Some((formula, interval)) = np.auto_scale {
        pool.enable_auto_scale = true;
        pool.auto_scale_formula = Some(formula);
        pool.auto_scale_interval = Some(interval);
    }
    pools.insert(np.id.clone(), pool);
    let to = Resize {
        dedicated: np.target_dedicated,
        low_priority: np.target_low_priority,
        timeout: np.resize_timeout,
        dealloc: Dealloc::Requeue,
        touch: false,
    };
    start_resize(agenda, pools, jobs, &np.id, to, fault());
    Ok(())
}

/// A pool that exists and is not being deleted, for a mutating call.
pub(super) fn for_change<'a>(pools: &'a mut Pools, id: &str) -> Result<&'a mut Pool, ApiError> {
    let p = pools.get_mut(id).ok_or_else(ApiError::pool_not_found)?;
    if p.deleting {
        return Err(ApiError::pool_being_deleted());
    }
    Ok(p)
}

/// A pool whose nodes the API may change by hand: not being deleted, not autoscaled, and
/// steady (a resize or a removal waits for the last one to end).
fn for_manual_change<'a>(pools: &'a mut Pools, id: &str) -> Result<&'a mut Pool, ApiError> {
    let p = for_change(pools, id)?;
    if p.enable_auto_scale {
        return Err(ApiError::autoscale_enabled());
    }
    if p.allocation_state != AllocationState::Steady {
        return Err(ApiError::pool_being_resized());
    }
    Ok(p)
}

/// `POST /pools/{id}/resize` after validation: only a steady, manually scaled pool.
/// A target left out keeps its current value.
#[allow(clippy::too_many_arguments)]
pub(super) fn resize(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    dedicated: Option<u32>,
    low_priority: Option<u32>,
    timeout: (String, Duration),
    dealloc: Dealloc,
    fault: impl FnOnce() -> Option<AllocFault>,
) -> Result<(), ApiError> {
    let p = for_manual_change(pools, id)?;
    let to = Resize {
        dedicated: dedicated.unwrap_or(p.target_dedicated),
        low_priority: low_priority.unwrap_or(p.target_low_priority),
        timeout,
        dealloc,
        touch: true,
    };
    start_resize(agenda, pools, jobs, id, to, fault());
    Ok(())
}

/// Start a resize: set the targets, send the surplus nodes away at once (the least
/// useful first), and schedule the allocation of the missing ones. Autoscale
/// evaluations resize through here too.
pub(super) fn start_resize(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    to: Resize,
    fault: Option<AllocFault>,
) {
    let Some(p) = pools.get_mut(id) else { return };
    let now = agenda.now();
    p.epoch += 1;
    p.target_dedicated = to.dedicated;
    p.target_low_priority = to.low_priority;
    p.resize_timeout = to.timeout.0;
    p.resize_timeout_dur = to.timeout.1;
    p.dealloc = to.dealloc;
    p.resize_errors.clear();
    p.allocation_state = AllocationState::Resizing;
    p.allocation_state_transition_time = now;
    if to.touch {
        p.last_modified = now;
    }
    p.op = ResizeOp {
        alloc_done: false,
        errors: Vec::new(),
        fault,
    };
    for dedicated in [true, false] {
        let target = if dedicated {
            to.dedicated
        } else {
            to.low_priority
        };
        for nid in surplus(p, dedicated, target) {
            nodes::remove(agenda, jobs, p, &nid, to.dealloc);
        }
    }
    let need_alloc = to.dedicated > p.live(true) || to.low_priority > p.live(false);
    let (pool, epoch) = (id.to_string(), p.epoch);
    if need_alloc {
        if p.op.fault != Some(AllocFault::Stall) {
            let after = agenda.jitter(agenda.timing.allocate);
            agenda.schedule(
                after,
                Action::Allocate {
                    pool: pool.clone(),
                    epoch,
                },
            );
        }
        agenda.schedule(
            time::Duration::seconds_f64(p.resize_timeout_dur.as_secs_f64()),
            Action::ResizeTimeout { pool, epoch },
        );
    } else {
        let after = agenda.jitter(agenda.timing.noop_settle);
        agenda.schedule(after, Action::AllocDone { pool, epoch });
    }
    agenda.pool_event(p);
}

/// The nodes of a kind a shrink to `target` removes, as the service picks them:
/// `unusable`/`starttaskfailed` first, then `idle`, then not yet ready, then `running`;
/// among equals the newest first.
fn surplus(p: &Pool, dedicated: bool, target: u32) -> Vec<String> {
    let live = p.live(dedicated);
    if target >= live {
        return Vec::new();
    }
    let mut candidates: Vec<(u8, usize)> = p
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.is_dedicated == dedicated && !n.is_leaving())
        .map(|(i, n)| (n.state.removal_rank(), i))
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    candidates
        .iter()
        .take((live - target) as usize)
        .map(|(_, i)| p.nodes[*i].id.clone())
        .collect()
}

/// Handles [`Action::Allocate`]: the missing nodes appear, as far as the account's core
/// quota and an armed `FailAfter` fault allow (each shortfall is a resize error shown
/// once the pool is steady).
pub(super) fn allocate(
    agenda: &mut Agenda,
    pools: &mut Pools,
    quota: Quota,
    pool: &str,
    epoch: u64,
) {
    let used = cores_in_use(pools);
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    if p.epoch != epoch || p.allocation_state != AllocationState::Resizing {
        return;
    }
    let mut budget = match p.op.fault {
        Some(AllocFault::FailAfter(k)) => Some(k),
        _ => None,
    };
    for dedicated in [true, false] {
        let target = if dedicated {
            p.target_dedicated
        } else {
            p.target_low_priority
        };
        let live = p.live(dedicated);
        if target <= live {
            continue;
        }
        let mut want = target - live;
        let (limit, in_use) = if dedicated {
            (quota.0, used.0)
        } else {
            (quota.1, used.1)
        };
        let fits = limit.saturating_sub(in_use) / p.cores_per_node.max(1);
        if fits < want {
            want = fits;
            p.op.errors.push(if dedicated {
                resize_error(
                    "AccountCoreQuotaReached",
                    "The specified account has reached VM core quota.",
                )
            } else {
                resize_error(
                    "AccountLowPriorityCoreQuotaReached",
                    "The specified account has reached VM low priority core quota.",
                )
            });
        }
        if let Some(b) = budget.as_mut() {
            if *b < want {
                want = *b;
                p.op.errors.push(resize_error(
                    "AllocationFailed",
                    "Desired number of nodes could not be allocated (allocation failure injected by the simulator).",
                ));
            }
            *b -= want;
        }
        for _ in 0..want {
            nodes::allocate(agenda, p, dedicated);
        }
    }
    let after = agenda.jitter(agenda.timing.settle_after_allocate);
    agenda.schedule(
        after,
        Action::AllocDone {
            pool: pool.to_string(),
            epoch,
        },
    );
}

/// Total cores held by (dedicated, low-priority) nodes across the account.
fn cores_in_use(pools: &Pools) -> (u32, u32) {
    let mut d = 0;
    let mut l = 0;
    for p in pools.values() {
        d += p.current(true) * p.cores_per_node;
        l += p.current(false) * p.cores_per_node;
    }
    (d, l)
}

/// Handles [`Action::AllocDone`]: allocation is over; steady unless nodes still leave
/// (then the last `NodeGone` settles it).
pub(super) fn alloc_done(agenda: &mut Agenda, pools: &mut Pools, pool: &str, epoch: u64) {
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    if p.epoch != epoch || p.allocation_state != AllocationState::Resizing {
        return;
    }
    p.op.alloc_done = true;
    if p.settle_if_done(agenda.now()) {
        agenda.pool_event(p);
    }
}

/// Handles [`Action::ResizeTimeout`]: only a stalled allocation is still running by now.
pub(super) fn resize_timeout(agenda: &mut Agenda, pools: &mut Pools, pool: &str, epoch: u64) {
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    if p.epoch != epoch || p.allocation_state != AllocationState::Resizing || p.op.alloc_done {
        return;
    }
    p.op.alloc_done = true;
    p.op.errors.push(resize_error(
        "AllocationTimedout",
        "Desired number of dedicated nodes could not be allocated as the resize timeout was reached",
    ));
    if p.settle_if_done(agenda.now()) {
        agenda.pool_event(p);
    }
}

/// `POST /pools/{id}/stopresize`: a resizing pool goes `stopping`; on a steady pool it
/// is a 202 that changes nothing. Either way `lastModified` and the ETag stay those of
/// the resize it stops: the service's 202 answers with them, and so do the GETs while
/// `stopping` and once steady with `ResizeStopped` (recorded: JS
/// `recording_should_stop_pool_resizing_successfully.json`, Java
/// `PoolTests.canRebootReimageRemoveNodesAndStopResize`).
pub(super) fn stop_resize(
    agenda: &mut Agenda,
    pools: &mut Pools,
    id: &str,
) -> Result<(), ApiError> {
    let p = for_change(pools, id)?;
    let now = agenda.now();
    if p.allocation_state == AllocationState::Resizing {
        p.epoch += 1;
        p.allocation_state = AllocationState::Stopping;
        p.allocation_state_transition_time = now;
        agenda.schedule(
            time::Duration::seconds_f64(agenda.timing.stopping),
            Action::StopDone {
                pool: id.to_string(),
                epoch: p.epoch,
            },
        );
        agenda.pool_event(p);
    }
    Ok(())
}

/// Handles [`Action::StopDone`]: steady, with the targets as requested and
/// `ResizeStopped` when the nodes fall short of them.
pub(super) fn stop_done(agenda: &mut Agenda, pools: &mut Pools, pool: &str, epoch: u64) {
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    if p.epoch != epoch || p.allocation_state != AllocationState::Stopping {
        return;
    }
    let mut errors = std::mem::take(&mut p.op.errors);
    if p.live(true) != p.target_dedicated || p.live(false) != p.target_low_priority {
        errors.push(resize_error(
            "ResizeStopped",
            "Desired number of dedicated nodes could not be allocated due to a stop resize operation",
        ));
    }
    p.op.alloc_done = true;
    p.resize_errors = errors;
    p.allocation_state = AllocationState::Steady;
    p.allocation_state_transition_time = agenda.now();
    agenda.pool_event(p);
}

/// `POST /pools/{id}/removenodes`: only when steady; the targets drop at once to the
/// nodes that stay (recorded: 2 nodes, remove 1 -> target 1 immediately).
pub(super) fn remove_nodes(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    node_ids: &[String],
    timeout: (String, Duration),
    dealloc: Dealloc,
) -> Result<(), ApiError> {
    let p = for_manual_change(pools, id)?;
    for nid in node_ids {
        match p.nodes.iter().find(|n| &n.id == nid) {
            None => return Err(ApiError::node_not_found().with_value("NodeId", nid.clone())),
            Some(n) if n.is_leaving() => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "OperationNotValidOnNode",
                    "The specified operation is not valid on a node that is leaving the pool.",
                )
                .with_value("NodeId", nid.clone()));
            }
            Some(_) => {}
        }
    }
    let now = agenda.now();
    p.epoch += 1;
    p.last_modified = now;
    p.allocation_state = AllocationState::Resizing;
    p.allocation_state_transition_time = now;
    p.resize_errors.clear();
    p.resize_timeout = timeout.0;
    p.resize_timeout_dur = timeout.1;
    p.op = ResizeOp {
        alloc_done: true,
        errors: Vec::new(),
        fault: None,
    };
    let mut seen = HashSet::new();
    for nid in node_ids {
        if seen.insert(nid.clone()) {
            nodes::remove(agenda, jobs, p, nid, dealloc);
        }
    }
    p.target_dedicated = p.live(true);
    p.target_low_priority = p.live(false);
    agenda.pool_event(p);
    if p.settle_if_done(now) {
        agenda.pool_event(p);
    }
    Ok(())
}

/// Batch refuses pool metadata above a size with 400 `MetadataTooLarge`; it
/// documents no number, so the limit is the config's (names and values,
/// UTF-8 bytes, added up).
pub(super) fn check_metadata(metadata: &[NameValue], limit: usize) -> Result<(), ApiError> {
    let size: usize = metadata.iter().map(|m| m.name.len() + m.value.len()).sum();
    if size > limit {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MetadataTooLarge",
            "The size of the metadata exceeds the maximum permitted.",
        ));
    }
    Ok(())
}

/// `PATCH /pools/{id}`: replaces what is given (metadata as a whole list).
pub(super) fn patch(
    agenda: &Agenda,
    pools: &mut Pools,
    id: &str,
    metadata: Option<Vec<NameValue>>,
    start_task: Option<Value>,
    display_name: Option<String>,
) -> Result<(), ApiError> {
    let now = agenda.now();
    let p = for_change(pools, id)?;
    if let Some(m) = metadata {
        p.metadata = m;
    }
    if let Some(st) = start_task {
        p.start_task = Some(normalize_start_task(st));
    }
    if let Some(d) = display_name {
        p.display_name = Some(d);
    }
    p.last_modified = now;
    Ok(())
}

/// What the service shows as a deleted pool's `resizeTimeout` (recorded by the Java and
/// .NET SDKs on two different pools: `PT7M9.497S`).
pub(super) const DELETE_RESIZE_TIMEOUT: &str = "PT7M9.497S";

/// `DELETE /pools/{id}`: `deleting` (a new `lastModified`, so a new ETag), resizing
/// toward 0 with every node leaving, for `Timing::pool_delete` (recorded: 108 s with its
/// node still counted); then the pool and its nodes are gone at once.
pub(super) fn delete(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
) -> Result<(), ApiError> {
    let p = for_change(pools, id)?;
    let now = agenda.now();
    p.deleting = true;
    p.state_transition_time = now;
    p.last_modified = now;
    p.epoch += 1;
    p.target_dedicated = 0;
    p.target_low_priority = 0;
    p.resize_timeout = DELETE_RESIZE_TIMEOUT.into();
    p.resize_errors.clear();
    p.allocation_state = AllocationState::Resizing;
    p.allocation_state_transition_time = now;
    let ids: Vec<String> = p.nodes.iter().map(|n| n.id.clone()).collect();
    for nid in ids {
        nodes::leave_with_pool(agenda, jobs, p, &nid);
    }
    agenda.pool_event(p);
    let after = agenda.jitter(agenda.timing.pool_delete);
    agenda.schedule(
        after,
        Action::PoolGone {
            pool: id.to_string(),
        },
    );
    Ok(())
}

/// Handles [`Action::PoolGone`]: the record disappears with the nodes it still had,
/// with a last `poolTarget` event whose state is `deleted`.
pub(super) fn gone(agenda: &mut Agenda, pools: &mut Pools, pool: &str) {
    if let Some(p) = pools.remove(pool) {
        for n in &p.nodes {
            agenda.log(crate::events::EventKind::Node {
                pool_id: p.id.clone(),
                node_id: n.id.clone(),
                from: Some(n.state.as_str().to_string()),
                to: "removed".into(),
            });
        }
        agenda.log(crate::events::EventKind::PoolTarget {
            pool_id: p.id,
            target_dedicated_nodes: 0,
            target_low_priority_nodes: 0,
            current_dedicated_nodes: 0,
            current_low_priority_nodes: 0,
            allocation_state: "steady".into(),
            state: "deleted".into(),
        });
    }
}

#[cfg(test)]
mod tests {
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
}
