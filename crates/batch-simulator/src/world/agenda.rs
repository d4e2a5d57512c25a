//! The event queue: what will happen, and when.
//!
//! Every future transition (a node finishing boot, a task ending, a pool settling) is an
//! [`Action`] in a min-heap keyed by simulated time. Nothing runs on a timer: the world is
//! advanced *lazily*, and [`Agenda::next_due`] hands the due actions out one at a time, in
//! time order, after moving the agenda's clock to each one's own timestamp. So a handler
//! always stamps `stateTransitionTime`s with the moment the thing happened, not the moment
//! someone looked.
//!
//! The agenda also owns what every handler needs besides the entities themselves:
//!
//! * the seeded RNG that draws each delay from its [`Timing`] range ([`Agenda::jitter`]),
//!   so one seed gives one history;
//! * the event log, with helpers that change a state *and* log it in one call
//!   ([`Agenda::set_node_state`], [`Agenda::set_task_state`], [`Agenda::pool_event`]), so
//!   no transition can forget its log line.
//!
//! Keeping it apart from the pool and job maps lets a handler borrow the agenda, a pool
//! and a job mutably at the same time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use crate::events::{EventKind, EventLog};
use crate::model::job::{Task, TaskState};
use crate::model::node::{Node, NodeState};
use crate::model::pool::Pool;

/// Ranges (simulated seconds) the state machine draws its delays from.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Resize asked to nodes allocated (the pool stays `resizing`).
    pub allocate: (f64, f64),
    /// Nodes allocated to the pool back at `steady`.
    pub settle_after_allocate: (f64, f64),
    /// A node in `creating`.
    pub creating: (f64, f64),
    /// A node in `starting`, before its start task.
    pub starting: (f64, f64),
    /// What a start task takes on top of its own duration.
    pub start_task_overhead: (f64, f64),
    /// A node in `leavingpool` before it is gone.
    pub leaving: (f64, f64),
    /// Resize stop to `steady`.
    pub stopping: f64,
    /// A resize that changes nothing, to `steady`.
    pub noop_settle: (f64, f64),
    /// Pool delete to gone.
    pub pool_delete: (f64, f64),
    /// A restart: `rebooting`, then `starting` as a new node boots.
    pub rebooting: (f64, f64),
    /// A reimage: `reimaging`, then `starting`.
    pub reimaging: (f64, f64),
}

/// Realistic by default: each range is centred on what the SDKs' recordings show (see
/// docs/simulator.md, *Timings*), so a client tuned here is tuned for Azure. Tests and
/// `dev` run the clock faster (`--time-scale`), not the durations shorter.
impl Default for Timing {
    fn default() -> Self {
        Self {
            // Java PoolTests: nodes allocated 31.1 s after the resize; JS: none yet at 20 s.
            allocate: (20.0, 45.0),
            // Java PoolTests: steady 0.6 s after the VMs were allocated.
            settle_after_allocate: (0.3, 2.0),
            // JS compute nodes: starting after 0.75 s (two) and > 3.6 s (two); Java: 10.5 s.
            creating: (1.0, 30.0),
            // Windows recordings boot in 110-360 s; the default pool is Ubuntu (faster).
            starting: (100.0, 240.0),
            // JS compute nodes: start task began 6.3-12.6 s after lastBootTime.
            start_task_overhead: (6.0, 13.0),
            // Java PoolTests: removenodes -> steady in 40 s.
            leaving: (25.0, 45.0),
            // Java PoolTests: stopping 5.0 s.
            stopping: 5.0,
            // JS: a pool created with no nodes is steady 1.4 s later.
            noop_settle: (1.0, 3.0),
            // Java PoolTests: deleting for 108 s (node still counted), then 404.
            pool_delete: (60.0, 150.0),
            // Java PoolTests: rebooting for 125 s, then starting.
            rebooting: (90.0, 180.0),
            // Java PoolTests: reimaging for 185 s, then starting.
            reimaging: (150.0, 240.0),
        }
    }
}

