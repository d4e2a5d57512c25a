//! How often the loop looks: the policy, and the pure functions that pick
//! the next interval from what the loop just saw and did (tested as a table
//! below, like `decide`).

use super::decide::WaitReason;
use super::snapshot::Observed;
use super::want::Want;
use crate::batch::models::NodeState;
use std::time::Duration;

/// How often to look. The interval grows because early polls catch quick
/// wins (already ready, a resize accepted) and late ones only wait for VMs
/// (allocation, boot: minutes). Once every wanted node is past boot and only
/// its start task stands between it and ready, the loop looks every `near`:
/// that phase is short, and every second between "idle" and our answer is a
/// node-second paid for nothing. Looks that only nodes can answer skip the
/// pool GET, so the fast phase costs one call per look and a whole cycle
/// stays below the Python SDK poller's call count (`docs/benchmarks.md`).
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
    pub(crate) growth: f64,
    /// Interval while every wanted node is ready or only waiting for its
    /// start task (`waitingforstarttask`, or idle/running with the start task
    /// still running). Bounds the reaction time after the last node is ready.
    pub(crate) near: Duration,
    /// The SDK poller's cadence (5 s), which bounds the fast looks: they may
    /// only spend what the SDK's way would have made by now (get_pool, the
    /// resize, its poller's first GET, then one call per `call_budget` since
    /// the resize), i.e. what the slower phases saved. Once that is spent the
    /// loop looks every `call_budget`, so even a start task of many minutes
    /// never costs more calls than the SDK would make. Also the first
    /// interval after our own shrink, which takes Batch tens of seconds.
    pub(crate) call_budget: Duration,
    /// While the pool is steady with every wanted node allocated, only the
    /// node list can change the decision, so looks list the nodes only and
    /// read the pool again at most this long after the last read (to notice
    /// someone else's resize or a deletion). A node count that disagrees with
    /// the pool's reads the pool at once.
    pub(crate) pool_refresh: Duration,
    /// `resizeTimeout` sent with our resizes (Batch default 15 min, min 5 min).
    pub(crate) resize_timeout: Option<Duration>,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(15),
            growth: 1.5,
            near: Duration::from_millis(1500),
            call_budget: Duration::from_secs(5),
            pool_refresh: Duration::from_secs(60),
            resize_timeout: None,
        }
    }
}

/// How long ago the pool was last changed through the API (our resize, or
/// someone's): `lastModified` does not move with node churn. `None` when
/// unknown or in the future (clock skew).
pub(super) fn since_modified(observed: &Observed, now: time::OffsetDateTime) -> Option<Duration> {
    let Observed::Pool(snapshot) = observed else {
        return None;
    };
    let modified = snapshot.pool.last_modified?;
    Duration::try_from(now - modified).ok()
}

/// Every wanted node is ready or only waiting for its start task: the last
/// step to ready is seconds away, not minutes, so look often. Counts across
/// dedicated and low-priority together: a heuristic for the interval only,
/// never for the decision.
pub(super) fn is_near(observed: &Observed, want: &Want) -> bool {
    let Observed::Pool(snapshot) = observed else {
        return false;
    };
    let Some(tally) = &snapshot.nodes else {
        return false;
    };
    let (dedicated, low_priority) = super::decide::sizing(snapshot, want).ready;
    let wanted = dedicated + low_priority;
    let ready = tally.ready_dedicated + tally.ready_low_priority;
    let count = |state| tally.by_state.get(&state).copied().unwrap_or(0);
    let idle_or_running = count(NodeState::Idle) + count(NodeState::Running);
    // Idle/running but not ready: the start task is still running.
    let start_task_running = idle_or_running.saturating_sub(ready);
    let near = count(NodeState::WaitingForStartTask) + start_task_running;
    wanted > 0 && near > 0 && ready + near >= wanted
}

/// What the loop did with its last look, for [`PollPolicy::after_decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decided {
    /// Waiting for `reason`; `near`: every wanted node is ready or only
    /// waiting for its start task; `calls` made so far and `since_resize`,
    /// the time since the resize this wait is for.
    Wait {
        reason: WaitReason,
        near: bool,
        calls: u32,
        since_resize: Duration,
    },
    /// Batch accepted our resize (a shrink, or a grow / stop-resize).
    Acted { shrink: bool },
    /// Batch refused our step (the pool changed); look again as planned.
    Refused,
}

