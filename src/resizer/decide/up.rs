//! A scale-up: grow the pool to what this call (and the leases ahead of it)
//! need, wait for the nodes to be ready, and judge the ones that never will.

use super::failures::{hopeless, past_deadline, resize_again_or_fail};
use super::{History, ResizeTo, Step, WaitReason};
use crate::batch::models::{AllocationState, Pool};
use crate::resizer::snapshot::{NodeTally, Snapshot};
use crate::resizer::want::{Operation, Want};

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
    let ahead =
        crate::resizer::lease::leases_ahead(&snapshot.pool.metadata, snapshot.observed_at, lease);
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

pub(super) fn decide_up(snapshot: &Snapshot, want: &Want, history: History) -> Step {
    let pool = &snapshot.pool;
    let sizing = sizing(snapshot, want);
    // From here on, "the want" is what this call waits to see ready.
    let want = &Want {
        dedicated: sizing.ready.0,
        low_priority: sizing.ready.1,
        ..want.clone()
    };
    let targets_suffice = targets_suffice(pool, sizing.grow, want.spot_fallback);
    let nothing_wanted = want.dedicated == 0 && want.low_priority == 0;
    let tally = match (&snapshot.nodes, nothing_wanted) {
        (_, true) => None,
        (Some(tally), false) => Some(tally),
        (None, false) if targets_suffice => return Step::Wait(WaitReason::NeedNodes),
        (None, false) => None,
    };
    let up = Up {
        pool,
        want,
        sizing,
        tally,
        targets_suffice,
        nothing_wanted,
    };
    match pool.allocation_state {
        Some(AllocationState::Stopping) => Step::Wait(WaitReason::Stopping),
        Some(AllocationState::Resizing) | Some(AllocationState::Other) | None => {
            up.while_resizing(history)
        }
        Some(AllocationState::Steady) => up.when_steady(history, snapshot.observed_at),
    }
}

/// Whether the pool's targets already reach `grow`. With a Spot fallback,
/// dedicated nodes may stand in for low-priority ones: the dedicated want
/// must be met by dedicated nodes, the total by either kind.
fn targets_suffice(pool: &Pool, grow: (u32, u32), spot_fallback: Option<u32>) -> bool {
    let (grow_dedicated, grow_low) = grow;
    pool.target_dedicated_nodes >= grow_dedicated
        && match spot_fallback {
            Some(_) => {
                pool.target_dedicated_nodes + pool.target_low_priority_nodes
                    >= grow_dedicated + grow_low
            }
            None => pool.target_low_priority_nodes >= grow_low,
        }
}

/// One scale-up's view of the pool: the want as it waits to see it ready.
struct Up<'a> {
    pool: &'a Pool,
    want: &'a Want,
    sizing: Sizing,
    /// The nodes, when listed and wanted.
    tally: Option<&'a NodeTally>,
    targets_suffice: bool,
    nothing_wanted: bool,
}