/// Something that will happen at a simulated time; each has one handler (`World::apply`).
///
/// Most carry the epoch of what scheduled them. Anything that makes a scheduled step
/// meaningless (a new resize, a stop, a node being removed) bumps the epoch of its pool,
/// node or task, and the handler drops the stale action when it comes due: cheaper and
/// simpler than searching the heap to cancel it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// The resize's VMs are allocated: node records appear.
    Allocate { pool: String, epoch: u64 },
    /// Allocation is over; the pool may go steady.
    AllocDone { pool: String, epoch: u64 },
    /// The resize timeout passed with allocation still running.
    ResizeTimeout { pool: String, epoch: u64 },
    /// A stop-resize finished stopping.
    StopDone { pool: String, epoch: u64 },
    /// A booting node moves one step (`creating` -> `starting` -> ...).
    NodeStep {
        pool: String,
        node: String,
        epoch: u64,
    },
    /// A start task without waitForSuccess ended (the node was idle meanwhile).
    StartTaskDone {
        pool: String,
        node: String,
        epoch: u64,
    },
    /// A leaving node is gone.
    NodeGone { pool: String, node: String },
    /// A deleted pool is gone.
    PoolGone { pool: String },
    /// A running task ended.
    TaskDone {
        job: String,
        task: usize,
        epoch: u64,
    },
    /// Time to record the pool's metrics (every 30 s, for autoscale formulas).
    Sample { pool: String },
    /// Time to evaluate the pool's autoscale formula (every evaluation interval).
    AutoScale { pool: String, epoch: u64 },
}

#[derive(Debug)]
struct Scheduled {
    at: OffsetDateTime,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first, and among
    // actions due at the same moment the one scheduled first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// Time, the queue of due actions, the RNG and the log.
pub(crate) struct Agenda {
    now: OffsetDateTime,
    rng: StdRng,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    events: EventLog,
    pub timing: Timing,
    seed: u64,
}

impl Agenda {
    pub(crate) fn new(now: OffsetDateTime, seed: u64, timing: Timing) -> Self {
        Agenda {
            now,
            rng: StdRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            events: EventLog::default(),
            timing,
            seed,
        }
    }

    /// Keep the newest `capacity` events from now on (an empty log: at start).
    pub(crate) fn keep_events(&mut self, capacity: usize) {
        self.events = EventLog::with_capacity(capacity);
    }

    /// Simulated time the world has been advanced to.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// The seed, also used to name nodes, so one seed gives the same node ids.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn events(&self) -> &EventLog {
        &self.events
    }

    /// Append to the log at the agenda's now.
    pub(crate) fn log(&mut self, kind: EventKind) {
        self.events.push(self.now, kind);
    }

    /// A delay drawn uniformly from `(lo, hi)`; a fixed range draws nothing, so tests
    /// with fixed timings do not depend on the RNG.
    pub(crate) fn jitter(&mut self, (lo, hi): (f64, f64)) -> time::Duration {
        let s = if hi > lo {
            self.rng.random_range(lo..hi)
        } else {
            lo
        };
        time::Duration::seconds_f64(s)
    }

