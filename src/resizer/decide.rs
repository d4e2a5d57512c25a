//! The decision at the centre: observe a pool, decide the next step.
//!
//! [`decide`] is pure. It is called again after every observation, like a
//! Kubernetes reconcile, so it must be safe to re-run: it never assumes the
//! previous step happened, it looks. Its only memory is [`History`], which
//! says whether *this* run already resized: a `resizeErrors` entry seen after
//! our own resize is our failure; one seen before we acted is stale, so we
//! resize once more to retry the allocation.
//!
//! Here: the steps, and what fails any operation (a missing, deleting,
//! autoscaled, paused or backing-off pool). The operations apart: [`up`]
//! (grow, wait for ready nodes and free slots), [`down`] (shrink to the
//! floor), and [`failures`] (what a resize ends in, nodes that never will be
//! ready), which both share.

use super::snapshot::Observed;
use super::want::{Operation, Want};
use crate::batch::models::{NodeDeallocationOption, PoolState};
use serde::Serialize;

mod down;
mod failures;
mod up;

pub(crate) use up::sizing;

/// More resizes than this in one run means the pool is not moving; say so
/// instead of resizing forever.
pub(crate) const MAX_RESIZES_PER_RUN: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The want is met.
    Done,
    Resize(ResizeTo),
    /// A resize in the wrong direction is running; stop it first.
    StopResize,
    /// These nodes bill but will never take a task (start task failed,
    /// unusable): remove them (`taskcompletion`); a replacement follows.
    RemoveNodes(Vec<String>),
    Wait(WaitReason),
    Fail(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResizeTo {
    pub dedicated: u32,
    pub low_priority: u32,
    pub deallocation: Option<NodeDeallocationOption>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum WaitReason {
    /// Batch is allocating or releasing nodes (`resizing`).
    Resizing,
    /// A stop-resize is finishing (`stopping`).
    Stopping,
    /// Nodes are allocated but not ready yet (booting, start task running).
    NodesStarting,
    /// Nodes were not listed; observe them before judging readiness.
    NeedNodes,
    /// Nodes leaving with `taskcompletion` wait for their running tasks.
    TasksFinishing,
    /// Someone else's grow is under way; we grow further once it ends.
    AnotherResize,
    /// Failed nodes are leaving; replacements follow.
    Repairing,
    /// The handler is shutting down (SIGTERM): the status URL carries on.
    ShuttingDown,
    /// The handler holds as many inline waits as it takes: poll instead.
    HandlerBusy,
    /// Batch is throttling us (429/503) or slow to answer; we wait as it asks.
    BatchBusy,
}

impl WaitReason {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            WaitReason::Resizing => "Batch is resizing the pool",
            WaitReason::Stopping => "a stop-resize is finishing",
            WaitReason::NodesStarting => "nodes are starting (boot and start task)",
            WaitReason::NeedNodes => "the nodes have not been observed yet",
            WaitReason::HandlerBusy => {
                "this instance is at its limit of concurrent waits; the status URL carries the operation on"
            }
            WaitReason::ShuttingDown => {
                "the handler is restarting; the status URL carries the operation on"
            }
            WaitReason::Repairing => {
                "replacing nodes whose start task failed or that went unusable"
            }
            WaitReason::AnotherResize => {
                "another caller's resize is growing the pool; growing further once it ends"
            }
            WaitReason::TasksFinishing => {
                "running tasks are finishing before their nodes leave (taskcompletion)"
            }
            WaitReason::BatchBusy => {
                "Batch is throttling requests or slow to answer; waiting as it asks (Retry-After)"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum FailureCode {
    PoolNotFound,
    PoolBeingDeleted,
    AutoScaleEnabled,
    /// The resize ended short of target; `batch_code` says why
    /// (`AccountCoreQuotaReached`, `AllocationFailed`, `AllocationTimedout`...).
    ResizeFailed,
    StartTaskFailed,
    NodesUnusable,
    /// The pool does not move however often it is resized.
    PoolNotConverging,
    /// A node was not ready by its provision deadline.
    ProvisionTimedOut,
    /// An operator paused the pool: nothing resizes it until unpaused.
    PoolPaused,
    /// A recent allocation failure: asking again now would fail the same way.
    BackingOff,
}

impl FailureCode {
    /// The answer's `error.code`: spelled here, never from `Debug`, so a
    /// variant renamed does not change the public API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FailureCode::PoolNotFound => "PoolNotFound",
            FailureCode::PoolBeingDeleted => "PoolBeingDeleted",
            FailureCode::AutoScaleEnabled => "AutoScaleEnabled",
            FailureCode::ResizeFailed => "ResizeFailed",
            FailureCode::StartTaskFailed => "StartTaskFailed",
            FailureCode::NodesUnusable => "NodesUnusable",
            FailureCode::PoolNotConverging => "PoolNotConverging",
            FailureCode::ProvisionTimedOut => "ProvisionTimedOut",
            FailureCode::PoolPaused => "PoolPaused",
            FailureCode::BackingOff => "BackingOff",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: FailureCode,
    pub message: String,
    /// The code Batch itself gave, when there is one.
    pub batch_code: Option<String>,
}

/// What this run has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct History {
    pub resizes_issued: u32,
    /// Node removals this run made to replace failed nodes.
    pub repairs_issued: u32,
}

impl History {
    /// For a read-only status check: judge the pool as if the resize it waits
    /// for had been issued, so errors on the pool count as that resize's.
    pub(crate) fn assume_resized() -> Self {
        Self {
            resizes_issued: 1,
            repairs_issued: 0,
        }
    }
}

pub(crate) fn decide(observed: &Observed, want: &Want, history: History) -> Step {
    let snapshot = match observed {
        Observed::Missing => {
            return Step::Fail(Failure {
                code: FailureCode::PoolNotFound,
                message: format!(
                    "pool '{}' does not exist in this Batch account",
                    want.pool_id
                ),
                batch_code: Some("PoolNotFound".into()),
            });
        }
        Observed::Pool(snapshot) => snapshot,
    };
    let pool = &snapshot.pool;
    if pool.state == Some(PoolState::Deleting) {
        return Step::Fail(Failure {
            code: FailureCode::PoolBeingDeleted,
            message: format!("pool '{}' is being deleted", want.pool_id),
            batch_code: Some("PoolBeingDeleted".into()),
        });
    }
    if pool.enable_auto_scale {
        return Step::Fail(Failure {
            code: FailureCode::AutoScaleEnabled,
            message: format!(
                "pool '{}' has autoscale enabled, so Batch refuses manual resizes; \
                 disable autoscale or let the formula size the pool",
                want.pool_id
            ),
            batch_code: None,
        });
    }
    let step = match want.operation {
        Operation::ScaleUp => up::decide_up(snapshot, want, history),
        Operation::ScaleDown => down::decide_down(snapshot, want, history),
    };
    let acts = matches!(
        step,
        Step::Resize(_) | Step::StopResize | Step::RemoveNodes(_)
    );
    if acts && let Some(paused) = snapshot.paused() {
        let reason = paused
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return Step::Fail(Failure {
            code: FailureCode::PoolPaused,
            message: format!(
                "pool '{}' is paused by {} since {}{reason}: nothing resizes it until it is unpaused",
                want.pool_id,
                paused.by,
                crate::schedule::format_utc(paused.since)
            ),
            batch_code: None,
        });
    }
    let grows = matches!(&step, Step::Resize(to) if to.deallocation.is_none());
    if grows
        && want.operation == Operation::ScaleUp
        && let Some(backoff) = snapshot.backoff()
    {
        return Step::Fail(Failure {
            code: FailureCode::BackingOff,
            message: format!(
                "the last resize of pool '{}' failed ({}: {}); not asking again before {} (backoff {} min)",
                want.pool_id,
                backoff.code,
                backoff.message,
                crate::schedule::format_utc(backoff.until),
                backoff.minutes
            ),
            batch_code: Some(backoff.code),
        });
    }
    step
}

#[cfg(test)]
mod tests;
