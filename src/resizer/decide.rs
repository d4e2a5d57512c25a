//! The decision at the centre: observe a pool, decide the next step.
//!
//! [`decide`] is pure. It is called again after every observation, like a
//! Kubernetes reconcile, so it must be safe to re-run: it never assumes the
//! previous step happened, it looks. Its only memory is [`History`], which
//! says whether *this* run already resized: a `resizeErrors` entry seen after
//! our own resize is our failure; one seen before we acted is stale, so we
//! resize once more to retry the allocation.

use super::snapshot::{NodeTally, Observed, Snapshot};
use super::want::{Operation, Want};
use crate::batch::models::{AllocationState, NodeDeallocationOption, PoolState};
use serde::Serialize;

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
        Operation::ScaleUp => decide_up(snapshot, want, history),
        Operation::ScaleDown => decide_down(snapshot, want, history),
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

/// What a scale-up grows the pool to and what it waits to see ready. A
/// plain scale-up: its own counts, both. A leased one grows the pool to what
/// every live lease needs together (capped), and is ready once the ready
/// nodes hold the leases ahead of it in line and its own, with its own
/// nodes' worth of task slots free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizing {
    pub grow: (u32, u32),
    pub ready: (u32, u32),
    /// Leased: the task slots that must be free, (dedicated, low-priority).
    pub free_slots: Option<(u32, u32)>,
}

pub(crate) fn sizing(snapshot: &Snapshot, want: &Want) -> Sizing {
    let mine = (want.dedicated, want.low_priority);
    let Some(lease) = want
        .lease
        .as_ref()
        .filter(|_| want.operation == Operation::ScaleUp && mine != (0, 0))
    else {
        return Sizing {
            grow: mine,
            ready: mine,
            free_slots: None,
        };
    };
    let need = snapshot.lease_need(want.caps);
    let ahead = super::lease::leases_ahead(&snapshot.pool.metadata, snapshot.observed_at, lease);
    let in_line = |ahead: u32, mine: u32, cap: u32| ahead.saturating_add(mine).min(cap).max(mine);
    let ready = (
        in_line(ahead.0, mine.0, want.caps.0),
        in_line(ahead.1, mine.1, want.caps.1),
    );
    let slots = snapshot.pool.slots_per_node();
    Sizing {
        grow: (need.0.max(ready.0), need.1.max(ready.1)),
        ready,
        free_slots: Some((mine.0.saturating_mul(slots), mine.1.saturating_mul(slots))),
    }
}

