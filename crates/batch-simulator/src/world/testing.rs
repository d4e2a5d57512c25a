//! Helpers for the world's unit tests: fixed timings (so a test can say "after the
//! allocation delay" and mean one number), and short ways to reach common states.

use std::time::Duration;

use time::macros::datetime;

use super::agenda::{Agenda, Timing};
use super::{NewPool, World, WorldConfig};
use crate::model::job::TaskState;
use crate::model::node::{Dealloc, NodeState};
use crate::model::{Jobs, Pools};

/// Every range fixed (lo == hi): no RNG draws, every delay known.
pub(super) const FIXED: Timing = Timing {
    allocate: (20.0, 20.0),
    settle_after_allocate: (30.0, 30.0),
    creating: (60.0, 60.0),
    starting: (100.0, 100.0),
    start_task_overhead: (2.0, 2.0),
    leaving: (20.0, 20.0),
    stopping: 5.0,
    noop_settle: (3.0, 3.0),
    pool_delete: (10.0, 10.0),
    rebooting: (40.0, 40.0),
    reimaging: (50.0, 50.0),
};

pub(super) fn secs(s: f64) -> time::Duration {
    time::Duration::seconds_f64(s)
}

pub(super) fn default_timeout() -> (String, Duration) {
    ("PT15M".into(), Duration::from_secs(900))
}

pub(super) fn world_with(edit: impl FnOnce(&mut WorldConfig)) -> World {
    let mut config = WorldConfig {
        dedicated_core_quota: 100,
        low_priority_core_quota: 100,
        metadata_limit_bytes: crate::config::METADATA_LIMIT_BYTES,
        seed: 1,
        timing: FIXED,
    };
    edit(&mut config);
    World::new(config, datetime!(2026-02-03 0:00 UTC))
}

pub(super) fn world() -> World {
    world_with(|_| {})
}

/// A world with one steady, empty Ubuntu pool (start task `sleep 30`).
pub(super) fn world_with_pool(id: &str) -> World {
    let mut w = world();
    w.create_pool(NewPool::default_ubuntu(id)).unwrap();
    w.advance_to(w.now() + secs(FIXED.noop_settle.0));
    w
}

/// Pool `p` with `nodes` idle nodes and an empty job `j` on it: where the tests of
/// running tasks start.
pub(super) fn world_with_job(nodes: u32) -> World {
    let mut w = world_with_pool("p");
    grow_to_idle(&mut w, "p", nodes);
    w.create_job("j", "p", 0).unwrap();
    w
}

/// From a resize to idle nodes, with the default pool's `sleep 30` start task.
pub(super) const BOOT: f64 =
    FIXED.allocate.0 + FIXED.creating.0 + FIXED.starting.0 + FIXED.start_task_overhead.0 + 30.0;

/// Resize to `n` dedicated nodes and wait until every one is idle.
pub(super) fn grow_to_idle(w: &mut World, pool: &str, n: u32) {
    w.resize(pool, Some(n), None, default_timeout(), Dealloc::Requeue)
        .unwrap();
    w.advance_to(w.now() + secs(BOOT));
    assert_eq!(node_states(w, pool), vec![NodeState::Idle; n as usize]);
}

pub(super) fn node_states(w: &World, pool: &str) -> Vec<NodeState> {
    w.pools[pool].nodes.iter().map(|n| n.state).collect()
}

pub(super) fn task_state(w: &World, job: &str, task: &str) -> TaskState {
    let j = &w.jobs[job];
    j.tasks[j.task_index(task).unwrap()].state
}

/// The parts a handler takes, to call one directly.
pub(super) fn parts(w: &mut World) -> (&mut Agenda, &mut Pools, &mut Jobs) {
    (&mut w.agenda, &mut w.pools, &mut w.jobs)
}
