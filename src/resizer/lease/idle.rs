//! Leases whose holders are done without saying so.
//!
//! A pipeline that fails before its scale-down (cancelled, an activity
//! failing with no "on completion" path, the Function call itself failing)
//! leaves its lease behind, and the lease keeps its nodes until it expires:
//! 180 minutes in the pipeline template, for a task of ten. A lease taken
//! with `leaseIdleMinutes` lapses sooner: once the pool shows its nodes idle
//! that long, the reconcile lets it go, as an autoscale formula on
//! `$ActiveTasks` would, but only for the pipelines that asked for it.
//! Only those: between two Batch activities a pipeline's node stands idle
//! too, and a pipeline whose activities are far apart must not lose it.
//!
//! Batch does not say which lease a node serves (a Custom activity's task
//! carries the activity's run id, not the pipeline's), and nodes are
//! interchangeable, so the evidence is counted, not matched:
//! - nodes idle at least the lease's minutes (`stateTransitionTime` of an
//!   idle node is when its last task ended), and held by the lease at least
//!   as long, so a pipeline about to use a node that idled before it came
//!   keeps it;
//! - fewer the idle nodes that may be kept idle on purpose: the spare
//!   leases', a schedule floor's above what the pipelines hold, and those of
//!   every pipeline lease that cannot lapse now (no limit, or held for less
//!   than its own limit): one of them may be about to use the idle node, and
//!   the shrink after a lapse takes idle nodes first;
//! - and at most what the pipelines' leases hold beyond the nodes running
//!   tasks or still booting: a node someone else's manual scale-up left idle
//!   says nothing about a lease whose task runs.
//!
//! The leases let go first are the ones held longest without renewal. The
//! one dropped may not be the one whose task ended (that cannot be told),
//! but the count is right, and a dropped lease never stops a running task:
//! the shrink after it is `taskcompletion`.

use super::{Counts, Lease, live_in_line};
use crate::batch::models::MetadataItem;
use time::OffsetDateTime;

/// What the pool's nodes show, as far as leases going idle are concerned
/// (the snapshot's tally reads it off Batch's node list).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NodesSeen {
    /// Ready nodes (idle or running): (dedicated, low-priority).
    pub ready: Counts,
    /// Nodes still booting: they serve a lease that is about to run tasks.
    pub coming: Counts,
    /// Ready nodes running no task: dedicated or not, and since when idle.
    pub idle_since: Vec<(bool, OffsetDateTime)>,
}

/// The pipelines' leases with an idle limit that the pool shows idle past
/// it, as they were seen (the reconcile lets them go, each only if
/// unchanged), held longest first.
pub(crate) fn idle_leases(
    metadata: &[MetadataItem],
    nodes: &NodesSeen,
    now: OffsetDateTime,
) -> Vec<Lease> {
    let live: Vec<Lease> = live_in_line(metadata, now).collect();
    let (mut floor, mut pipelines, mut spares, mut not_lapsing): (Counts, Counts, Counts, Counts) =
        ((0, 0), (0, 0), (0, 0), (0, 0));
    for lease in &live {
        let counts = (lease.dedicated, lease.low_priority);
        if lease.is_floor() {
            floor = (floor.0.max(counts.0), floor.1.max(counts.1));
        } else if lease.is_spare() {
            spares = add(spares, counts);
        } else {
            pipelines = add(pipelines, counts);
            if !past_its_limit(lease, now) {
                not_lapsing = add(not_lapsing, counts);
            }
        }
    }
    let kept_idle = add(add(spares, sub(floor, pipelines)), not_lapsing);
    let idle_now = idle_since(nodes, None);
    let working = add(sub(nodes.ready, idle_now), nodes.coming);
    let unused = sub(pipelines, working);

    let mut candidates: Vec<&Lease> = live
        .iter()
        .filter(|lease| !lease.is_floor() && !lease.is_spare())
        .filter(|lease| past_its_limit(lease, now))
        .collect();
    candidates.sort_by_key(|lease| lease.idle.map(|idle| idle.held_at));
    let mut lapsed = Vec::new();
    let mut let_go: Counts = (0, 0);
    for lease in candidates {
        let Some(limit) = lease.idle else { continue };
        let since = now - time::Duration::minutes(i64::from(limit.minutes));
        let idle_long = sub(idle_since(nodes, Some(since)), kept_idle);
        let room = sub(min(idle_long, unused), let_go);
        if lease.dedicated <= room.0 && lease.low_priority <= room.1 {
            let_go = add(let_go, (lease.dedicated, lease.low_priority));
            lapsed.push(lease.clone());
        }
    }
    lapsed
}

/// A lease with an idle limit, held (taken or renewed) at least that long
/// ago: only such a lease can lapse now.
fn past_its_limit(lease: &Lease, now: OffsetDateTime) -> bool {
    lease.idle.is_some_and(|limit| {
        limit.held_at <= now - time::Duration::minutes(i64::from(limit.minutes))
    })
}

/// Idle nodes (dedicated, low-priority), only those idle since `before` or
/// earlier when given.
fn idle_since(nodes: &NodesSeen, before: Option<OffsetDateTime>) -> Counts {
    nodes
        .idle_since
        .iter()
        .filter(|(_, since)| before.is_none_or(|before| *since <= before))
        .fold(
            (0, 0),
            |(d, l), (dedicated, _)| {
                if *dedicated { (d + 1, l) } else { (d, l + 1) }
            },
        )
}

fn add(a: Counts, b: Counts) -> Counts {
    (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
}

fn sub(a: Counts, b: Counts) -> Counts {
    (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1))
}

fn min(a: Counts, b: Counts) -> Counts {
    (a.0.min(b.0), a.1.min(b.1))
}

#[cfg(test)]
mod tests;