fn decide_up(snapshot: &Snapshot, want: &Want, history: History) -> Step {
    let pool = &snapshot.pool;
    let sizing = sizing(snapshot, want);
    // From here on, "the want" is what this call waits to see ready.
    let want = &Want {
        dedicated: sizing.ready.0,
        low_priority: sizing.ready.1,
        ..want.clone()
    };
    // With a Spot fallback, dedicated nodes may stand in for low-priority
    // ones: the dedicated want must be met by dedicated nodes, the total by
    // either kind.
    let total = want.dedicated + want.low_priority;
    let (grow_dedicated, grow_low) = sizing.grow;
    let targets_suffice = pool.target_dedicated_nodes >= grow_dedicated
        && match want.spot_fallback {
            Some(_) => {
                pool.target_dedicated_nodes + pool.target_low_priority_nodes
                    >= grow_dedicated + grow_low
            }
            None => pool.target_low_priority_nodes >= grow_low,
        };
    let grow_to = ResizeTo {
        dedicated: pool.target_dedicated_nodes.max(grow_dedicated),
        low_priority: pool.target_low_priority_nodes.max(grow_low),
        deallocation: None,
    };
    let nothing_wanted = want.dedicated == 0 && want.low_priority == 0;
    let tally = match (&snapshot.nodes, nothing_wanted) {
        (_, true) => None,
        (Some(tally), false) => Some(tally),
        (None, false) if targets_suffice => return Step::Wait(WaitReason::NeedNodes),
        (None, false) => None,
    };
    let counts_ready = |t: &NodeTally| {
        t.ready_dedicated >= want.dedicated
            && match want.spot_fallback {
                Some(_) => t.ready_dedicated + t.ready_low_priority >= total,
                None => t.ready_low_priority >= want.low_priority,
            }
    };
    let slots = pool.slots_per_node();
    let free = |t: &NodeTally| {
        let Some((mine_dedicated, mine_low)) = sizing.free_slots else {
            return true;
        };
        let free_dedicated = (t.ready_dedicated * slots).saturating_sub(t.busy_slots_dedicated);
        let free_low = (t.ready_low_priority * slots).saturating_sub(t.busy_slots_low_priority);
        free_dedicated >= mine_dedicated
            && match want.spot_fallback {
                Some(_) => free_dedicated + free_low >= mine_dedicated + mine_low,
                None => free_low >= mine_low,
            }
    };
    let ready = |t: &NodeTally| counts_ready(t) && free(t);

    match pool.allocation_state {
        Some(AllocationState::Stopping) => Step::Wait(WaitReason::Stopping),
        Some(AllocationState::Resizing) | Some(AllocationState::Other) | None => {
            if !targets_suffice {
                // Someone else's grow that stops short of our want: every node
                // it allocates is one we need too, and stopping it would drop
                // allocations in flight and fail its caller. Let it finish,
                // then grow further.
                if removes_no_node(pool) {
                    return Step::Wait(WaitReason::AnotherResize);
                }
                // A shrink: its end state would not hold our nodes. Stop it,
                // then resize ourselves.
                return Step::StopResize;
            }
            if nothing_wanted || tally.is_some_and(ready) {
                return Step::Done;
            }
            if let Some(failure) = tally.and_then(|t| hopeless(t, want, pool, history)) {
                // Failed nodes can only be removed once the pool is steady.
                if history.repairs_issued < want.repair_attempts {
                    return Step::Wait(WaitReason::Repairing);
                }
                return Step::Fail(failure.failure);
            }
            if history.repairs_issued > 0 {
                // The resize under way is this call's replacement.
                return Step::Wait(WaitReason::Repairing);
            }
            Step::Wait(WaitReason::Resizing)
        }
        Some(AllocationState::Steady) => {
            if !targets_suffice {
                return Step::Resize(grow_to);
            }
            if nothing_wanted || tally.is_some_and(ready) {
                return Step::Done;
            }
            // Every lease in line is held by ready nodes and nothing more is
            // coming, yet this call's slots are taken: by tasks beyond the
            // leases (a caller without a lease, a pipeline's own earlier
            // tasks). Waiting would only wait for those tasks, which Batch's
            // queue does as well: ready, as a plain scale-up would be.
            if let Some(t) = tally
                && counts_ready(t)
                && t.coming_dedicated + t.coming_low_priority == 0
                && pool.current_dedicated_nodes >= pool.target_dedicated_nodes
                && pool.current_low_priority_nodes >= pool.target_low_priority_nodes
            {
                return Step::Done;
            }
            // Spot nodes that could not be allocated (or were preempted):
            // make up the difference with dedicated ones, up to the cap.
            // Spot nodes that can take or will take a task: preempted ones,
            // still counted in the pool's current count, are neither.
            let spot_available = tally.map_or(pool.current_low_priority_nodes, |t| {
                t.ready_low_priority + t.coming_low_priority
            });
            if let Some(max_dedicated) = want.spot_fallback
                && pool.current_dedicated_nodes >= want.dedicated
                && spot_available < want.low_priority
            {
                let missing = want.low_priority - spot_available;
                let dedicated = (want.dedicated + missing)
                    .max(pool.target_dedicated_nodes)
                    .min(max_dedicated.max(want.dedicated));
                let fallback = ResizeTo {
                    dedicated,
                    low_priority: pool
                        .current_low_priority_nodes
                        .min(pool.target_low_priority_nodes),
                    deallocation: None,
                };
                if dedicated > pool.target_dedicated_nodes
                    || pool.target_low_priority_nodes > pool.current_low_priority_nodes
                {
                    return Step::Resize(fallback);
                }
            }
            let short_of_target = pool.current_dedicated_nodes < want.dedicated
                || match want.spot_fallback {
                    Some(_) => {
                        pool.current_dedicated_nodes + pool.current_low_priority_nodes < total
                    }
                    None => pool.current_low_priority_nodes < want.low_priority,
                };
            if short_of_target {
                return resize_again_or_fail(pool, grow_to, history);
            }
            match tally {
                Some(t) => match hopeless(t, want, pool, history) {
                    Some(hopeless) if history.repairs_issued < want.repair_attempts => {
                        Step::RemoveNodes(hopeless.nodes)
                    }
                    Some(hopeless) => Step::Fail(hopeless.failure),
                    None => match past_deadline(t, want, snapshot.observed_at) {
                        Some(failure) => Step::Fail(failure),
                        None => Step::Wait(WaitReason::NodesStarting),
                    },
                },
                None => Step::Wait(WaitReason::NeedNodes),
            }
        }
    }
}

