//! Nodes: allocation, boot, start task, removal.
//!
//! ```text
//! allocate -> creating --NodeStep--> starting --NodeStep--> waitingforstarttask --NodeStep--> idle
//!                                        |                                             \-> starttaskfailed
//!                                        \-- start task without waitForSuccess: idle at once,
//!                                            StartTaskDone records its end later
//! remove   -> leavingpool --NodeGone--> removed   (or, with taskcompletion/retaineddata and
//!                                                  running tasks: stays, scheduling disabled,
//!                                                  until its last task ends)
//! restart  -> rebooting | reimaging --NodeStep--> starting --> ... as a new node boots
//!             (`world::faults::fail_node`; allocationTime stays, lastBootTime is the boot
//!             before until the node has booted again, as Batch's recording shows)
//! ```
//!
//! Each step is one handler below; [`step`] only picks the one for the node's state.
//! Durations come from [`Timing`](super::Timing) and, for the start task, from its
//! command line (`sleep N`, `exit N`; see [`crate::command`]).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::agenda::{Action, Agenda};
use super::tasks::{self, Evicted};
use crate::command;
use crate::events::EventKind;
use crate::model::node::{Dealloc, Node, NodeState, StartTaskRun};
use crate::model::pool::Pool;
use crate::model::{Jobs, Pools};