impl PollPolicy {
    /// The interval before the next look, given the current one and what
    /// the loop just decided.
    pub(crate) fn after_decision(&self, current: Duration, decided: Decided) -> Duration {
        match decided {
            Decided::Wait {
                near: true,
                calls,
                since_resize,
                ..
            } => {
                // What the SDK's way has made by now: get_pool, the resize,
                // the poller's first GET, then one per `call_budget`. Room
                // for the next look even if it re-reads the pool.
                let earned = 3.0
                    + since_resize.as_secs_f64() / self.call_budget.as_secs_f64().max(f64::EPSILON);
                if earned >= f64::from(calls) + 2.0 {
                    self.near
                } else {
                    self.call_budget
                }
            }
            // Allocated nodes still booting: minutes away, and the quick
            // wins the short first looks are for are behind us.
            Decided::Wait {
                reason: WaitReason::NodesStarting,
                ..
            } => self.max,
            Decided::Wait { .. } | Decided::Refused => current,
            // A shrink takes Batch tens of seconds at least (nodes drain,
            // then leave): looking sooner than the SDK's cadence only adds calls.
            Decided::Acted { shrink: true } => self.call_budget.max(self.first),
            Decided::Acted { shrink: false } => self.first,
        }
    }

    /// After a pause: intervals grow (early looks catch quick wins, late
    /// ones only wait for VMs), except near the end, where they stay short.
    pub(crate) fn grown(&self, current: Duration, near: bool) -> Duration {
        if near {
            current
        } else {
            current.mul_f64(self.growth).min(self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn wait(reason: WaitReason, near: bool, calls: u32, since_resize: f64) -> Decided {
        Decided::Wait {
            reason,
            near,
            calls,
            since_resize: s(since_resize),
        }
    }

    #[test]
    fn the_next_interval_as_a_table() {
        let p = PollPolicy::default();
        let rows: &[(&str, Duration, Decided, Duration)] = &[
            (
                "a grow accepted: look again soon",
                s(15.0),
                Decided::Acted { shrink: false },
                p.first,
            ),
            (
                "a shrink accepted: no sooner than the SDK",
                s(2.0),
                Decided::Acted { shrink: true },
                p.call_budget,
            ),
            ("refused: as planned", s(4.5), Decided::Refused, s(4.5)),
            (
                "Batch resizing: as planned",
                s(4.5),
                wait(WaitReason::Resizing, false, 3, 10.0),
                s(4.5),
            ),
            (
                "nodes booting: the longest interval",
                s(3.0),
                wait(WaitReason::NodesStarting, false, 5, 60.0),
                p.max,
            ),
            (
                "start task phase with calls to spare: near",
                s(15.0),
                wait(WaitReason::NodesStarting, true, 10, 120.0),
                p.near,
            ),
            (
                "start task phase, credit spent: SDK cadence",
                s(15.0),
                wait(WaitReason::NodesStarting, true, 30, 100.0),
                p.call_budget,
            ),
        ];
        for (what, current, decided, expected) in rows {
            assert_eq!(p.after_decision(*current, *decided), *expected, "{what}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn near_once_every_wanted_node_only_waits_for_its_start_task() {
        use crate::batch::models::{Node, NodeState::*, Pool};
        use crate::resizer::fixtures::up;
        let pool = || Pool::test("p").steady(2);
        let rows = [
            ("the pool is gone", Observed::Missing, 1, false),
            ("nodes not listed", pool().observed(), 1, false),
            ("one ready, one waiting for its start task", pool().idle_nodes(1).nodes([Node::test(WaitingForStartTask)]).observed(), 2, true),
            ("idle, start task still running", pool().nodes([Node::test(Idle).start_task_running()]).observed(), 1, true),
            ("one ready, one still booting", pool().idle_nodes(1).nodes([Node::test(Starting)]).observed(), 2, false),
            ("all ready: nothing left to wait for", pool().idle_nodes(2).observed(), 2, false),
            ("a look wants no node", pool().nodes([Node::test(WaitingForStartTask)]).observed(), 0, false),
        ];
        for (what, observed, wanted, near) in rows {
            assert_eq!(is_near(&observed, &up(wanted)), near, "{what}");
        }
    }

    #[test]
    fn intervals_grow_to_the_max_except_near_the_end() {
        let p = PollPolicy::default();
        assert_eq!(p.grown(s(2.0), false), s(3.0));
        assert_eq!(p.grown(s(12.0), false), p.max);
        assert_eq!(p.grown(p.near, true), p.near);
    }
}