/// A resize in flight that removes no node, of either kind: a grow, or one
/// whose nodes are all allocated and only needs to turn steady.
fn removes_no_node(pool: &crate::batch::models::Pool) -> bool {
    pool.target_dedicated_nodes >= pool.current_dedicated_nodes
        && pool.target_low_priority_nodes >= pool.current_low_priority_nodes
}

/// Resize errors that say someone else changed course, not that the
/// allocation failed: a stop-resize by another caller (who wanted more, or
/// less) ends our resize with `ResizeStopped`. Not our failure: resize again
/// (still bounded by [`MAX_RESIZES_PER_RUN`]).
const NOT_OUR_FAILURE: &[&str] = &["ResizeStopped"];

/// The pool is steady but holds fewer nodes than its target asks.
fn resize_again_or_fail(
    pool: &crate::batch::models::Pool,
    target: ResizeTo,
    history: History,
) -> Step {
    if let Some(error) = pool
        .resize_errors
        .iter()
        .find(|e| !NOT_OUR_FAILURE.contains(&e.code.as_str()))
        && history.resizes_issued > 0
    {
        {
            return Step::Fail(Failure {
                code: FailureCode::ResizeFailed,
                message: format!(
                    "the resize of pool '{}' ended with {} of {} dedicated and {} of {} \
                     low-priority nodes: {}",
                    pool.id,
                    pool.current_dedicated_nodes,
                    pool.target_dedicated_nodes,
                    pool.current_low_priority_nodes,
                    pool.target_low_priority_nodes,
                    error.message
                ),
                batch_code: Some(error.code.clone()),
            });
        }
    }
    if history.resizes_issued >= MAX_RESIZES_PER_RUN {
        return Step::Fail(Failure {
            code: FailureCode::PoolNotConverging,
            message: format!(
                "pool '{}' went steady short of its target {} times in a row without an error",
                pool.id, history.resizes_issued
            ),
            batch_code: None,
        });
    }
    Step::Resize(target)
}

/// A node still on its way long after its current boot began (its
/// allocation, or a later reboot or reimage: see
/// [`provisioning_since`](super::snapshot::provisioning_since)) is stuck,
/// not slow: say so, with its state and error, instead of waiting for ever.
fn past_deadline(tally: &NodeTally, want: &Want, now: time::OffsetDateTime) -> Option<Failure> {
    let oldest = tally.oldest_coming.as_ref()?;
    let age = now - oldest.since;
    if age <= want.provision_deadline {
        return None;
    }
    let error = oldest
        .error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let since = if oldest.allocated == Some(oldest.since) {
        "Batch allocated it"
    } else {
        "its current boot began"
    };
    Some(Failure {
        code: FailureCode::ProvisionTimedOut,
        message: format!(
            "node '{}' is still {} {} min after {since} (provision deadline {} min, PROVISION_DEADLINE_MINUTES){error}",
            oldest.node_id,
            oldest.state.as_str(),
            age.whole_minutes(),
            want.provision_deadline.as_secs() / 60
        ),
        batch_code: None,
    })
}

/// Failed nodes leave too few that can still become ready: the failure to
/// report, and the nodes a repair would remove.
struct Hopeless {
    failure: Failure,
    nodes: Vec<String>,
}

