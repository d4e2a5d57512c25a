//! The failures a resize can end in, and the judgment of nodes that will
//! never be ready: shared by the scale-up and the scale-down.

use super::{Failure, FailureCode, History, MAX_RESIZES_PER_RUN, ResizeTo, Step};
use crate::batch::models::{AllocationState, Pool};
use crate::resizer::snapshot::NodeTally;
use crate::resizer::want::Want;

/// Resize errors that say someone else changed course, not that the
/// allocation failed: a stop-resize by another caller (who wanted more, or
/// less) ends our resize with `ResizeStopped`. Not our failure: resize again
/// (still bounded by [`MAX_RESIZES_PER_RUN`]).
const NOT_OUR_FAILURE: &[&str] = &["ResizeStopped"];

/// The pool is steady but holds fewer nodes than its target asks.
pub(super) fn resize_again_or_fail(pool: &Pool, target: ResizeTo, history: History) -> Step {
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
/// [`provisioning_since`](crate::resizer::snapshot::provisioning_since)) is stuck,
/// not slow: say so, with its state and error, instead of waiting for ever.
pub(super) fn past_deadline(
    tally: &NodeTally,
    want: &Want,
    now: time::OffsetDateTime,
) -> Option<Failure> {
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
pub(super) struct Hopeless {
    pub(super) failure: Failure,
    pub(super) nodes: Vec<String>,
}

/// Nodes that failed leave too few that can still become ready.
/// While Batch is still allocating, nodes not yet in the list are coming too.
pub(super) fn hopeless(
    tally: &NodeTally,
    want: &Want,
    pool: &Pool,
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
