//! The decision table: pool snapshot + request -> next step. Pure, no I/O.

use super::*;
use crate::batch::models::{Node, NodeState, Pool};
use crate::resizer::fixtures::{NOW, down, leased_up, up};
use crate::resizer::want::LeaseRule;
use NodeState::{Idle, Running, StartTaskFailed, Starting, Unusable, WaitingForStartTask};

/// A scale-up that reports failed nodes at once (`repairAttempts: 0`).
fn fail_fast(dedicated: u32) -> Want {
    Want {
        repair_attempts: 0,
        ..up(dedicated)
    }
}

fn grow(to: u32) -> Step {
    Step::Resize(ResizeTo {
        dedicated: to,
        low_priority: 0,
        deallocation: None,
    })
}

fn shrink(to: u32) -> Step {
    Step::Resize(ResizeTo {
        dedicated: to,
        low_priority: 0,
        deallocation: Some(NodeDeallocationOption::TaskCompletion),
    })
}

fn fail_code(step: &Step) -> Option<FailureCode> {
    match step {
        Step::Fail(f) => Some(f.code),
        _ => None,
    }
}

/// The pool every row is about.
fn pool() -> crate::resizer::fixtures::PoolFixture {
    Pool::test("p")
}

fn ready(state: NodeState) -> Node {
    Node::test(state).start_task_ok()
}

