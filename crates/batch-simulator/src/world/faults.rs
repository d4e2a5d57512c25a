//! World faults: the things that go wrong inside the service rather than on the wire.
//!
//! Two kinds, both reached through `crate::faults::Faults` (HTTP `POST /_simulator/faults`
//! or Rust):
//!
//! * an allocation fault, *armed* for a pool's next resize (`World::arm_alloc_fault`) and
//!   consumed by it: [`AllocFault::FailAfter`](crate::model::pool::AllocFault) stops
//!   allocating after k nodes (`AllocationFailed`), `Stall` allocates nothing until the
//!   resize timeout (`AllocationTimedout`); `world::pools::allocate` applies them;
//! * a node failure, *now* ([`fail_node`]): a node goes `unusable` or `starttaskfailed`,
//!   as a VM that breaks or a start task that fails after the fact, or `preempted`; or it
//!   restarts (`rebooting`, `reimaging`), as maintenance or someone's reboot does it, and
//!   boots again (`world::nodes::restarted`).

use axum::http::StatusCode;

use super::agenda::Agenda;
use super::tasks::{self, Evicted};
use crate::errors::ErrorReply;
use crate::model::node::{NodeState, StartTaskRun};
use crate::model::{Jobs, Pools};
use crate::wire::NodeErrorWire;

/// Force a node (default: the first idle one) into `unusable`, `starttaskfailed`,
/// `preempted`, or a restart (`rebooting`, `reimaging`). Its running tasks go back to the
/// queue (`nodeFailed`; `requeued` for a restart, Batch's default `nodeRebootOption`); its
/// pending boot steps are cancelled, and a restarted node boots again after
/// `Timing::rebooting` or `Timing::reimaging`. Returns the node's id.
pub(super) fn fail_node(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: &str,
    node: Option<&str>,
    to: NodeState,
) -> Result<String, ErrorReply> {
    let p = pools.get_mut(pool).ok_or_else(ErrorReply::pool_not_found)?;
    let pool_id = p.id.clone();
    let n = match node {
        Some(id) => p.node_mut(id).ok_or_else(ErrorReply::node_not_found)?,
        None => p
            .nodes
            .iter_mut()
            .find(|n| {
                n.state == NodeState::Idle
                    && !n.is_leaving()
                    && (to != NodeState::Preempted || !n.is_dedicated)
            })
            .ok_or_else(|| {
                ErrorReply::new(
                    StatusCode::CONFLICT,
                    "NoIdleNode",
                    "The pool has no idle node.",
                )
            })?,
    };
    n.epoch += 1;
    let now = agenda.now();
    let running = n.take_running();
    let restart = match to {
        NodeState::Rebooting => Some(agenda.timing.rebooting),
        NodeState::Reimaging => Some(agenda.timing.reimaging),
        _ => None,
    };
    let reason = if restart.is_some() {
        "requeued"
    } else {
        "nodeFailed"
    };
    tasks::evict(agenda, jobs, running, Evicted::Requeue { reason });
    match to {
        NodeState::StartTaskFailed => {
            n.start_task_run = Some(StartTaskRun {
                start_time: now,
                end_time: Some(now),
                exit_code: Some(1),
            });
        }
        NodeState::Unusable => n.errors.push(NodeErrorWire {
            code: "NodeUnusable",
            message: "The node is unusable (fault injected by the simulator).".into(),
            error_details: Vec::new(),
        }),
        _ => {}
    }
    agenda.set_node_state(&pool_id, n, to);
    if let Some(range) = restart {
        agenda.next_boot_step(range, &pool_id, &n.id, n.epoch);
    }
    let nid = n.id.clone();
    tasks::schedule(agenda, pools, jobs);
    Ok(nid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job::TaskState;
    use crate::model::node::Dealloc;
    use crate::model::pool::{AllocFault, AllocationState};
    use crate::world::testing::*;

    #[test]
    fn a_failed_node_requeues_its_task_which_moves_to_a_healthy_node() {
        let mut w = world_with_job(2);
        w.add_task("j", "t", "sleep 100", 1).unwrap();
        let busy = w.jobs["j"].tasks[0].node.clone().unwrap().1;
        let failed = w
            .force_node_state("p", Some(&busy), NodeState::Unusable)
            .unwrap();
        assert_eq!(failed, busy);
        let t = &w.jobs["j"].tasks[0];
        assert_eq!((t.state, t.requeue_count), (TaskState::Running, 1));
        assert_ne!(t.node.as_ref().unwrap().1, busy, "rescheduled elsewhere");
        let n = w.pools["p"].nodes.iter().find(|n| n.id == busy).unwrap();
        assert_eq!((n.state, n.errors.len()), (NodeState::Unusable, 1));
    }

    #[test]
    fn start_task_failure_is_recorded_on_the_node() {
        let mut w = world_with_pool("p");
        grow_to_idle(&mut w, "p", 1);
        w.force_node_state("p", None, NodeState::StartTaskFailed)
            .unwrap();
        let n = &w.pools["p"].nodes[0];
        assert_eq!(n.state, NodeState::StartTaskFailed);
        assert_eq!(n.start_task_run.as_ref().unwrap().exit_code, Some(1));
        let e = w
            .force_node_state("p", None, NodeState::Unusable)
            .unwrap_err();
        assert_eq!(e.code, "NoIdleNode");
    }

    #[test]
    fn an_armed_allocation_failure_stops_after_k_nodes_once() {
        let mut w = world_with_pool("p");
        w.arm_alloc_fault("p", AllocFault::FailAfter(1));
        w.resize("p", Some(3), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        w.advance_to(w.now() + secs(FIXED.allocate.0 + FIXED.settle_after_allocate.0));
        let p = &w.pools["p"];
        assert_eq!(p.allocation_state, AllocationState::Steady);
        assert_eq!(p.current(true), 1);
        assert_eq!(p.resize_errors[0].code, "AllocationFailed");
        w.resize("p", Some(3), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        w.advance_to(w.now() + secs(FIXED.allocate.0 + FIXED.settle_after_allocate.0));
        assert_eq!(w.pools["p"].current(true), 3, "the fault was used up");
    }

    #[test]
    fn cleared_faults_do_not_fire() {
        let mut w = world_with_pool("p");
        w.arm_alloc_fault("p", AllocFault::Stall);
        w.clear_alloc_faults();
        w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        w.advance_to(w.now() + secs(FIXED.allocate.0));
        assert_eq!(w.pools["p"].current(true), 1);
    }
}
