//! The decision table: pool snapshot + request -> next step. Pure, no I/O.

use pool_resizer::batch::models::{
    AllocationState, FailureInfo, Node, NodeDeallocationOption, NodeState, Pool, PoolState,
    ResizeError, SchedulingState, StartTaskInfo,
};
use pool_resizer::resizer::decide::ResizeTo;
use pool_resizer::resizer::{
    FailureCode, History, LeaseRule, NodeTally, Observed, Snapshot, Step, WaitReason, Want, decide,
};

struct PoolSpec {
    allocation: AllocationState,
    target: u32,
    current: u32,
    errors: &'static [&'static str],
}

fn pool(spec: PoolSpec) -> Pool {
    Pool {
        id: "p".into(),
        state: Some(PoolState::Active),
        allocation_state: Some(spec.allocation),
        target_dedicated_nodes: spec.target,
        current_dedicated_nodes: spec.current,
        resize_errors: spec
            .errors
            .iter()
            .map(|code| ResizeError {
                code: (*code).into(),
                message: format!("{code} happened"),
                values: vec![],
            })
            .collect(),
        ..Pool::default()
    }
}

fn node(state: NodeState, start_task: Option<&str>) -> Node {
    Node {
        id: format!("tvm-{state:?}"),
        state: Some(state),
        is_dedicated: Some(true),
        start_task_info: start_task.map(|result| StartTaskInfo {
            state: Some(
                if result == "running" {
                    "running"
                } else {
                    "completed"
                }
                .into(),
            ),
            exit_code: Some(if result == "success" { 0 } else { 1 }),
            result: (result != "running").then(|| result.to_owned()),
            failure_info: (result == "failure").then(|| FailureInfo {
                category: Some("UserError".into()),
                code: Some("FailureExitCode".into()),
                message: Some("The task exited with an exit code representing a failure".into()),
            }),
            retry_count: Some(0),
        }),
        ..Node::default()
    }
}

/// A node a shrink is removing: scheduling disabled, its task still running.
fn leaving(state: NodeState) -> Node {
    Node {
        scheduling_state: Some(SchedulingState::Disabled),
        running_tasks_count: Some(1),
        ..node(state, Some("success"))
    }
}

fn observed(pool: Pool, nodes: Option<Vec<Node>>) -> Observed {
    Observed::Pool(Box::new(Snapshot {
        pool,
        nodes: nodes.map(|n| NodeTally::from_nodes(&n)),
        observed_at: NOW,
    }))
}

fn up(dedicated: u32) -> Want {
    Want::scale_up("p".parse().unwrap(), dedicated, 0)
}

/// A scale-up that reports failed nodes at once (`repairAttempts: 0`).
fn fail_fast(dedicated: u32) -> Want {
    Want {
        repair_attempts: 0,
        ..up(dedicated)
    }
}