/// (name, observation, want, history, expected step)
type StepRow = (&'static str, Observed, Want, History, Step);
/// (name, observation, want, history, failure code, Batch's code)
type FailureRow = (
    &'static str,
    Observed,
    Want,
    History,
    FailureCode,
    Option<&'static str>,
);

const FRESH: History = History {
    resizes_issued: 0,
    repairs_issued: 0,
};
const ACTED: History = History {
    resizes_issued: 1,
    repairs_issued: 0,
};

#[test]
#[rustfmt::skip]
fn scale_up_table() {
    let rows: Vec<StepRow> = vec![
        (
            "cold pool: resize to the want",
            pool().steady(0).nodes([]).observed(),
            up(1), FRESH, grow(1),
        ),
        (
            "already ready: nothing to do",
            pool().steady(1).idle_nodes(1).observed(),
            up(1), FRESH, Step::Done,
        ),
        (
            "a running node is ready too",
            pool().steady(1).nodes([ready(Running)]).observed(),
            up(1), FRESH, Step::Done,
        ),
        (
            "a node leaving the pool (scheduling disabled) is not ready",
            pool().steady(1).nodes([ready(Running).leaving()]).observed(),
            up(1), FRESH, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "bigger pool is never shrunk",
            pool().steady(5).idle_nodes(5).observed(),
            up(2), FRESH, Step::Done,
        ),
        (
            "grows from the current target, not from zero",
            pool().steady(1).idle_nodes(1).observed(),
            up(3), FRESH, grow(3),
        ),
        (
            "allocation running toward us: wait",
            pool().resizing(2).nodes([]).observed(),
            up(2), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "steady but nodes still booting: wait",
            pool().steady(1).nodes([Node::test(WaitingForStartTask).start_task_running()]).observed(),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "idle with the start task still running is not ready",
            pool().steady(1).nodes([Node::test(Idle).start_task_running()]).observed(),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "ready while a larger allocation continues: done",
            pool().steady(1).resizing(4).idle_nodes(1).observed(),
            up(1), FRESH, Step::Done,
        ),
        (
            "a scale-down in progress would take our node: stop it",
            pool().steady(1).resizing(0).idle_nodes(1).observed(),
            up(1), FRESH, Step::StopResize,
        ),
        (
            "start task failed, a repair left: remove the node, a replacement follows",
            pool().steady(1).nodes([Node::test(StartTaskFailed).start_task_failed()]).observed(),
            up(1), ACTED, Step::RemoveNodes(vec!["tvm-StartTaskFailed".into()]),
        ),
        (
            "unusable while still allocating: wait for steady, then repair",
            pool().steady(1).resizing(1).nodes([Node::test(Unusable)]).observed(),
            up(1), ACTED, Step::Wait(WaitReason::Repairing),
        ),
        (
            "a node still starting long after its allocation: stuck, not slow",
            pool().steady(1).nodes([Node::test(Starting).allocated_at(NOW - time::Duration::minutes(20))]).observed(),
            up(1), ACTED, Step::Fail(Failure {
                code: FailureCode::ProvisionTimedOut,
                message: "node 'tvm-Starting' is still starting 20 min after Batch allocated it (provision deadline 15 min, PROVISION_DEADLINE_MINUTES)".into(),
                batch_code: None,
            }),
        ),
        (
            "a node starting for ten minutes: still a wait",
            pool().steady(1).nodes([Node::test(Starting).allocated_at(NOW - time::Duration::minutes(10))]).observed(),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "repairs spent: the failure is reported",
            pool().steady(1).nodes([Node::test(StartTaskFailed).start_task_failed()]).observed(),
            up(1), History { resizes_issued: 2, repairs_issued: 1 }, Step::Fail(Failure {
                code: FailureCode::StartTaskFailed,
                message: "node 'tvm-StartTaskFailed' cannot take tasks because its start task failed with exit code 1: The task exited with an exit code representing a failure (1 node(s) failed this way; 1 replacement(s) failed the same way)".into(),
                batch_code: Some("FailureExitCode".into()),
            }),
        ),
        (
            "someone's grow that stops short of our want: let it finish, never stop it",
            pool().resizing(1).nodes([]).observed(),
            up(3), FRESH, Step::Wait(WaitReason::AnotherResize),
        ),
        (
            "our resize stopped by someone who wanted more: not our failure, resize again",
            pool().steady(0).target(1).resize_error("ResizeStopped").nodes([]).observed(),
            up(1), ACTED, grow(1),
        ),
        (
            "stop in progress: wait",
            pool().steady(1).stopping(0).idle_nodes(1).observed(),
            up(1), ACTED, Step::Wait(WaitReason::Stopping),
        ),
        (
            "stopped short of a shrink: resize up again",
            pool().steady(1).target(0).resize_error("ResizeStopped").idle_nodes(1).observed(),
            up(1), FRESH, grow(1),
        ),
        (
            "stale resize error before we acted: retry once",
            pool().steady(1).target(2).resize_error("AllocationTimedout").idle_nodes(1).observed(),
            up(2), FRESH, grow(2),
        ),
        (
            "steady without enough and nothing was said: resize again",
            pool().steady(0).target(1).nodes([]).observed(),
            up(1), ACTED, grow(1),
        ),
        (
            "want of zero is met by anything",
            pool().resizing(3).observed(),
            up(0), FRESH, Step::Done,
        ),
        (
            "nodes not yet listed: observe them first",
            pool().steady(1).observed(),
            up(1), FRESH, Step::Wait(WaitReason::NeedNodes),
        ),
        (
            "a failed node while others are still being allocated: wait",
            pool().steady(1).resizing(2).nodes([Node::test(StartTaskFailed).start_task_failed()]).observed(),
            up(1), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "one failed start task among enough coming: wait",
            pool().steady(3).nodes([Node::test(StartTaskFailed).start_task_failed(), Node::test(Starting), ready(Idle)]).observed(),
            up(2), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
    ];
    for (name, observed, want, history, expected) in rows {
        assert_eq!(decide(&observed, &want, history), expected, "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn scale_up_failures() {
    let rows: Vec<FailureRow> = vec![
        ("unknown pool", Observed::Missing, up(1), FRESH, FailureCode::PoolNotFound, Some("PoolNotFound")),
        (
            "deleting pool",
            pool().steady(2).resizing(0).deleting().observed(),
            up(1), FRESH, FailureCode::PoolBeingDeleted, Some("PoolBeingDeleted"),
        ),
        (
            "autoscale pool",
            pool().steady(0).autoscale().observed(),
            up(1), FRESH, FailureCode::AutoScaleEnabled, None,
        ),
        (
            "quota error after our resize",
            pool().steady(2).target(5).resize_error("AccountCoreQuotaReached").idle_nodes(2).observed(),
            up(5), ACTED, FailureCode::ResizeFailed, Some("AccountCoreQuotaReached"),
        ),
        (
            "allocation failed after our resize",
            pool().steady(0).target(1).resize_error("AllocationFailed").nodes([]).observed(),
            up(1), ACTED, FailureCode::ResizeFailed, Some("AllocationFailed"),
        ),
        (
            "the only node's start task failed",
            pool().steady(1).nodes([Node::test(StartTaskFailed).start_task_failed()]).observed(),
            fail_fast(1), ACTED, FailureCode::StartTaskFailed, Some("FailureExitCode"),
        ),
        (
            "start task failure known while still resizing",
            pool().steady(1).resizing(1).nodes([Node::test(StartTaskFailed).start_task_failed()]).observed(),
            fail_fast(1), ACTED, FailureCode::StartTaskFailed, Some("FailureExitCode"),
        ),
        (
            "unusable node",
            pool().steady(1).nodes([Node::test(Unusable)]).observed(),
            fail_fast(1), ACTED, FailureCode::NodesUnusable, None,
        ),
        (
            "steady short of target again and again",
            pool().steady(0).target(1).nodes([]).observed(),
            up(1), History { resizes_issued: 3, repairs_issued: 0 }, FailureCode::PoolNotConverging, None,
        ),
    ];
    for (name, observed, want, history, code, batch_code) in rows {
        let step = decide(&observed, &want, history);
        assert_eq!(fail_code(&step), Some(code), "{name}: {step:?}");
        let Step::Fail(failure) = step else { unreachable!() };
        assert_eq!(failure.batch_code.as_deref(), batch_code, "{name}");
        assert!(!failure.message.is_empty(), "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn scale_down_table() {
    let rows: Vec<StepRow> = vec![
        (
            "busy pool: shrink to the floor with taskcompletion",
            pool().steady(3).observed(),
            down(0), FRESH, shrink(0),
        ),
        (
            "shrink to a floor",
            pool().steady(3).observed(),
            down(1), FRESH, shrink(1),
        ),
        (
            "already at zero: done (idempotent)",
            pool().steady(0).observed(),
            down(0), FRESH, Step::Done,
        ),
        (
            "below the floor: never grows",
            pool().steady(0).observed(),
            down(2), FRESH, Step::Done,
        ),
        (
            "shrinking already: wait for steady",
            pool().steady(2).resizing(0).observed(),
            down(0), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "shrinking while a task finishes: says so",
            pool().steady(1).resizing(0).nodes([ready(Running).leaving()]).observed(),
            down(0), ACTED, Step::Wait(WaitReason::TasksFinishing),
        ),
        (
            "a scale-up is allocating: stop it first",
            pool().resizing(2).observed(),
            down(0), FRESH, Step::StopResize,
        ),
        (
            "stopping: wait",
            pool().steady(1).stopping(2).observed(),
            down(0), ACTED, Step::Wait(WaitReason::Stopping),
        ),
        (
            "stopped growth: now shrink",
            pool().steady(1).target(2).resize_error("ResizeStopped").observed(),
            down(0), ACTED, shrink(0),
        ),
    ];
    for (name, observed, want, history, expected) in rows {
        assert_eq!(decide(&observed, &want, history), expected, "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn scale_down_failures() {
    let stuck = pool().steady(1).target(0).resize_error("RemoveNodesFailed").observed();
    assert_eq!(fail_code(&decide(&stuck, &down(0), ACTED)), Some(FailureCode::ResizeFailed));
    assert_eq!(decide(&stuck, &down(0), FRESH), shrink(0));
    assert_eq!(fail_code(&decide(&Observed::Missing, &down(0), FRESH)), Some(FailureCode::PoolNotFound));
}

/// Leased scale-ups: the pool holds what the live leases need together, and
/// a call is ready once the ready nodes hold the leases ahead of it in line
/// and its own nodes' worth of slots are free.
#[test]
#[rustfmt::skip]
fn leased_scale_ups_add_up_and_wait_for_a_free_node() {
    const LIVE: &str = "2026-11-24T09:00:00Z";
    let two = || pool().lease("a", 1, LIVE).lease("b", 1, LIVE);
    let busy = || ready(Running).named("tvm-a").busy(1);
    let booting = || Node::test(Starting).named("tvm-b");
    let capped = |want: Want| Want { caps: (1, 0), ..want };
    let rows: Vec<StepRow> = vec![
        ("a's node runs a's task: b's lease adds a node",
            two().steady(1).nodes([busy()]).observed(), leased_up("b", 1), FRESH, grow(2)),
        ("b's node still boots: a's busy node is not ready for b",
            two().steady(2).nodes([busy(), booting()]).observed(), leased_up("b", 1), ACTED, Step::Wait(WaitReason::NodesStarting)),
        ("b's node is idle: ready",
            two().steady(2).nodes([busy(), ready(Idle)]).observed(), leased_up("b", 1), ACTED, Step::Done),
        ("first come, first served: one idle node goes to a, first in line",
            two().steady(2).nodes([ready(Idle), booting()]).observed(), leased_up("a", 1), ACTED, Step::Done),
        ("... and b waits for the second",
            two().steady(2).nodes([ready(Idle), booting()]).observed(), leased_up("b", 1), ACTED, Step::Wait(WaitReason::NodesStarting)),
        ("a lease counts whole nodes: two leases of one node on a 4-slot pool need two",
            two().slots(4).steady(1).nodes([ready(Idle)]).observed(), leased_up("b", 1), FRESH, grow(2)),
        ("slots free across nodes count: 2 + 2 of 4",
            two().slots(4).steady(2).nodes([ready(Running).busy(2), ready(Running).busy(2)]).observed(), leased_up("b", 1), ACTED, Step::Done),
        ("capped at MAX_DEDICATED_NODES: no second node, nothing coming, ready as before",
            two().steady(1).nodes([busy()]).observed(), capped(leased_up("b", 1)), FRESH, Step::Done),
        ("a task without a lease fills the node, nothing coming: ready as before",
            pool().lease("b", 1, LIVE).steady(1).nodes([busy()]).observed(), leased_up("b", 1), FRESH, Step::Done),
        ("the schedule's node is a floor the pipeline takes",
            pool().lease("schedule", 1, LIVE).lease("b", 1, LIVE).steady(1).idle_nodes(1).observed(), leased_up("b", 1), FRESH, Step::Done),
        ("a plain scale-up still counts nodes only",
            two().steady(1).nodes([busy()]).observed(), up(1), FRESH, Step::Done),
    ];
    for (name, observed, want, history, expected) in rows {
        assert_eq!(decide(&observed, &want, history), expected, "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn scale_down_with_leases_keeps_what_live_leases_need() {
    let leased = |dedicated: u32, expires: &str| pool().steady(3).lease("b", dedicated, expires).observed();
    let live = || leased(2, "2026-11-24T09:00:00Z");
    let forced = Want { leases: LeaseRule::Ignore, ..down(0) };
    let releasing_b = Want { leases: LeaseRule::HonourExcept("b".parse().unwrap()), ..down(0) };
    let rows: Vec<StepRow> = vec![
        ("keeps B's two nodes", live(), down(0), FRESH, shrink(2)),
        ("force=true goes below live leases", live(), forced, FRESH, shrink(0)),
        ("B's own scale-down counts B's lease as released, written or not", live(), releasing_b, FRESH, shrink(0)),
        ("expired leases count as gone", leased(2, "2026-11-24T05:59:59Z"), down(0), FRESH, shrink(0)),
        ("nothing to release", leased(3, "2026-11-24T09:00:00Z"), down(0), FRESH, Step::Done),
        ("leases add up: B's two and C's one",
            pool().steady(4).lease("b", 2, "2026-11-24T09:00:00Z").lease("c", 1, "2026-11-24T09:00:00Z").observed(),
            down(0), FRESH, shrink(3)),
        ("... capped by MAX_DEDICATED_NODES",
            pool().steady(4).lease("b", 2, "2026-11-24T09:00:00Z").lease("c", 1, "2026-11-24T09:00:00Z").observed(),
            Want { caps: (2, 0), ..down(0) }, FRESH, shrink(2)),
    ];
    for (name, observed, want, history, expected) in rows {
        assert_eq!(decide(&observed, &want, history), expected, "{name}");
    }
}

/// Minutes in 30 days: a node that joined the pool a month ago.
const MONTH: i64 = 30 * 24 * 60;

/// A dedicated node as Batch's node list shows it (the fields and formats of
/// `tests/fixtures/batch-recorded/node-get-reimaging.json`), each time given
/// in minutes before [`NOW`]; `lastBootTime` absent until a first boot, and
/// `startTaskInfo` only when a start task is `running`.
fn batch_node(
    state: &str,
    allocated: i64,
    booted: Option<i64>,
    transition: i64,
    start_task_running: bool,
) -> Node {
    let at = |minutes: i64| {
        (NOW - time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut body = serde_json::json!({
        "id": format!("tvmps_{state}_d"),
        "state": state,
        "schedulingState": "enabled",
        "stateTransitionTime": at(transition),
        "allocationTime": at(allocated),
        "isDedicated": true,
        "runningTasksCount": 0,
    });
    if let Some(booted) = booted {
        body["lastBootTime"] = at(booted).into();
    }
    if start_task_running {
        body["startTaskInfo"] =
            serde_json::json!({"state": "running", "startTime": at(transition), "retryCount": 0});
    }
    serde_json::from_value(body).unwrap()
}

fn stuck(node: &str, state: &str, minutes: i64, since: &str) -> Step {
    Step::Fail(Failure {
        code: FailureCode::ProvisionTimedOut,
        message: format!(
            "node 'tvmps_{node}_d' is still {state} {minutes} min after {since} (provision deadline 15 min, PROVISION_DEADLINE_MINUTES)"
        ),
        batch_code: None,
    })
}

/// A node booting again long after it joined the pool (maintenance, a
/// user's reboot, a reimage, an OS upgrade) is judged from when that boot
/// began, not from its allocation: a month-old node rebooting for two
/// minutes is a wait, one rebooting for longer than the deadline is stuck.
#[test]
#[rustfmt::skip]
fn provision_deadline_counts_from_the_current_boot() {
    let rows: Vec<(&str, Node, Step)> = vec![
        (
            "rebooting for 2 min, a month after its allocation: a wait",
            batch_node("rebooting", MONTH, Some(MONTH - 3), 2, false),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "rebooting for 20 min: stuck",
            batch_node("rebooting", MONTH, Some(MONTH - 3), 20, false),
            stuck("rebooting", "rebooting", 20, "its current boot began"),
        ),
        (
            "reimaging for 2 min, lastBootTime still the boot before: a wait",
            batch_node("reimaging", MONTH, Some(MONTH - 3), 2, false),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "upgrading its OS for 2 min: a wait",
            batch_node("upgradingos", MONTH, Some(MONTH - 3), 2, false),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "starting again 2 min after a reimage, lastBootTime still the boot before: a wait",
            batch_node("starting", MONTH, Some(MONTH - 3), 2, false),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "starting again for 20 min: stuck",
            batch_node("starting", MONTH, Some(MONTH - 3), 20, false),
            stuck("starting", "starting", 20, "its current boot began"),
        ),
        (
            "its start task running again since a boot 3 min ago: a wait",
            batch_node("waitingforstarttask", MONTH, Some(3), 3, true),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "idle, its start task running again since a boot 5 min ago: a wait",
            batch_node("idle", MONTH, Some(5), 4, true),
            Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "idle, its start task running since a boot 20 min ago: stuck",
            batch_node("idle", MONTH, Some(20), 1, true),
            stuck("idle", "idle", 20, "its current boot began"),
        ),
        (
            "a new node still creating 20 min after its allocation: stuck, as before",
            batch_node("creating", 20, None, 20, false),
            stuck("creating", "creating", 20, "Batch allocated it"),
        ),
        (
            "a new node creating for 10 min: a wait",
            batch_node("creating", 10, None, 10, false),
            Step::Wait(WaitReason::NodesStarting),
        ),
    ];
    for (name, node, expected) in rows {
        let observed = pool().steady(1).nodes([node]).observed();
        assert_eq!(decide(&observed, &up(1), ACTED), expected, "{name}");
    }
}

/// Batch's own reimaging node, observed 2 and then 20 minutes after its
/// reimage began (its `lastBootTime` is the boot before, 37 s earlier).
#[test]
fn the_recorded_reimaging_node_is_judged_from_its_reimage() {
    let node: Node = serde_json::from_slice(&crate::batch::models::recorded::fixture(
        "node-get-reimaging.json",
    ))
    .unwrap();
    let began = node.state_transition_time.unwrap();
    assert!(node.last_boot_time.unwrap() < began);
    let at = |minutes: i64| {
        let mut snapshot = pool().steady(1).nodes([node.clone()]).snapshot();
        snapshot.observed_at = began + time::Duration::minutes(minutes);
        Observed::Pool(Box::new(snapshot))
    };
    assert_eq!(
        decide(&at(2), &up(1), ACTED),
        Step::Wait(WaitReason::NodesStarting)
    );
    assert_eq!(
        fail_code(&decide(&at(20), &up(1), ACTED)),
        Some(FailureCode::ProvisionTimedOut)
    );
}