impl Up<'_> {
    fn grow_to(&self) -> ResizeTo {
        ResizeTo {
            dedicated: self.pool.target_dedicated_nodes.max(self.sizing.grow.0),
            low_priority: self.pool.target_low_priority_nodes.max(self.sizing.grow.1),
            deallocation: None,
        }
    }

    fn total(&self) -> u32 {
        self.want.dedicated + self.want.low_priority
    }

    /// Enough nodes ready, of each kind (or in total, with a Spot fallback).
    fn counts_ready(&self, t: &NodeTally) -> bool {
        t.ready_dedicated >= self.want.dedicated
            && match self.want.spot_fallback {
                Some(_) => t.ready_dedicated + t.ready_low_priority >= self.total(),
                None => t.ready_low_priority >= self.want.low_priority,
            }
    }

    /// Leased: the ready nodes have this call's task slots free.
    fn slots_free(&self, t: &NodeTally) -> bool {
        let Some((mine_dedicated, mine_low)) = self.sizing.free_slots else {
            return true;
        };
        let slots = self.pool.slots_per_node();
        let free_dedicated = (t.ready_dedicated * slots).saturating_sub(t.busy_slots_dedicated);
        let free_low = (t.ready_low_priority * slots).saturating_sub(t.busy_slots_low_priority);
        free_dedicated >= mine_dedicated
            && match self.want.spot_fallback {
                Some(_) => free_dedicated + free_low >= mine_dedicated + mine_low,
                None => free_low >= mine_low,
            }
    }

    fn done(&self) -> bool {
        self.nothing_wanted
            || self
                .tally
                .is_some_and(|t| self.counts_ready(t) && self.slots_free(t))
    }

    /// A resize is running (ours, or someone else's).
    fn while_resizing(&self, history: History) -> Step {
        if !self.targets_suffice {
            // Someone else's grow that stops short of our want: every node
            // it allocates is one we need too, and stopping it would drop
            // allocations in flight and fail its caller. Let it finish,
            // then grow further.
            if removes_no_node(self.pool) {
                return Step::Wait(WaitReason::AnotherResize);
            }
            // A shrink: its end state would not hold our nodes. Stop it,
            // then resize ourselves.
            return Step::StopResize;
        }
        if self.done() {
            return Step::Done;
        }
        if let Some(failure) = self
            .tally
            .and_then(|t| hopeless(t, self.want, self.pool, history))
        {
            // Failed nodes can only be removed once the pool is steady.
            if history.repairs_issued < self.want.repair_attempts {
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

    /// The pool is steady: resize, or judge the nodes it has.
    fn when_steady(&self, history: History, now: time::OffsetDateTime) -> Step {
        let pool = self.pool;
        if !self.targets_suffice {
            return Step::Resize(self.grow_to());
        }
        if self.done() || self.slots_taken_by_others() {
            return Step::Done;
        }
        if let Some(fallback) = self.spot_fallback() {
            return Step::Resize(fallback);
        }
        let short_of_target = pool.current_dedicated_nodes < self.want.dedicated
            || match self.want.spot_fallback {
                Some(_) => {
                    pool.current_dedicated_nodes + pool.current_low_priority_nodes < self.total()
                }
                None => pool.current_low_priority_nodes < self.want.low_priority,
            };
        if short_of_target {
            return resize_again_or_fail(pool, self.grow_to(), history);
        }
        let Some(t) = self.tally else {
            return Step::Wait(WaitReason::NeedNodes);
        };
        match hopeless(t, self.want, pool, history) {
            Some(hopeless) if history.repairs_issued < self.want.repair_attempts => {
                Step::RemoveNodes(hopeless.nodes)
            }
            Some(hopeless) => Step::Fail(hopeless.failure),
            None => match past_deadline(t, self.want, now) {
                Some(failure) => Step::Fail(failure),
                None => Step::Wait(WaitReason::NodesStarting),
            },
        }
    }

    /// Every lease in line is held by ready nodes and nothing more is
    /// coming, yet this call's slots are taken: by tasks beyond the leases
    /// (a caller without a lease, a pipeline's own earlier tasks). Waiting
    /// would only wait for those tasks, which Batch's queue does as well:
    /// ready, as a plain scale-up would be.
    fn slots_taken_by_others(&self) -> bool {
        let pool = self.pool;
        self.tally.is_some_and(|t| {
            self.counts_ready(t)
                && t.coming_dedicated + t.coming_low_priority == 0
                && pool.current_dedicated_nodes >= pool.target_dedicated_nodes
                && pool.current_low_priority_nodes >= pool.target_low_priority_nodes
        })
    }

    /// Spot nodes that could not be allocated (or were preempted): the
    /// resize that makes up the difference with dedicated ones, up to the
    /// cap, when it changes the pool.
    fn spot_fallback(&self) -> Option<ResizeTo> {
        let (pool, want) = (self.pool, self.want);
        let max_dedicated = want.spot_fallback?;
        // Spot nodes that can take or will take a task: preempted ones,
        // still counted in the pool's current count, are neither.
        let spot_available = self.tally.map_or(pool.current_low_priority_nodes, |t| {
            t.ready_low_priority + t.coming_low_priority
        });
        if pool.current_dedicated_nodes < want.dedicated || spot_available >= want.low_priority {
            return None;
        }
        let missing = want.low_priority - spot_available;
        let dedicated = (want.dedicated + missing)
            .max(pool.target_dedicated_nodes)
            .min(max_dedicated.max(want.dedicated));
        let changes = dedicated > pool.target_dedicated_nodes
            || pool.target_low_priority_nodes > pool.current_low_priority_nodes;
        changes.then(|| ResizeTo {
            dedicated,
            low_priority: pool
                .current_low_priority_nodes
                .min(pool.target_low_priority_nodes),
            deallocation: None,
        })
    }
}

/// A resize in flight that removes no node, of either kind: a grow, or one
/// whose nodes are all allocated and only needs to turn steady.
fn removes_no_node(pool: &Pool) -> bool {
    pool.target_dedicated_nodes >= pool.current_dedicated_nodes
        && pool.target_low_priority_nodes >= pool.current_low_priority_nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool's targets against what a scale-up grows to: each kind its
    /// own, or, with a Spot fallback, dedicated nodes counting toward the total.
    #[test]
    fn targets_suffice_as_a_table() {
        let pool = |dedicated, low_priority| Pool {
            target_low_priority_nodes: low_priority,
            ..Pool::test("p").target(dedicated).pool()
        };
        for (targets, grow, fallback, suffice) in [
            ((2, 0), (2, 0), None, true),
            ((1, 0), (2, 0), None, false),
            ((2, 0), (1, 1), None, false),
            ((2, 0), (1, 1), Some(4), true),
            ((1, 1), (2, 0), Some(4), false),
            ((0, 3), (0, 2), None, true),
        ] {
            let pool = pool(targets.0, targets.1);
            assert_eq!(
                targets_suffice(&pool, grow, fallback),
                suffice,
                "targets {targets:?}, grow {grow:?}, fallback {fallback:?}"
            );
        }
    }
}