/// A new VM for the pool: a `creating` node, and its first boot step scheduled.
///
/// Node ids are derived from the seed, the pool and a counter, so a seeded run names
/// its nodes the same way every time (`tvmps_<sha256>_d` dedicated, `_p` low priority).
pub(super) fn allocate(agenda: &mut Agenda, p: &mut Pool, dedicated: bool) {
    p.node_counter += 1;
    let mut h = Sha256::new();
    h.update(agenda.seed().to_le_bytes());
    h.update(p.id.as_bytes());
    h.update(p.creation_time.unix_timestamp_nanos().to_le_bytes());
    h.update(p.node_counter.to_le_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let id = format!("tvmps_{hex}_{}", if dedicated { "d" } else { "p" });
    let c = p.node_counter + 3;
    let mut image = p
        .vm_config
        .as_ref()
        .and_then(|v| v.get("imageReference"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Value::Object(m) = &mut image {
        let v = m.get("version").cloned().unwrap_or(json!("latest"));
        m.insert("exactVersion".into(), v);
    }
    let now = agenda.now();
    p.nodes.push(Node {
        id: id.clone(),
        is_dedicated: dedicated,
        state: NodeState::Creating,
        state_transition_time: now,
        allocation_time: now,
        last_boot_time: None,
        ip_address: format!("10.0.{}.{}", c / 250, c % 250),
        vm_size: p.vm_size.clone(),
        start_task: None,
        start_task_run: None,
        running: Vec::new(),
        running_slots: 0,
        total_tasks_run: 0,
        total_tasks_succeeded: 0,
        pending_removal: None,
        epoch: 0,
        errors: Vec::new(),
        vm_image: image,
    });
    agenda.log(EventKind::Node {
        pool_id: p.id.clone(),
        node_id: id.clone(),
        from: None,
        to: "creating".into(),
    });
    agenda.next_boot_step(agenda.timing.creating, &p.id, &id, 0);
}

/// Handles [`Action::NodeStep`]: one boot step, chosen by the node's state. A node that
/// became idle may take waiting tasks.
pub(super) fn step(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: String,
    node: String,
    epoch: u64,
) {
    let Some(p) = pools.get_mut(&pool) else {
        return;
    };
    let start_task = p.start_task.clone();
    let Some(n) = p.node_mut(&node) else { return };
    if n.epoch != epoch {
        return;
    }
    let free = match n.state {
        NodeState::Creating => created(agenda, &pool, n),
        NodeState::Starting => booted(agenda, &pool, n, start_task),
        NodeState::WaitingForStartTask => start_task_ended(agenda, &pool, n),
        NodeState::Rebooting | NodeState::Reimaging => restarted(agenda, &pool, n),
        _ => false,
    };
    if free {
        tasks::schedule(agenda, pools, jobs);
    }
}

/// `creating` -> `starting`: the VM exists and boots.
fn created(agenda: &mut Agenda, pool: &str, n: &mut Node) -> bool {
    agenda.set_node_state(pool, n, NodeState::Starting);
    agenda.next_boot_step(agenda.timing.starting, pool, &n.id, n.epoch);
    false
}

/// `rebooting`/`reimaging` -> `starting`: the VM is back and boots. Its `lastBootTime`
/// stays the boot before until [`booted`] (recorded: a reimaged node `starting` again
/// still shows it); its start task runs again then.
fn restarted(agenda: &mut Agenda, pool: &str, n: &mut Node) -> bool {
    created(agenda, pool, n)
}

/// Move the times of a pool's nodes (or of one) `by` into the past, as if they had joined
/// the pool that much earlier: `allocationTime`, `lastBootTime`, `stateTransitionTime` and
/// the start task's times. Nothing else changes (not the pool, not the event log).
/// Returns the ids of the nodes moved.
pub(super) fn age(
    pools: &mut Pools,
    pool: &str,
    node: Option<&str>,
    by: time::Duration,
) -> Result<Vec<String>, crate::errors::ErrorReply> {
    use crate::errors::ErrorReply;
    let p = pools.get_mut(pool).ok_or_else(ErrorReply::pool_not_found)?;
    if node.is_some_and(|id| p.node_mut(id).is_none()) {
        return Err(ErrorReply::node_not_found());
    }
    let mut aged = Vec::new();
    for n in p
        .nodes
        .iter_mut()
        .filter(|n| node.is_none_or(|id| n.id == id))
    {
        n.allocation_time -= by;
        n.state_transition_time -= by;
        n.last_boot_time = n.last_boot_time.map(|t| t - by);
        if let Some(run) = n.start_task_run.as_mut() {
            run.start_time -= by;
            run.end_time = run.end_time.map(|t| t - by);
        }
        aged.push(n.id.clone());
    }
    Ok(aged)
}

/// `starting` -> booted: the node takes the pool's start task as it is now and runs it.
/// With waitForSuccess it waits in `waitingforstarttask`; without, it is `idle` at once
/// and the start task ends in the background. Returns whether the node is free.
fn booted(agenda: &mut Agenda, pool: &str, n: &mut Node, start_task: Option<Value>) -> bool {
    let now = agenda.now();
    n.last_boot_time = Some(now);
    n.start_task = start_task.clone();
    let Some(st) = start_task else {
        agenda.set_node_state(pool, n, NodeState::Idle);
        return true;
    };
    let cmd = st.get("commandLine").and_then(Value::as_str).unwrap_or("");
    let wait = st
        .get("waitForSuccess")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let eff = command::effect(cmd);
    n.start_task_run = Some(StartTaskRun {
        start_time: now,
        end_time: None,
        exit_code: None,
    });
    let after = agenda.jitter(agenda.timing.start_task_overhead)
        + time::Duration::seconds_f64(eff.duration.as_secs_f64());
    let (pool, node, epoch) = (pool.to_string(), n.id.clone(), n.epoch);
    if wait {
        agenda.set_node_state(&pool, n, NodeState::WaitingForStartTask);
        agenda.schedule(after, Action::NodeStep { pool, node, epoch });
        false
    } else {
        agenda.set_node_state(&pool, n, NodeState::Idle);
        agenda.schedule(after, Action::StartTaskDone { pool, node, epoch });
        true
    }
}

/// `waitingforstarttask` -> `idle`, or `starttaskfailed` when the command exits non-zero.
fn start_task_ended(agenda: &mut Agenda, pool: &str, n: &mut Node) -> bool {
    if finish_start_task(n, agenda.now()) == 0 {
        agenda.set_node_state(pool, n, NodeState::Idle);
        true
    } else {
        agenda.set_node_state(pool, n, NodeState::StartTaskFailed);
        false
    }
}

/// Handles [`Action::StartTaskDone`]: a start task without waitForSuccess ended; only its
/// record changes (the node was idle all along).
pub(super) fn start_task_done(
    agenda: &Agenda,
    pools: &mut Pools,
    pool: &str,
    node: &str,
    epoch: u64,
) {
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    let Some(n) = p.node_mut(node) else { return };
    if n.epoch == epoch {
        finish_start_task(n, agenda.now());
    }
}

/// Complete a node's running start task; returns its exit code.
fn finish_start_task(n: &mut Node, now: OffsetDateTime) -> i32 {
    let code = n
        .start_task
        .as_ref()
        .and_then(|st| st.get("commandLine").and_then(Value::as_str))
        .map(|c| command::effect(c).exit_code)
        .unwrap_or(0);
    if let Some(r) = n.start_task_run.as_mut() {
        r.end_time = Some(now);
        r.exit_code = Some(code);
    }
    code
}

/// Take a node out of its pool as `dealloc` says. With running tasks and
/// `taskcompletion`/`retaineddata` it only stops taking tasks and leaves when the last
/// one ends (see `tasks::done`); otherwise its tasks are requeued or terminated and it
/// starts leaving now.
pub(super) fn remove(
    agenda: &mut Agenda,
    jobs: &mut Jobs,
    p: &mut Pool,
    node_id: &str,
    dealloc: Dealloc,
) {
    let pool_id = p.id.clone();
    let Some(n) = p.node_mut(node_id) else { return };
    if n.is_leaving() {
        return;
    }
    n.epoch += 1; // cancel pending boot steps
    if !n.running.is_empty() && dealloc.waits_for_tasks() {
        n.pending_removal = Some(dealloc);
        return;
    }
    let how = if dealloc == Dealloc::Terminate {
        Evicted::Terminate
    } else {
        Evicted::Requeue { reason: "requeued" }
    };
    tasks::evict(agenda, jobs, n.take_running(), how);
    agenda.node_leaves(&pool_id, n);
}

/// A node of a pool being deleted: its tasks are requeued and it is `leavingpool` until
/// the pool itself is gone (`PoolGone` takes it), as the recorded deletions count it.
pub(super) fn leave_with_pool(agenda: &mut Agenda, jobs: &mut Jobs, p: &mut Pool, node_id: &str) {
    let pool_id = p.id.clone();
    let Some(n) = p.node_mut(node_id) else { return };
    n.epoch += 1; // cancel pending boot steps
    n.pending_removal = None;
    tasks::evict(
        agenda,
        jobs,
        n.take_running(),
        Evicted::Requeue { reason: "requeued" },
    );
    agenda.set_node_state(&pool_id, n, NodeState::LeavingPool);
}

/// Handles [`Action::NodeGone`]: the node's record disappears. The pool may now be
/// steady (a deleted pool goes with its nodes, in `pools::gone`).
pub(super) fn gone(agenda: &mut Agenda, pools: &mut Pools, pool: &str, node: &str) {
    let Some(p) = pools.get_mut(pool) else {
        return;
    };
    let Some(i) = p.nodes.iter().position(|n| n.id == node) else {
        return;
    };
    let n = p.nodes.remove(i);
    agenda.log(EventKind::Node {
        pool_id: pool.to_string(),
        node_id: n.id,
        from: Some(n.state.as_str().to_string()),
        to: "removed".into(),
    });
    if !p.deleting && p.settle_if_done(agenda.now()) {
        agenda.pool_event(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pool::AllocationState;
    use crate::world::testing::*;
    use crate::world::{NewPool, World};

    /// A world whose pool `p` has just allocated its one node, booting with `start_task`.
    fn booting_pool(start_task: Option<Value>) -> World {
        let mut w = world();
        let mut np = NewPool::default_ubuntu("p");
        np.start_task = start_task;
        w.create_pool(np).unwrap();
        w.advance_to(w.now() + secs(FIXED.noop_settle.0));
        w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        // Allocated: the node record exists, `creating`.
        w.advance_to(w.now() + secs(FIXED.allocate.0));
        w
    }

    /// The exit code of the booting pool's node's start task: `None` while it runs.
    fn start_task_exit(w: &World) -> Option<i32> {
        let run = w.pools["p"].nodes[0].start_task_run.as_ref();
        run.expect("the start task has started").exit_code
    }

    #[test]
    fn boots_through_every_state_to_idle() {
        let mut w = booting_pool(Some(
            json!({"commandLine": "sleep 30", "waitForSuccess": true}),
        ));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Creating]);
        w.advance_to(w.now() + secs(FIXED.creating.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Starting]);
        w.advance_to(w.now() + secs(FIXED.starting.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::WaitingForStartTask]);
        let n = &w.pools["p"].nodes[0];
        assert!(n.last_boot_time.is_some() && n.start_task.is_some());
        w.advance_to(w.now() + secs(FIXED.start_task_overhead.0 + 30.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Idle]);
        assert_eq!(start_task_exit(&w), Some(0));
    }

    #[test]
    fn a_failing_start_task_leaves_the_node_starttaskfailed() {
        let mut w = booting_pool(Some(json!({"commandLine": "sleep 1; exit 2"})));
        w.advance_to(w.now() + secs(FIXED.creating.0 + FIXED.starting.0 + 10.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::StartTaskFailed]);
        assert_eq!(start_task_exit(&w), Some(2));
    }

    #[test]
    fn without_wait_for_success_the_node_is_idle_while_its_start_task_runs() {
        let mut w = booting_pool(Some(
            json!({"commandLine": "sleep 60", "waitForSuccess": false}),
        ));
        w.advance_to(w.now() + secs(FIXED.creating.0 + FIXED.starting.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Idle]);
        assert_eq!(start_task_exit(&w), None);
        w.advance_to(w.now() + secs(FIXED.start_task_overhead.0 + 60.0));
        assert_eq!(start_task_exit(&w), Some(0));
    }

    #[test]
    fn without_a_start_task_the_node_is_idle_when_booted() {
        let mut w = booting_pool(None);
        w.advance_to(w.now() + secs(FIXED.creating.0 + FIXED.starting.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Idle]);
    }

    #[test]
    fn a_stale_step_is_ignored() {
        let mut w = booting_pool(None);
        let node = w.pools["p"].nodes[0].id.clone();
        let (agenda, pools, jobs) = parts(&mut w);
        step(agenda, pools, jobs, "p".into(), node.clone(), 7);
        assert_eq!(pools["p"].nodes[0].state, NodeState::Creating);
        step(agenda, pools, jobs, "p".into(), node, 0);
        assert_eq!(pools["p"].nodes[0].state, NodeState::Starting);
    }

    #[test]
    fn a_removed_node_leaves_then_is_gone_and_the_pool_settles() {
        let mut w = world_with_pool("p");
        grow_to_idle(&mut w, "p", 1);
        w.resize("p", Some(0), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        assert_eq!(node_states(&w, "p"), vec![NodeState::LeavingPool]);
        w.advance_to(w.now() + secs(FIXED.leaving.0));
        assert!(w.pools["p"].nodes.is_empty());
        assert_eq!(w.pools["p"].allocation_state, AllocationState::Steady);
        let removed = w
            .events()
            .since(0)
            .into_iter()
            .any(|e| matches!(e.kind, EventKind::Node { ref to, .. } if to == "removed"));
        assert!(removed);
    }

    #[test]
    fn taskcompletion_keeps_a_busy_node_until_its_task_ends() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 100", 1).unwrap();
        w.resize(
            "p",
            Some(0),
            None,
            default_timeout(),
            Dealloc::TaskCompletion,
        )
        .unwrap();
        let n = &w.pools["p"].nodes[0];
        assert_eq!(
            (n.state, n.pending_removal),
            (NodeState::Running, Some(Dealloc::TaskCompletion))
        );
        w.advance_to(w.now() + secs(100.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::LeavingPool]);
        assert_eq!(task_state(&w, "j", "t"), TaskState::Completed);
    }

    #[test]
    fn requeue_puts_running_tasks_back() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 100", 1).unwrap();
        w.resize("p", Some(0), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        assert_eq!(node_states(&w, "p"), vec![NodeState::LeavingPool]);
        assert_eq!(task_state(&w, "j", "t"), TaskState::Active);
    }

    /// A reboot as Batch's recording shows it: `rebooting`, then `starting` with the old
    /// `lastBootTime`, then a new boot and the start task again; `allocationTime` never moves.
    #[test]
    fn a_rebooted_node_boots_again_and_runs_its_start_task_again() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 1000", 1).unwrap();
        let n = &w.pools["p"].nodes[0];
        let (allocated, first_boot) = (n.allocation_time, n.last_boot_time);
        let node = w
            .force_node_state("p", Some(&n.id.clone()), NodeState::Rebooting)
            .unwrap();
        let began = w.now();
        let n = &w.pools["p"].nodes[0];
        assert_eq!(
            (n.state, n.state_transition_time, n.last_boot_time),
            (NodeState::Rebooting, began, first_boot)
        );
        assert!(n.running.is_empty(), "its task was requeued");
        w.advance_to(began + secs(FIXED.rebooting.0));
        let n = &w.pools["p"].nodes[0];
        assert_eq!(
            (n.state, n.last_boot_time),
            (NodeState::Starting, first_boot),
            "lastBootTime is still the boot before"
        );
        w.advance_to(w.now() + secs(FIXED.starting.0));
        let n = &w.pools["p"].nodes[0];
        assert_eq!(n.state, NodeState::WaitingForStartTask);
        assert_eq!(n.last_boot_time, Some(w.now()));
        assert_eq!(n.start_task_run.as_ref().unwrap().start_time, w.now());
        assert_eq!(n.allocation_time, allocated);
        w.advance_to(w.now() + secs(FIXED.start_task_overhead.0 + 30.0));
        assert_eq!(
            node_states(&w, "p"),
            vec![NodeState::Running],
            "took its task back"
        );
        let walk: Vec<String> = w
            .events()
            .since(0)
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Node { node_id, to, .. } if node_id == node => Some(to),
                _ => None,
            })
            .skip_while(|to| to != "rebooting")
            .collect();
        assert_eq!(
            walk,
            [
                "rebooting",
                "starting",
                "waitingforstarttask",
                "idle",
                "running"
            ]
        );
    }

    #[test]
    fn a_reimaged_node_boots_again_after_the_reimage() {
        let mut w = world_with_pool("p");
        grow_to_idle(&mut w, "p", 1);
        w.force_node_state("p", None, NodeState::Reimaging).unwrap();
        w.advance_to(w.now() + secs(FIXED.reimaging.0 - 1.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Reimaging]);
        w.advance_to(w.now() + secs(1.0));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Starting]);
    }

    #[test]
    fn aging_moves_a_nodes_times_into_the_past_and_nothing_else() {
        let mut w = world_with_pool("p");
        grow_to_idle(&mut w, "p", 2);
        let before = w.pools["p"].nodes.clone();
        let events = w.events().last_seq();
        let month = time::Duration::days(30);
        let one = before[1].id.clone();
        assert_eq!(w.age_nodes("p", Some(&one), month).unwrap(), vec![one]);
        let (n, b) = (&w.pools["p"].nodes[1], &before[1]);
        assert_eq!(n.allocation_time, b.allocation_time - month);
        assert_eq!(n.state_transition_time, b.state_transition_time - month);
        assert_eq!(n.last_boot_time, b.last_boot_time.map(|t| t - month));
        let (run, was) = (
            n.start_task_run.as_ref().unwrap(),
            b.start_task_run.as_ref().unwrap(),
        );
        assert_eq!(run.start_time, was.start_time - month);
        assert_eq!(
            w.pools["p"].nodes[0].allocation_time,
            before[0].allocation_time
        );
        assert_eq!(w.events().last_seq(), events, "not an event");
        assert_eq!(w.age_nodes("p", None, month).unwrap().len(), 2);
        assert_eq!(
            w.age_nodes("p", Some("nope"), month).unwrap_err().code,
            "NodeNotFound"
        );
        assert_eq!(
            w.age_nodes("q", None, month).unwrap_err().code,
            "PoolNotFound"
        );
    }

    use crate::model::job::TaskState;
}
