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
/// While nodes boot, the looks are timed from the boots the pool has shown
/// (`timed_boot`, [`ready_window`]): a pool without a start task, whose last
/// step to ready is the boot itself, is answered within `near` of its last
/// node's `idle` when its boots are consistent, with fewer looks than one
/// per `max`.
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
    /// While nodes boot, time the looks from the boot times the pool has
    /// shown ([`ready_window`]): few looks before the last node should be
    /// ready, every `near` around it, never more looks than one per `max`
    /// would have made. Off: one look per `max`, as before.
    pub(crate) timed_boot: bool,
    /// The longest sleep before the expected ready window: a pool that
    /// boots faster than it used to is seen within this.
    pub(crate) boot_sleep: Duration,
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
            timed_boot: true,
            boot_sleep: Duration::from_secs(60),
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

/// When the last node still on its way should be ready, by the boots the
/// pool has shown (its rhythm, and the nodes of this pool ready now: what
/// this wait has seen before any history): from its allocation plus the
/// shortest boot to plus the longest. `None` when there is nothing to go
/// by, or a coming node has no allocation time yet.
pub(super) fn ready_window(
    observed: &Observed,
    deadline: Duration,
) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let Observed::Pool(snapshot) = observed else {
        return None;
    };
    let tally = snapshot.nodes.as_ref()?;
    let coming = tally.coming_dedicated + tally.coming_low_priority;
    if coming == 0 || tally.coming_allocated.len() < coming as usize {
        return None;
    }
    let last = *tally.coming_allocated.iter().max()?;
    let history = super::rhythm::read(&snapshot.pool.metadata).boots;
    let seen = tally
        .ready_boots
        .iter()
        .map(|(_, boot)| *boot)
        .filter(|boot| *boot <= deadline);
    let boots: Vec<Duration> = history
        .iter()
        .map(|secs| Duration::from_secs(u64::from(*secs)))
        .chain(seen)
        .collect();
    let shortest = boots.iter().min()?;
    let longest = boots.iter().max()?;
    Some((last + *shortest, last + *longest))
}

/// Looks made while nodes boot, since the first of them: what the timed
/// looks may spend ([`PollPolicy::timed_look`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BootLooks {
    /// When the first was made (time since the call began).
    pub(crate) since: Duration,
    pub(crate) looks: u32,
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

    /// While nodes boot and the pool's boots say when the last one should
    /// be ready (`window`): sleep towards the window (at most `boot_sleep`
    /// at a time), then look every `near` from just before it, as long as
    /// that spends no more looks than one per `max` since the boot phase
    /// began would have (`spent`, at `elapsed` since the call began); else
    /// wait for the next look one per `max` allows. So the answer follows
    /// the last node's `idle` by at most `near` when the window holds, and
    /// no wait makes more looks than before.
    pub(crate) fn timed_look(
        &self,
        window: (time::OffsetDateTime, time::OffsetDateTime),
        now: time::OffsetDateTime,
        spent: BootLooks,
        elapsed: Duration,
    ) -> Duration {
        let (earliest, latest) = window;
        let start = earliest - self.near;
        if now < start {
            let to_window = Duration::try_from(start - now).unwrap_or_default();
            return to_window.min(self.boot_sleep).max(self.near);
        }
        let max = self.max.as_secs_f64().max(f64::EPSILON);
        let boot_phase = elapsed.saturating_sub(spent.since).as_secs_f64();
        let earned = 1 + (boot_phase / max).floor() as u32;
        let past = now > latest + self.max;
        if earned > spent.looks && !past {
            return self.near;
        }
        // The next look one per `max` allows.
        let into = boot_phase % max;
        Duration::from_secs_f64(max - into).max(self.near)
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

    /// The looks of a boot, timed by the window the pool's boots give:
    /// towards it in long sleeps, every `near` inside it while no more
    /// looks than one per `max` would have made, else that cadence.
    #[test]
    fn timed_looks_as_a_table() {
        use time::macros::datetime;
        let p = PollPolicy::default();
        let at = |secs: i64| datetime!(2026-11-24 06:00 UTC) + time::Duration::seconds(secs);
        // The last node should be ready 150-153 s after t = 0.
        let window = (at(150), at(153));
        let spent = |since: f64, looks: u32| BootLooks {
            since: s(since),
            looks,
        };
        let rows: &[(&str, i64, BootLooks, f64, Duration)] = &[
            (
                "far from the window: the longest sleep",
                10,
                spent(10.0, 1),
                10.0,
                p.boot_sleep,
            ),
            (
                "closer: sleep to just before it",
                100,
                spent(10.0, 2),
                100.0,
                s(48.5),
            ),
            (
                "in it, looks to spare: near",
                149,
                spent(10.0, 3),
                149.0,
                p.near,
            ),
            (
                "in it, none to spare: the next one per max",
                149,
                spent(10.0, 10),
                149.0,
                s(11.0),
            ),
            (
                "long past it: one per max",
                200,
                spent(10.0, 5),
                200.0,
                s(5.0),
            ),
        ];
        for (what, now, spent, elapsed, expected) in rows {
            assert_eq!(
                p.timed_look(window, at(*now), *spent, s(*elapsed)),
                *expected,
                "{what}"
            );
        }
    }

    #[test]
    #[rustfmt::skip]
    fn the_ready_window_comes_from_the_pools_boots_and_what_this_wait_saw() {
        use crate::batch::models::{MetadataItem, Node, NodeState::*, Pool};
        use crate::resizer::fixtures::NOW;
        let minute = time::Duration::minutes(1);
        let coming = |allocated| Node::test(Starting).allocated_at(allocated);
        let ready = Node { last_boot_time: Some(NOW - minute), ..Node::test(Idle).allocated_at(NOW - 4 * minute) };
        let history = MetadataItem { name: "pool-resizer-rhythm".into(), value: r#"{"b":[200,210]}"#.into() };
        let deadline = Duration::from_secs(900);
        let window = |observed: Observed| ready_window(&observed, deadline);
        let pool = || Pool::test("p").steady(2);
        assert_eq!(window(pool().nodes([coming(NOW), coming(NOW - minute)]).observed()), None, "nothing to go by");
        let mut with_history = pool().nodes([coming(NOW), coming(NOW - minute)]).pool();
        with_history.metadata.push(history);
        let seen = Observed::Pool(Box::new(super::super::snapshot::Snapshot {
            nodes: Some(super::super::snapshot::NodeTally::from_nodes(&[coming(NOW), coming(NOW - minute)])),
            pool: with_history,
            observed_at: NOW,
        }));
        assert_eq!(window(seen), Some((NOW + time::Duration::seconds(200), NOW + time::Duration::seconds(210))), "the last allocated, plus the pool's boots");
        assert_eq!(window(pool().nodes([ready.clone(), coming(NOW)]).observed()), Some((NOW + 3 * minute, NOW + 3 * minute)), "a node of this pool ready now");
        assert_eq!(window(pool().nodes([ready, Node::test(Starting)]).observed()), None, "a coming node without its allocation time");
    }

    #[test]
    fn intervals_grow_to_the_max_except_near_the_end() {
        let p = PollPolicy::default();
        assert_eq!(p.grown(s(2.0), false), s(3.0));
        assert_eq!(p.grown(s(12.0), false), p.max);
        assert_eq!(p.grown(p.near, true), p.near);
    }
}
