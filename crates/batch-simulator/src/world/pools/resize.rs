//! Resizes: the API's resize, stop-resize and remove-nodes, and the agenda
//! actions that finish them (`Allocate`, `AllocDone`, `ResizeTimeout`,
//! `StopDone`). See the parent module for the whole life of a resize.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::StatusCode;

use super::for_change;
use crate::errors::ErrorReply;
use crate::model::node::Dealloc;
use crate::model::pool::{AllocFault, AllocationState, Pool, ResizeOp};
use crate::model::{Jobs, Pools};
use crate::wire::ErrorWire;
use crate::world::agenda::{Action, Agenda};
use crate::world::nodes;

/// Where a resize goes.
#[derive(Debug, Clone)]
pub(in crate::world) struct Resize {
    pub dedicated: u32,
    pub low_priority: u32,
    pub timeout: (String, Duration),
    pub dealloc: Dealloc,
    /// Whether `lastModified` moves (an API resize), or not (a pool's initial sizing).
    pub touch: bool,
}

/// Account core quotas, (dedicated, low priority).
pub(in crate::world) type Quota = (u32, u32);

fn resize_error(code: &str, message: &str) -> ErrorWire {
    ErrorWire {
        code: code.to_string(),
        message: message.to_string(),
        values: Vec::new(),
    }
}

/// A pool whose nodes the API may change by hand: not being deleted, not autoscaled, and
/// steady (a resize or a removal waits for the last one to end).
fn for_manual_change<'a>(pools: &'a mut Pools, id: &str) -> Result<&'a mut Pool, ErrorReply> {
    let p = for_change(pools, id)?;
    if p.enable_auto_scale {
        return Err(ErrorReply::autoscale_enabled());
    }
    if p.allocation_state != AllocationState::Steady {
        return Err(ErrorReply::pool_being_resized());
    }
    Ok(p)
}

/// `POST /pools/{id}/resize` after validation: only a steady, manually scaled pool.
pub(in crate::world) fn resize(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    to: Resize,
    fault: impl FnOnce() -> Option<AllocFault>,
) -> Result<(), ErrorReply> {
    for_manual_change(pools, id)?;
    start_resize(agenda, pools, jobs, id, to, fault());
    Ok(())
}

/// Start a resize: set the targets, send the surplus nodes away at once (the least
/// useful first), and schedule the allocation of the missing ones. Autoscale
/// evaluations resize through here too.
pub(in crate::world) fn start_resize(
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
pub(in crate::world) fn allocate(
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
pub(in crate::world) fn alloc_done(agenda: &mut Agenda, pools: &mut Pools, pool: &str, epoch: u64) {
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
pub(in crate::world) fn resize_timeout(
    agenda: &mut Agenda,
    pools: &mut Pools,
    pool: &str,
    epoch: u64,
) {
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
pub(in crate::world) fn stop_resize(
    agenda: &mut Agenda,
    pools: &mut Pools,
    id: &str,
) -> Result<(), ErrorReply> {
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
pub(in crate::world) fn stop_done(agenda: &mut Agenda, pools: &mut Pools, pool: &str, epoch: u64) {
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
pub(in crate::world) fn remove_nodes(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    node_ids: &[String],
    timeout: (String, Duration),
    dealloc: Dealloc,
) -> Result<(), ErrorReply> {
    let p = for_manual_change(pools, id)?;
    for nid in node_ids {
        match p.nodes.iter().find(|n| &n.id == nid) {
            None => return Err(ErrorReply::node_not_found().with_value("NodeId", nid.clone())),
            Some(n) if n.is_leaving() => {
                return Err(ErrorReply::new(
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
