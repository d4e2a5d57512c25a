//! The world: pools, nodes, jobs, tasks — and the state machine that moves them.
//!
//! Two kinds of change happen to it:
//!
//! * **API calls** (`resize`, `delete_pool`, `add_task`, ...): a route validated a request
//!   and calls a method here, which changes the records at once and schedules what
//!   follows on the [`agenda`];
//! * **events**: the scheduled [`Action`]s. Before a request is answered, and every
//!   ~50 ms from a background ticker, [`World::advance_to`] takes every due action in
//!   time order and hands it to [`World::apply`], at its own timestamp, so
//!   `stateTransitionTime`s are exact no matter when someone looks.
//!
//! Like the commands of mini-redis, each event has one short handler, in the file of the
//! thing it is about, and `apply` is only the table that connects them:
//!
//! | file | API calls | events handled |
//! |---|---|---|
//! | [`agenda`] | — | the queue itself, time, jitter, the log |
//! | [`pools`] | create, patch, delete | `PoolGone` |
//! | `pools/resize.rs` | resize, stop, remove nodes (autoscale resizes through it) | `Allocate`, `AllocDone`, `ResizeTimeout`, `StopDone` |
//! | [`nodes`] | age nodes (pools add and remove them) | `NodeStep`, `StartTaskDone`, `NodeGone` |
//! | [`tasks`] | create job, add task | `TaskDone` |
//! | [`autoscale`] | enable, disable, evaluate autoscale | `Sample`, `AutoScale` |
//! | [`faults`] | arm / clear allocation faults, fail or restart a node | — |
//!
//! Dependencies point one way: `pools -> nodes -> tasks -> agenda`, `faults -> tasks`, and
//! only this file knows them all. Handlers take the parts they need (the agenda, the pool
//! map, the job map) rather than the whole world, so each can be tested alone.
//!
//! To add an event: a variant in [`Action`], a handler beside the thing it changes, one
//! line in [`World::apply`], and a unit test that schedules it and advances past it.
//!
//! Timing (simulated seconds, uniform jitter from the seeded RNG), see [`Timing`]:
//! resize -> VMs allocated (nodes appear `creating`) 15–40 s -> pool `steady` 20–60 s later;
//! `creating` 50–100 s, `starting` 80–140 s, start task 1–3 s + its `sleep N`;
//! `leavingpool` 15–30 s; `stopping` 5 s; a no-op resize settles in 2–5 s.

mod agenda;
pub(crate) mod autoscale;
mod faults;
mod nodes;
mod pools;
mod tasks;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use crate::errors::ErrorReply;
use crate::events::{EventKind, EventLog};
use crate::model::node::{Dealloc, NodeState};
use crate::model::pool::{AllocFault, Pool};
use crate::model::{Jobs, Pools, pool_key};
use crate::wire::NameValue;
use agenda::{Action, Agenda};

pub use agenda::Timing;
pub(crate) use pools::NewPool;

/// Static account settings the world needs.
#[derive(Debug, Clone)]
pub(crate) struct WorldConfig {
    pub dedicated_core_quota: u32,
    pub low_priority_core_quota: u32,
    /// Pool metadata above this many bytes is refused (`MetadataTooLarge`).
    pub metadata_limit_bytes: usize,
    pub seed: u64,
    pub timing: Timing,
}

/// The simulated Batch account.
pub(crate) struct World {
    agenda: Agenda,
    pub pools: Pools,
    pub jobs: Jobs,
    pub config: WorldConfig,
    /// Armed for each pool's next resize, consumed by it; by [`pool_key`].
    alloc_faults: HashMap<String, AllocFault>,
}

impl World {
    pub(crate) fn new(config: WorldConfig, now: OffsetDateTime) -> Self {
        World {
            agenda: Agenda::new(now, config.seed, config.timing.clone()),
            pools: Pools::new(),
            jobs: Jobs::new(),
            config,
            alloc_faults: HashMap::new(),
        }
    }