    /// Schedule `action` at now + `after`.
    pub(crate) fn schedule(&mut self, after: time::Duration, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: self.now + after,
            seq: self.seq,
            action,
        });
    }

    /// The next action due at or before `until`, with now moved to its time; `None`
    /// when nothing more is due (now is then moved to `until`).
    pub(crate) fn next_due(&mut self, until: OffsetDateTime) -> Option<Action> {
        match self.queue.peek() {
            Some(top) if top.at <= until => {
                let item = self.queue.pop()?;
                if item.at > self.now {
                    self.now = item.at;
                }
                Some(item.action)
            }
            _ => {
                if until > self.now {
                    self.now = until;
                }
                None
            }
        }
    }

    /// Log a pool's targets, counts and states as they are now.
    pub(crate) fn pool_event(&mut self, p: &Pool) {
        self.log(EventKind::PoolTarget {
            pool_id: p.id.clone(),
            target_dedicated_nodes: p.target_dedicated,
            target_low_priority_nodes: p.target_low_priority,
            current_dedicated_nodes: p.current(true),
            current_low_priority_nodes: p.current(false),
            allocation_state: p.allocation_state.as_str().to_string(),
            state: if p.deleting { "deleting" } else { "active" }.to_string(),
        });
    }

    /// Move a node to `to` (a no-op, and no log line, when it is there already).
    pub(crate) fn set_node_state(&mut self, pool: &str, n: &mut Node, to: NodeState) {
        if n.state == to {
            return;
        }
        self.log(EventKind::Node {
            pool_id: pool.to_string(),
            node_id: n.id.clone(),
            from: Some(n.state.as_str().to_string()),
            to: to.as_str().to_string(),
        });
        n.state = to;
        n.state_transition_time = self.now;
    }

    /// Move a task to `to`, remembering where it came from (`previousState`).
    pub(crate) fn set_task_state(&mut self, job: &str, t: &mut Task, to: TaskState, reason: &str) {
        self.log(EventKind::Task {
            job_id: job.to_string(),
            task_id: t.id.clone(),
            node_id: t.node.as_ref().map(|(_, n)| n.clone()),
            from: t.state.as_str().to_string(),
            to: to.as_str().to_string(),
            reason: reason.to_string(),
        });
        t.previous = Some((t.state, t.state_transition_time));
        t.state = to;
        t.state_transition_time = self.now;
        t.last_modified = self.now;
    }

    /// Schedule a node's next boot step (`nodes::step`) after a delay drawn from `range`.
    /// The step carries the node's `epoch`: a removal or failure in between bumps the
    /// node's, and the step is then ignored.
    pub(crate) fn next_boot_step(&mut self, range: (f64, f64), pool: &str, node: &str, epoch: u64) {
        let after = self.jitter(range);
        self.schedule(
            after,
            Action::NodeStep {
                pool: pool.to_string(),
                node: node.to_string(),
                epoch,
            },
        );
    }

    /// A node starts leaving the pool: `leavingpool` now, gone after `Timing::leaving`.
    pub(crate) fn node_leaves(&mut self, pool: &str, n: &mut Node) {
        self.set_node_state(pool, n, NodeState::LeavingPool);
        let after = self.jitter(self.timing.leaving);
        self.schedule(
            after,
            Action::NodeGone {
                pool: pool.to_string(),
                node: n.id.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn agenda() -> Agenda {
        Agenda::new(datetime!(2026-01-01 0:00 UTC), 1, Timing::default())
    }

    fn gone(pool: &str) -> Action {
        Action::PoolGone { pool: pool.into() }
    }

    #[test]
    fn hands_out_due_actions_earliest_first_then_in_scheduling_order() {
        let mut a = agenda();
        let t0 = a.now();
        a.schedule(time::Duration::seconds(20), gone("late"));
        a.schedule(time::Duration::seconds(10), gone("first"));
        a.schedule(time::Duration::seconds(10), gone("second"));
        let until = t0 + time::Duration::seconds(15);
        assert_eq!(a.next_due(until), Some(gone("first")));
        assert_eq!(
            a.now(),
            t0 + time::Duration::seconds(10),
            "now is the action's own time"
        );
        assert_eq!(a.next_due(until), Some(gone("second")));
        assert_eq!(a.next_due(until), None, "the 20-s action is not due yet");
        assert_eq!(a.now(), until);
        assert_eq!(
            a.next_due(t0 + time::Duration::seconds(30)),
            Some(gone("late"))
        );
    }

    #[test]
    fn never_moves_time_backwards() {
        let mut a = agenda();
        let t0 = a.now();
        assert_eq!(a.next_due(t0 - time::Duration::seconds(5)), None);
        assert_eq!(a.now(), t0);
    }

    #[test]
    fn fixed_ranges_draw_nothing_and_one_seed_draws_the_same_delays() {
        let mut a = agenda();
        assert_eq!(a.jitter((3.0, 3.0)), time::Duration::seconds(3));
        let mut b = agenda();
        let draws = |x: &mut Agenda| (0..5).map(|_| x.jitter((1.0, 9.0))).collect::<Vec<_>>();
        let (da, db) = (draws(&mut a), draws(&mut b));
        assert_eq!(da, db);
        assert!(
            da.iter()
                .all(|d| *d >= time::Duration::seconds(1) && *d < time::Duration::seconds(9))
        );
    }
}