/// A plain scale-down: keeps what live leases need (the default).
fn down(floor: u32) -> Want {
    Want::scale_down("p".parse().unwrap(), floor, 0, LeaseRule::Honour)
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

use AllocationState::{Resizing, Steady, Stopping};
use NodeState::*;

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

const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-24 06:00 UTC);

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
    let ok = Some("success");
    let rows: Vec<StepRow> = vec![
        (
            "cold pool: resize to the want",
            observed(pool(PoolSpec { allocation: Steady, target: 0, current: 0, errors: &[] }), Some(vec![])),
            up(1), FRESH, grow(1),
        ),
        (
            "already ready: nothing to do",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(Idle, ok)])),
            up(1), FRESH, Step::Done,
        ),
        (
            "a running node is ready too",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(Running, ok)])),
            up(1), FRESH, Step::Done,
        ),
        (
            "a node leaving the pool (scheduling disabled) is not ready",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![leaving(Running)])),
            up(1), FRESH, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "bigger pool is never shrunk",
            observed(pool(PoolSpec { allocation: Steady, target: 5, current: 5, errors: &[] }), Some(vec![node(Idle, ok); 5])),
            up(2), FRESH, Step::Done,
        ),
        (
            "grows from the current target, not from zero",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(Idle, ok)])),
            up(3), FRESH, grow(3),
        ),
        (
            "allocation running toward us: wait",
            observed(pool(PoolSpec { allocation: Resizing, target: 2, current: 0, errors: &[] }), Some(vec![])),
            up(2), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "steady but nodes still booting: wait",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(WaitingForStartTask, Some("running"))])),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "idle with the start task still running is not ready",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(Idle, Some("running"))])),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "ready while a larger allocation continues: done",
            observed(pool(PoolSpec { allocation: Resizing, target: 4, current: 1, errors: &[] }), Some(vec![node(Idle, ok)])),
            up(1), FRESH, Step::Done,
        ),
        (
            "a scale-down in progress would take our node: stop it",
            observed(pool(PoolSpec { allocation: Resizing, target: 0, current: 1, errors: &[] }), Some(vec![node(Idle, ok)])),
            up(1), FRESH, Step::StopResize,
        ),
        (
            "start task failed, a repair left: remove the node, a replacement follows",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(StartTaskFailed, Some("failure"))])),
            up(1), ACTED, Step::RemoveNodes(vec!["tvm-StartTaskFailed".into()]),
        ),
        (
            "unusable while still allocating: wait for steady, then repair",
            observed(pool(PoolSpec { allocation: Resizing, target: 1, current: 1, errors: &[] }), Some(vec![node(Unusable, None)])),
            up(1), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "a node still starting long after its allocation: stuck, not slow",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![Node {
                allocation_time: Some(time::macros::datetime!(2026-11-24 05:40 UTC)),
                ..node(Starting, None)
            }])),
            up(1), ACTED, Step::Fail(pool_resizer::resizer::Failure {
                code: FailureCode::ProvisionTimedOut,
                message: "node 'tvm-Starting' is still starting 20 min after Batch allocated it (provision deadline 15 min, PROVISION_DEADLINE_MINUTES)".into(),
                batch_code: None,
            }),
        ),
        (
            "a node starting for ten minutes: still a wait",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![Node {
                allocation_time: Some(time::macros::datetime!(2026-11-24 05:50 UTC)),
                ..node(Starting, None)
            }])),
            up(1), ACTED, Step::Wait(WaitReason::NodesStarting),
        ),
        (
            "repairs spent: the failure is reported",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(StartTaskFailed, Some("failure"))])),
            up(1), History { resizes_issued: 2, repairs_issued: 1 }, Step::Fail(pool_resizer::resizer::Failure {
                code: FailureCode::StartTaskFailed,
                message: "node 'tvm-StartTaskFailed' cannot take tasks because its start task failed with exit code 1: The task exited with an exit code representing a failure (1 node(s) failed this way; 1 replacement(s) failed the same way)".into(),
                batch_code: Some("FailureExitCode".into()),
            }),
        ),
        (
            "someone's grow that stops short of our want: let it finish, never stop it",
            observed(pool(PoolSpec { allocation: Resizing, target: 1, current: 0, errors: &[] }), Some(vec![])),
            up(3), FRESH, Step::Wait(WaitReason::AnotherResize),
        ),
        (
            "our resize stopped by someone who wanted more: not our failure, resize again",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 0, errors: &["ResizeStopped"] }), Some(vec![])),
            up(1), ACTED, grow(1),
        ),
        (
            "stop in progress: wait",
            observed(pool(PoolSpec { allocation: Stopping, target: 0, current: 1, errors: &[] }), Some(vec![node(Idle, ok)])),
            up(1), ACTED, Step::Wait(WaitReason::Stopping),
        ),
        (
            "stopped short of a shrink: resize up again",
            observed(pool(PoolSpec { allocation: Steady, target: 0, current: 1, errors: &["ResizeStopped"] }), Some(vec![node(Idle, ok)])),
            up(1), FRESH, grow(1),
        ),
        (
            "stale resize error before we acted: retry once",
            observed(pool(PoolSpec { allocation: Steady, target: 2, current: 1, errors: &["AllocationTimedout"] }), Some(vec![node(Idle, ok)])),
            up(2), FRESH, grow(2),
        ),
        (
            "steady without enough and nothing was said: resize again",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 0, errors: &[] }), Some(vec![])),
            up(1), ACTED, grow(1),
        ),
        (
            "want of zero is met by anything",
            observed(pool(PoolSpec { allocation: Resizing, target: 3, current: 0, errors: &[] }), None),
            up(0), FRESH, Step::Done,
        ),
        (
            "nodes not yet listed: observe them first",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), None),
            up(1), FRESH, Step::Wait(WaitReason::NeedNodes),
        ),
        (
            "a failed node while others are still being allocated: wait",
            observed(pool(PoolSpec { allocation: Resizing, target: 2, current: 1, errors: &[] }), Some(vec![node(StartTaskFailed, Some("failure"))])),
            up(1), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "one failed start task among enough coming: wait",
            observed(
                pool(PoolSpec { allocation: Steady, target: 3, current: 3, errors: &[] }),
                Some(vec![node(StartTaskFailed, Some("failure")), node(Starting, None), node(Idle, ok)]),
            ),
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
            observed(Pool { state: Some(PoolState::Deleting), ..pool(PoolSpec { allocation: Resizing, target: 0, current: 2, errors: &[] }) }, None),
            up(1), FRESH, FailureCode::PoolBeingDeleted, Some("PoolBeingDeleted"),
        ),
        (
            "autoscale pool",
            observed(Pool { enable_auto_scale: true, ..pool(PoolSpec { allocation: Steady, target: 0, current: 0, errors: &[] }) }, None),
            up(1), FRESH, FailureCode::AutoScaleEnabled, None,
        ),
        (
            "quota error after our resize",
            observed(pool(PoolSpec { allocation: Steady, target: 5, current: 2, errors: &["AccountCoreQuotaReached"] }), Some(vec![node(Idle, Some("success")); 2])),
            up(5), ACTED, FailureCode::ResizeFailed, Some("AccountCoreQuotaReached"),
        ),
        (
            "allocation failed after our resize",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 0, errors: &["AllocationFailed"] }), Some(vec![])),
            up(1), ACTED, FailureCode::ResizeFailed, Some("AllocationFailed"),
        ),
        (
            "the only node's start task failed",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(StartTaskFailed, Some("failure"))])),
            fail_fast(1), ACTED, FailureCode::StartTaskFailed, Some("FailureExitCode"),
        ),
        (
            "start task failure known while still resizing",
            observed(pool(PoolSpec { allocation: Resizing, target: 1, current: 1, errors: &[] }), Some(vec![node(StartTaskFailed, Some("failure"))])),
            fail_fast(1), ACTED, FailureCode::StartTaskFailed, Some("FailureExitCode"),
        ),
        (
            "unusable node",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 1, errors: &[] }), Some(vec![node(Unusable, None)])),
            fail_fast(1), ACTED, FailureCode::NodesUnusable, None,
        ),
        (
            "steady short of target again and again",
            observed(pool(PoolSpec { allocation: Steady, target: 1, current: 0, errors: &[] }), Some(vec![])),
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
            observed(pool(PoolSpec { allocation: Steady, target: 3, current: 3, errors: &[] }), None),
            down(0), FRESH, shrink(0),
        ),
        (
            "shrink to a floor",
            observed(pool(PoolSpec { allocation: Steady, target: 3, current: 3, errors: &[] }), None),
            down(1), FRESH, shrink(1),
        ),
        (
            "already at zero: done (idempotent)",
            observed(pool(PoolSpec { allocation: Steady, target: 0, current: 0, errors: &[] }), None),
            down(0), FRESH, Step::Done,
        ),
        (
            "below the floor: never grows",
            observed(pool(PoolSpec { allocation: Steady, target: 0, current: 0, errors: &[] }), None),
            down(2), FRESH, Step::Done,
        ),
        (
            "shrinking already: wait for steady",
            observed(pool(PoolSpec { allocation: Resizing, target: 0, current: 2, errors: &[] }), None),
            down(0), ACTED, Step::Wait(WaitReason::Resizing),
        ),
        (
            "shrinking while a task finishes: says so",
            observed(pool(PoolSpec { allocation: Resizing, target: 0, current: 1, errors: &[] }), Some(vec![leaving(Running)])),
            down(0), ACTED, Step::Wait(WaitReason::TasksFinishing),
        ),
        (
            "a scale-up is allocating: stop it first",
            observed(pool(PoolSpec { allocation: Resizing, target: 2, current: 0, errors: &[] }), None),
            down(0), FRESH, Step::StopResize,
        ),
        (
            "stopping: wait",
            observed(pool(PoolSpec { allocation: Stopping, target: 2, current: 1, errors: &[] }), None),
            down(0), ACTED, Step::Wait(WaitReason::Stopping),
        ),
        (
            "stopped growth: now shrink",
            observed(pool(PoolSpec { allocation: Steady, target: 2, current: 1, errors: &["ResizeStopped"] }), None),
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
    let stuck = observed(
        pool(PoolSpec { allocation: Steady, target: 0, current: 1, errors: &["RemoveNodesFailed"] }),
        None,
    );
    assert_eq!(fail_code(&decide(&stuck, &down(0), ACTED)), Some(FailureCode::ResizeFailed));
    assert_eq!(decide(&stuck, &down(0), FRESH), shrink(0));
    assert_eq!(fail_code(&decide(&Observed::Missing, &down(0), FRESH)), Some(FailureCode::PoolNotFound));
}