    /// Simulated time the world has been advanced to.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.agenda.now()
    }

    pub(crate) fn events(&self) -> &EventLog {
        self.agenda.events()
    }

    /// Keep the newest `capacity` events (set before anything happens).
    pub(crate) fn keep_events(&mut self, capacity: usize) {
        self.agenda.keep_events(capacity);
    }

    pub(crate) fn log(&mut self, kind: EventKind) {
        self.agenda.log(kind);
    }

    /// Apply every scheduled action due up to `now`, each at its own time.
    pub(crate) fn advance_to(&mut self, now: OffsetDateTime) {
        while let Some(action) = self.agenda.next_due(now) {
            self.apply(action);
        }
    }

    /// One event, to its handler.
    fn apply(&mut self, action: Action) {
        let World {
            agenda,
            pools,
            jobs,
            config,
            ..
        } = self;
        let quota = (config.dedicated_core_quota, config.low_priority_core_quota);
        match action {
            Action::Allocate { pool, epoch } => pools::allocate(agenda, pools, quota, &pool, epoch),
            Action::AllocDone { pool, epoch } => pools::alloc_done(agenda, pools, &pool, epoch),
            Action::ResizeTimeout { pool, epoch } => {
                pools::resize_timeout(agenda, pools, &pool, epoch)
            }
            Action::StopDone { pool, epoch } => pools::stop_done(agenda, pools, &pool, epoch),
            Action::PoolGone { pool } => pools::gone(agenda, pools, &pool),
            Action::NodeStep { pool, node, epoch } => {
                nodes::step(agenda, pools, jobs, pool, node, epoch)
            }
            Action::StartTaskDone { pool, node, epoch } => {
                nodes::start_task_done(agenda, pools, &pool, &node, epoch)
            }
            Action::NodeGone { pool, node } => nodes::gone(agenda, pools, &pool, &node),
            Action::TaskDone { job, task, epoch } => {
                tasks::done(agenda, pools, jobs, &job, task, epoch)
            }
            Action::Sample { pool } => autoscale::sample(agenda, pools, jobs, &pool),
            Action::AutoScale { pool, epoch } => {
                let faults = &mut self.alloc_faults;
                autoscale::evaluate_due(agenda, pools, jobs, &pool, epoch, || {
                    faults.remove(&pool_key(&pool))
                })
            }
        }
    }

    // ------------------------------------------------------------------ pools

    /// The id of the pool `id` names, as the pool spells it (Batch ids are
    /// case-insensitive); `id` itself when there is no such pool. Every call below
    /// takes it first, so what it schedules and logs names the pool one way.
    fn canonical(&self, id: &str) -> String {
        self.pools
            .get(id)
            .map_or_else(|| id.to_string(), |p| p.id.clone())
    }

    pub(crate) fn create_pool(&mut self, np: NewPool) -> Result<(), ErrorReply> {
        pools::check_metadata(&np.metadata, self.config.metadata_limit_bytes)?;
        let faults = &mut self.alloc_faults;
        let id = np.id.clone();
        let auto = np.auto_scale.is_some();
        pools::create(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            np,
            || faults.remove(&pool_key(&id)),
        )?;
        // Every pool's metrics are sampled from its creation, formula or not
        // (here, not in `pools::create`, which autoscale itself builds on).
        autoscale::start_sampling(&mut self.agenda, &id);
        if auto {
            let faults = &mut self.alloc_faults;
            autoscale::start(
                &mut self.agenda,
                &mut self.pools,
                &mut self.jobs,
                &id,
                || faults.remove(&pool_key(&id)),
            );
        }
        Ok(())
    }

    /// A pool that exists and is not being deleted, for a mutating call.
    pub(crate) fn pool_for_change(&mut self, id: &str) -> Result<&mut Pool, ErrorReply> {
        pools::for_change(&mut self.pools, id)
    }

    /// `POST /pools/{id}/resize` after validation.
    pub(crate) fn resize(
        &mut self,
        id: &str,
        dedicated: Option<u32>,
        low_priority: Option<u32>,
        timeout: (String, Duration),
        dealloc: Dealloc,
    ) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        // A target left out keeps its current value.
        let current = self
            .pools
            .get(id)
            .map(|p| (p.target_dedicated, p.target_low_priority))
            .unwrap_or_default();
        let to = pools::Resize {
            dedicated: dedicated.unwrap_or(current.0),
            low_priority: low_priority.unwrap_or(current.1),
            timeout,
            dealloc,
            touch: true,
        };
        let faults = &mut self.alloc_faults;
        pools::resize(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            id,
            to,
            || faults.remove(&pool_key(id)),
        )
    }

    pub(crate) fn stop_resize(&mut self, id: &str) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        pools::stop_resize(&mut self.agenda, &mut self.pools, id)
    }

    pub(crate) fn remove_nodes(
        &mut self,
        id: &str,
        node_ids: &[String],
        timeout: (String, Duration),
        dealloc: Dealloc,
    ) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        pools::remove_nodes(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            id,
            node_ids,
            timeout,
            dealloc,
        )
    }

    pub(crate) fn enable_autoscale(
        &mut self,
        id: &str,
        formula: Option<String>,
        interval: Option<String>,
    ) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        let faults = &mut self.alloc_faults;
        autoscale::enable(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            id,
            formula,
            interval,
            || faults.remove(&pool_key(id)),
        )
    }

    pub(crate) fn disable_autoscale(&mut self, id: &str) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        autoscale::disable(&self.agenda, &mut self.pools, id)
    }

    /// `POST /pools/{id}/evaluateautoscale`: what `formula` would do now.
    pub(crate) fn evaluate_autoscale(
        &self,
        id: &str,
        formula: &str,
    ) -> Result<crate::model::pool::AutoScaleRun, ErrorReply> {
        autoscale::dry_run(&self.agenda, &self.pools, id, formula)
    }

    pub(crate) fn patch_pool(
        &mut self,
        id: &str,
        metadata: Option<Vec<NameValue>>,
        start_task: Option<Value>,
        display_name: Option<String>,
    ) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        if let Some(metadata) = &metadata {
            pools::check_metadata(metadata, self.config.metadata_limit_bytes)?;
        }
        pools::patch(
            &self.agenda,
            &mut self.pools,
            id,
            metadata,
            start_task,
            display_name,
        )
    }

    pub(crate) fn delete_pool(&mut self, id: &str) -> Result<(), ErrorReply> {
        let id = &self.canonical(id);
        pools::delete(&mut self.agenda, &mut self.pools, &mut self.jobs, id)
    }

    // ------------------------------------------------------------------ faults

    /// Arm an allocation fault for the pool's next resize.
    pub(crate) fn arm_alloc_fault(&mut self, pool: &str, fault: AllocFault) {
        self.alloc_faults.insert(pool_key(pool), fault);
    }

    pub(crate) fn clear_alloc_faults(&mut self) {
        self.alloc_faults.clear();
    }

    /// Move the times of a pool's nodes (or of one) `by` into the past
    /// (`nodes::age`): a node that joined the pool long ago.
    pub(crate) fn age_nodes(
        &mut self,
        pool: &str,
        node: Option<&str>,
        by: time::Duration,
    ) -> Result<Vec<String>, ErrorReply> {
        nodes::age(&mut self.pools, pool, node, by)
    }

    /// Force a node (default: the first idle one) into a failure or a restart
    /// (`faults::fail_node`).
    pub(crate) fn force_node_state(
        &mut self,
        pool: &str,
        node: Option<&str>,
        to: NodeState,
    ) -> Result<String, ErrorReply> {
        let pool = &self.canonical(pool);
        faults::fail_node(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            pool,
            node,
            to,
        )
    }

    // ------------------------------------------------------------------ jobs

    pub(crate) fn create_job(
        &mut self,
        id: &str,
        pool_id: &str,
        priority: i32,
    ) -> Result<(), ErrorReply> {
        let pool_id = &self.canonical(pool_id);
        tasks::create_job(self.agenda.now(), &mut self.jobs, id, pool_id, priority)
    }

    pub(crate) fn add_task(
        &mut self,
        job_id: &str,
        task_id: &str,
        command_line: &str,
        required_slots: u32,
    ) -> Result<(), ErrorReply> {
        tasks::add_task(
            &mut self.agenda,
            &mut self.pools,
            &mut self.jobs,
            job_id,
            task_id,
            command_line,
            required_slots,
        )
    }
}