/// Nodes that failed leave too few that can still become ready.
/// While Batch is still allocating, nodes not yet in the list are coming too.
fn hopeless(
    tally: &NodeTally,
    want: &Want,
    pool: &crate::batch::models::Pool,
    history: History,
) -> Option<Hopeless> {
    let allocating = pool.allocation_state != Some(AllocationState::Steady);
    let unallocated = |target: u32, current: u32| {
        if allocating {
            target.saturating_sub(current)
        } else {
            0
        }
    };
    let coming_dedicated = tally.coming_dedicated
        + unallocated(pool.target_dedicated_nodes, pool.current_dedicated_nodes);
    let coming_low = tally.coming_low_priority
        + unallocated(
            pool.target_low_priority_nodes,
            pool.current_low_priority_nodes,
        );
    let short_dedicated = tally.ready_dedicated + coming_dedicated < want.dedicated;
    let short_low = tally.ready_low_priority + coming_low < want.low_priority;
    if !(short_dedicated || short_low) {
        return None;
    }
    let blocking: Vec<_> = tally
        .failed
        .iter()
        .filter(|f| (f.is_dedicated && short_dedicated) || (!f.is_dedicated && short_low))
        .collect();
    let failure = blocking.first()?;
    let (code, what) = match failure.state {
        crate::batch::models::NodeState::StartTaskFailed => {
            (FailureCode::StartTaskFailed, "its start task failed")
        }
        _ => (FailureCode::NodesUnusable, "it is unusable"),
    };
    let exit = failure
        .exit_code
        .map(|code| format!(" with exit code {code}"))
        .unwrap_or_default();
    let detail = failure
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let repairs = match history.repairs_issued {
        0 => String::new(),
        n => format!("; {n} replacement(s) failed the same way"),
    };
    Some(Hopeless {
        failure: Failure {
            code,
            message: format!(
                "node '{}' cannot take tasks because {what}{exit}{detail} ({} node(s) failed this way{repairs})",
                failure.node_id,
                tally.failed.len()
            ),
            batch_code: failure.code.clone(),
        },
        nodes: blocking.iter().map(|f| f.node_id.clone()).collect(),
    })
}

fn decide_down(snapshot: &Snapshot, want: &Want, history: History) -> Step {
    let pool = &snapshot.pool;
    let (need_dedicated, need_low) = snapshot.lease_floor(&want.leases, want.caps);
    let (floor_dedicated, floor_low) = (
        want.dedicated.max(need_dedicated),
        want.low_priority.max(need_low),
    );
    let above_floor =
        pool.target_dedicated_nodes > floor_dedicated || pool.target_low_priority_nodes > floor_low;
    let shrink_to = ResizeTo {
        dedicated: pool.target_dedicated_nodes.min(floor_dedicated),
        low_priority: pool.target_low_priority_nodes.min(floor_low),
        deallocation: Some(NodeDeallocationOption::TaskCompletion),
    };
    match pool.allocation_state {
        Some(AllocationState::Stopping) => Step::Wait(WaitReason::Stopping),
        Some(AllocationState::Resizing) | Some(AllocationState::Other) | None => {
            if above_floor {
                Step::StopResize
            } else if snapshot
                .nodes
                .as_ref()
                .is_some_and(|t| t.finishing_tasks > 0)
                && (pool.current_dedicated_nodes > pool.target_dedicated_nodes
                    || pool.current_low_priority_nodes > pool.target_low_priority_nodes)
            {
                Step::Wait(WaitReason::TasksFinishing)
            } else {
                Step::Wait(WaitReason::Resizing)
            }
        }
        Some(AllocationState::Steady) => {
            // Nodes that bill but never take a task leave first.
            if above_floor && let Some(tally) = &snapshot.nodes {
                let room = pool.target_dedicated_nodes.saturating_sub(floor_dedicated) as usize;
                let room_low = pool.target_low_priority_nodes.saturating_sub(floor_low) as usize;
                let dedicated = tally.failed.iter().filter(|f| f.is_dedicated).take(room);
                let low = tally
                    .failed
                    .iter()
                    .filter(|f| !f.is_dedicated)
                    .take(room_low);
                let failed: Vec<String> = dedicated.chain(low).map(|f| f.node_id.clone()).collect();
                if !failed.is_empty() && history.repairs_issued == 0 {
                    return Step::RemoveNodes(failed);
                }
            }
            if above_floor {
                return Step::Resize(shrink_to);
            }
            let still_above = pool.current_dedicated_nodes > floor_dedicated
                || pool.current_low_priority_nodes > floor_low;
            if !still_above {
                return Step::Done;
            }
            resize_again_or_fail(pool, shrink_to, history)
        }
    }
}

#[cfg(test)]
mod tests;