#[test]
fn scale_down_with_leases_keeps_what_live_leases_need() {
    use pool_resizer::batch::models::MetadataItem;
    let lease = |id: &str, dedicated: u32, expires: &str| MetadataItem {
        name: format!("pool-resizer-lease:{id}"),
        value: format!(r#"{{"dedicated":{dedicated},"lowPriority":0,"expires":"{expires}"}}"#),
    };
    let with_metadata = |metadata: Vec<MetadataItem>| {
        observed(
            Pool {
                metadata,
                ..pool(PoolSpec {
                    allocation: Steady,
                    target: 3,
                    current: 3,
                    errors: &[],
                })
            },
            None,
        )
    };
    let leased_down = down(0);
    let live = with_metadata(vec![lease("b", 2, "2026-11-24T09:00:00Z")]);
    assert_eq!(
        decide(&live, &leased_down, FRESH),
        shrink(2),
        "keeps B's two nodes"
    );
    let forced = Want {
        leases: LeaseRule::Ignore,
        ..down(0)
    };
    assert_eq!(
        decide(&live, &forced, FRESH),
        shrink(0),
        "force=true goes below live leases"
    );
    let releasing_b = Want {
        leases: LeaseRule::HonourExcept("b".parse().unwrap()),
        ..down(0)
    };
    assert_eq!(
        decide(&live, &releasing_b, FRESH),
        shrink(0),
        "B's own scale-down counts B's lease as released, written or not"
    );
    let expired = with_metadata(vec![lease("b", 2, "2026-11-24T05:59:59Z")]);
    assert_eq!(
        decide(&expired, &leased_down, FRESH),
        shrink(0),
        "expired leases count as gone"
    );
    let covered = with_metadata(vec![lease("b", 3, "2026-11-24T09:00:00Z")]);
    assert_eq!(
        decide(&covered, &leased_down, FRESH),
        Step::Done,
        "nothing to release"
    );
}
