//! The world: pools, nodes, jobs, tasks — and the state machine that moves them.
//!
//! The world is advanced *lazily* in simulated time. Every future transition (a node
//! finishing boot, a task ending, a pool settling) is an [`Action`] in a min-heap keyed
//! by simulated time. Before a request is answered, and every ~50 ms from a background
//! ticker, [`World::advance_to`] pops every due action in time order and applies it *at
//! its own timestamp*, so `stateTransitionTime`s are exact no matter when someone looks.
//!
//! Scheduled actions carry a generation number. Anything that invalidates them (a new
//! resize, a stop, a node being removed) bumps the generation, and stale actions are
//! dropped when they come due — no need to search the heap.
//!
//! Timing (simulated seconds, uniform jitter from the seeded RNG), see [`Timing`]:
//! resize -> VMs allocated (nodes appear `creating`) 15–40 s -> pool `steady` 20–60 s later;
//! `creating` 50–100 s, `starting` 80–140 s, start task 1–3 s + its `sleep N`;
//! `leavingpool` 15–30 s; `stopping` 5 s; a no-op resize settles in 2–5 s.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

use axum::http::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::command;
use super::errors::ApiError;
use super::events::{EventKind, EventLog};
use super::job::{Job, Task, TaskState};
use super::node::{Dealloc, Node, NodeState, StartTaskRun};
use super::pool::{AllocFault, AllocationState, Pool, ResizeOp, cores_for};
use super::wire::{NameValue, ResizeErrorWire};

/// Ranges (simulated seconds) the state machine draws its delays from.
#[derive(Debug, Clone)]
pub struct Timing {
    pub allocate: (f64, f64),
    pub settle_after_allocate: (f64, f64),
    pub creating: (f64, f64),
    pub starting: (f64, f64),
    pub start_task_overhead: (f64, f64),
    pub leaving: (f64, f64),
    pub stopping: f64,
    pub noop_settle: (f64, f64),
    pub pool_delete: (f64, f64),
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            allocate: (15.0, 40.0),
            settle_after_allocate: (20.0, 60.0),
            creating: (50.0, 100.0),
            starting: (80.0, 140.0),
            start_task_overhead: (1.0, 3.0),
            leaving: (15.0, 30.0),
            stopping: 5.0,
            noop_settle: (2.0, 5.0),
            pool_delete: (5.0, 15.0),
        }
    }
}

/// Something that will happen at a simulated time.
#[derive(Debug, Clone)]
enum Action {
    Allocate {
        pool: String,
        epoch: u64,
    },
    AllocDone {
        pool: String,
        epoch: u64,
    },
    ResizeTimeout {
        pool: String,
        epoch: u64,
    },
    StopDone {
        pool: String,
        epoch: u64,
    },
    NodeStep {
        pool: String,
        node: String,
        epoch: u64,
    },
    StartTaskDone {
        pool: String,
        node: String,
        epoch: u64,
    },
    NodeGone {
        pool: String,
        node: String,
    },
    PoolGone {
        pool: String,
    },
    TaskDone {
        job: String,
        task: usize,
        epoch: u64,
    },
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
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// Everything but the entities: time, RNG, agenda, log. Kept apart so the entity maps can
/// be borrowed mutably at the same time.
struct Ctx {
    now: OffsetDateTime,
    rng: StdRng,
    agenda: BinaryHeap<Scheduled>,
    seq: u64,
    events: EventLog,
    timing: Timing,
    seed: u64,
}

impl Ctx {
    fn jitter(&mut self, (lo, hi): (f64, f64)) -> time::Duration {
        let s = if hi > lo {
            self.rng.random_range(lo..hi)
        } else {
            lo
        };
        time::Duration::seconds_f64(s)
    }

    fn schedule(&mut self, after: time::Duration, action: Action) {
        self.seq += 1;
        self.agenda.push(Scheduled {
            at: self.now + after,
            seq: self.seq,
            action,
        });
    }

    fn pool_event(&mut self, p: &Pool) {
        self.events.push(
            self.now,
            EventKind::PoolTarget {
                pool_id: p.id.clone(),
                target_dedicated_nodes: p.target_dedicated,
                target_low_priority_nodes: p.target_low_priority,
                current_dedicated_nodes: p.current(true),
                current_low_priority_nodes: p.current(false),
                allocation_state: p.allocation_state.as_str().to_string(),
                state: if p.deleting { "deleting" } else { "active" }.to_string(),
            },
        );
    }

    fn set_node_state(&mut self, pool: &str, n: &mut Node, to: NodeState) {
        if n.state == to {
            return;
        }
        self.events.push(
            self.now,
            EventKind::Node {
                pool_id: pool.to_string(),
                node_id: n.id.clone(),
                from: Some(n.state.as_str().to_string()),
                to: to.as_str().to_string(),
            },
        );
        n.state = to;
        n.state_transition_time = self.now;
    }

    fn set_task_state(&mut self, job: &str, t: &mut Task, to: TaskState, reason: &str) {
        self.events.push(
            self.now,
            EventKind::Task {
                job_id: job.to_string(),
                task_id: t.id.clone(),
                node_id: t.node.as_ref().map(|(_, n)| n.clone()),
                from: t.state.as_str().to_string(),
                to: to.as_str().to_string(),
                reason: reason.to_string(),
            },
        );
        t.previous = Some((t.state, t.state_transition_time));
        t.state = to;
        t.state_transition_time = self.now;
        t.last_modified = self.now;
    }
}

/// Static account settings the world needs.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub dedicated_core_quota: u32,
    pub low_priority_core_quota: u32,
    pub seed: u64,
    pub timing: Timing,
}

/// The simulated Batch account.
pub struct World {
    ctx: Ctx,
    pub pools: BTreeMap<String, Pool>,
    pub jobs: BTreeMap<String, Job>,
    pub config: WorldConfig,
    alloc_faults: HashMap<String, AllocFault>,
}

/// Parameters of a pool creation, already validated.
#[derive(Debug, Clone)]
pub struct NewPool {
    pub id: String,
    pub display_name: Option<String>,
    pub vm_size: String,
    pub vm_config: Option<Value>,
    pub start_task: Option<Value>,
    pub metadata: Vec<NameValue>,
    pub task_slots_per_node: u32,
    pub enable_inter_node_communication: bool,
    pub target_dedicated: u32,
    pub target_low_priority: u32,
    pub resize_timeout: (String, Duration),
    pub auto_scale: Option<(String, String)>,
}

impl NewPool {
    /// The pool `--pool ID` creates: Ubuntu, standard_a1_v2, 0 nodes, `sleep 30` start task.
    pub fn default_ubuntu(id: &str) -> Self {
        NewPool {
            id: id.to_string(),
            display_name: None,
            vm_size: "standard_a1_v2".into(),
            vm_config: Some(default_vm_config()),
            start_task: Some(normalize_start_task(json!({
                "commandLine": "/bin/bash -c \"sleep 30\"",
                "waitForSuccess": true
            }))),
            metadata: Vec::new(),
            task_slots_per_node: 1,
            enable_inter_node_communication: false,
            target_dedicated: 0,
            target_low_priority: 0,
            resize_timeout: ("PT15M".into(), Duration::from_secs(900)),
            auto_scale: None,
        }
    }
}

/// Ubuntu 22.04 image as the service echoes it.
pub fn default_vm_config() -> Value {
    json!({
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest"
        },
        "nodeAgentSKUId": "batch.node.ubuntu 22.04"
    })
}

/// Fill the defaults the service adds to a start task (`userIdentity`, `maxTaskRetryCount`,
/// `waitForSuccess`).
pub fn normalize_start_task(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.entry("userIdentity").or_insert_with(
            || json!({"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}),
        );
        m.entry("maxTaskRetryCount").or_insert(json!(0));
        m.entry("waitForSuccess").or_insert(json!(true));
    }
    v
}

fn resize_error(code: &str, message: &str) -> ResizeErrorWire {
    ResizeErrorWire {
        code: code.to_string(),
        message: message.to_string(),
        values: Vec::new(),
    }
}

impl World {
    pub fn new(config: WorldConfig, now: OffsetDateTime) -> Self {
        World {
            ctx: Ctx {
                now,
                rng: StdRng::seed_from_u64(config.seed),
                agenda: BinaryHeap::new(),
                seq: 0,
                events: EventLog::default(),
                timing: config.timing.clone(),
                seed: config.seed,
            },
            pools: BTreeMap::new(),
            jobs: BTreeMap::new(),
            config,
            alloc_faults: HashMap::new(),
        }
    }

    /// Simulated time the world has been advanced to.
    pub fn now(&self) -> OffsetDateTime {
        self.ctx.now
    }

    pub fn events(&self) -> &EventLog {
        &self.ctx.events
    }

    pub fn log(&mut self, kind: EventKind) {
        let now = self.ctx.now;
        self.ctx.events.push(now, kind);
    }

    /// Apply every scheduled action due up to `now`, each at its own time.
    pub fn advance_to(&mut self, now: OffsetDateTime) {
        while let Some(top) = self.ctx.agenda.peek() {
            if top.at > now {
                break;
            }
            let Some(item) = self.ctx.agenda.pop() else {
                break;
            };
            if item.at > self.ctx.now {
                self.ctx.now = item.at;
            }
            self.apply(item.action);
        }
        if now > self.ctx.now {
            self.ctx.now = now;
        }
    }

    // ------------------------------------------------------------------ pools

    pub fn create_pool(&mut self, np: NewPool) -> Result<(), ApiError> {
        if self.pools.contains_key(&np.id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "PoolExists",
                "The specified pool already exists.",
            ));
        }
        let now = self.ctx.now;
        let cores = cores_for(&np.vm_size);
        let mut pool = Pool {
            id: np.id.clone(),
            display_name: np.display_name,
            vm_size: np.vm_size,
            cores_per_node: cores,
            vm_config: np.vm_config,
            start_task: np.start_task,
            metadata: np.metadata,
            task_slots_per_node: np.task_slots_per_node.max(1),
            enable_inter_node_communication: np.enable_inter_node_communication,
            creation_time: now,
            deleting: false,
            state_transition_time: now,
            allocation_state: AllocationState::Steady,
            allocation_state_transition_time: now,
            last_modified: now,
            target_dedicated: 0,
            target_low_priority: 0,
            resize_timeout: np.resize_timeout.0.clone(),
            resize_timeout_dur: np.resize_timeout.1,
            dealloc: Dealloc::Requeue,
            enable_auto_scale: false,
            auto_scale_formula: None,
            auto_scale_interval: None,
            auto_scale_run: None,
            resize_errors: Vec::new(),
            op: ResizeOp {
                alloc_done: true,
                errors: Vec::new(),
                fault: None,
            },
            epoch: 0,
            nodes: Vec::new(),
            node_counter: 0,
        };
        if let Some((formula, interval)) = np.auto_scale {
            pool.enable_auto_scale = true;
            pool.auto_scale_formula = Some(formula);
            pool.auto_scale_interval = Some(interval);
            pool.auto_scale_run = Some(now);
        }
        self.pools.insert(np.id.clone(), pool);
        // A new pool starts with an initial sizing (to its targets; to 0 it still shows
        // `resizing` briefly, as recorded).
        self.start_resize(
            &np.id,
            np.target_dedicated,
            np.target_low_priority,
            np.resize_timeout,
            Dealloc::Requeue,
            false,
        );
        Ok(())
    }

    /// A pool that exists and is not being deleted, for a mutating call.
    pub fn pool_for_change(&mut self, id: &str) -> Result<&mut Pool, ApiError> {
        let p = self
            .pools
            .get_mut(id)
            .ok_or_else(ApiError::pool_not_found)?;
        if p.deleting {
            return Err(ApiError::pool_being_deleted());
        }
        Ok(p)
    }

    /// `POST /pools/{id}/resize` after validation.
    pub fn resize(
        &mut self,
        id: &str,
        dedicated: Option<u32>,
        low_priority: Option<u32>,
        timeout: (String, Duration),
        dealloc: Dealloc,
    ) -> Result<(), ApiError> {
        let p = self.pool_for_change(id)?;
        if p.enable_auto_scale {
            return Err(ApiError::autoscale_enabled());
        }
        if p.allocation_state != AllocationState::Steady {
            return Err(ApiError::pool_being_resized());
        }
        let d = dedicated.unwrap_or(p.target_dedicated);
        let l = low_priority.unwrap_or(p.target_low_priority);
        self.start_resize(id, d, l, timeout, dealloc, true);
        Ok(())
    }

    fn start_resize(
        &mut self,
        id: &str,
        d: u32,
        l: u32,
        timeout: (String, Duration),
        dealloc: Dealloc,
        touch: bool,
    ) {
        let fault = self.alloc_faults.remove(id);
        let World {
            ctx, pools, jobs, ..
        } = self;
        let Some(p) = pools.get_mut(id) else { return };
        let now = ctx.now;
        p.epoch += 1;
        p.target_dedicated = d;
        p.target_low_priority = l;
        p.resize_timeout = timeout.0;
        p.resize_timeout_dur = timeout.1;
        p.dealloc = dealloc;
        p.resize_errors.clear();
        p.allocation_state = AllocationState::Resizing;
        p.allocation_state_transition_time = now;
        if touch {
            p.last_modified = now;
        }
        p.op = ResizeOp {
            alloc_done: false,
            errors: Vec::new(),
            fault,
        };
        // Shrink: pick the nodes that go.
        for dedicated in [true, false] {
            let target = if dedicated { d } else { l };
            let live = p.live(dedicated);
            if target < live {
                let mut candidates: Vec<(u8, usize)> = p
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.is_dedicated == dedicated && !n.is_leaving())
                    .map(|(i, n)| (n.state.removal_rank(), i))
                    .collect();
                // Lowest rank first; among equals the newest node goes first.
                candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                let pick: Vec<String> = candidates
                    .iter()
                    .take((live - target) as usize)
                    .map(|(_, i)| p.nodes[*i].id.clone())
                    .collect();
                for nid in pick {
                    remove_node(ctx, jobs, p, &nid, dealloc);
                }
            }
        }
        let need_alloc = d > p.live(true) || l > p.live(false);
        let epoch = p.epoch;
        if need_alloc {
            if p.op.fault != Some(AllocFault::Stall) {
                let after = ctx.jitter(ctx.timing.allocate);
                ctx.schedule(
                    after,
                    Action::Allocate {
                        pool: id.to_string(),
                        epoch,
                    },
                );
            }
            ctx.schedule(
                time::Duration::seconds_f64(p.resize_timeout_dur.as_secs_f64()),
                Action::ResizeTimeout {
                    pool: id.to_string(),
                    epoch,
                },
            );
        } else {
            let after = ctx.jitter(ctx.timing.noop_settle);
            ctx.schedule(
                after,
                Action::AllocDone {
                    pool: id.to_string(),
                    epoch,
                },
            );
        }
        ctx.pool_event(p);
    }

    pub fn stop_resize(&mut self, id: &str) -> Result<(), ApiError> {
        let World { ctx, pools, .. } = self;
        let p = pools.get_mut(id).ok_or_else(ApiError::pool_not_found)?;
        if p.deleting {
            return Err(ApiError::pool_being_deleted());
        }
        let now = ctx.now;
        p.last_modified = now;
        if p.allocation_state == AllocationState::Resizing {
            p.epoch += 1;
            p.allocation_state = AllocationState::Stopping;
            p.allocation_state_transition_time = now;
            let epoch = p.epoch;
            ctx.schedule(
                time::Duration::seconds_f64(ctx.timing.stopping),
                Action::StopDone {
                    pool: id.to_string(),
                    epoch,
                },
            );
            ctx.pool_event(p);
        }
        Ok(())
    }

    pub fn remove_nodes(
        &mut self,
        id: &str,
        node_ids: &[String],
        timeout: (String, Duration),
        dealloc: Dealloc,
    ) -> Result<(), ApiError> {
        let World {
            ctx, pools, jobs, ..
        } = self;
        let p = pools.get_mut(id).ok_or_else(ApiError::pool_not_found)?;
        if p.deleting {
            return Err(ApiError::pool_being_deleted());
        }
        if p.enable_auto_scale {
            return Err(ApiError::autoscale_enabled());
        }
        if p.allocation_state != AllocationState::Steady {
            return Err(ApiError::pool_being_resized());
        }
        for nid in node_ids {
            match p.nodes.iter().find(|n| &n.id == nid) {
                None => return Err(ApiError::node_not_found().with_value("NodeId", nid.clone())),
                Some(n) if n.is_leaving() => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "OperationNotValidOnNode",
                        "The specified operation is not valid on a node that is leaving the pool.",
                    )
                    .with_value("NodeId", nid.clone()));
                }
                Some(_) => {}
            }
        }
        let now = ctx.now;
        p.epoch += 1;
        p.last_modified = now;
        p.allocation_state = AllocationState::Resizing;
        p.allocation_state_transition_time = now;
        p.resize_errors.clear();
        p.resize_timeout = timeout.0;
        p.resize_timeout_dur = timeout.1;
        p.op = ResizeOp {
            alloc_done: true,
            errors: Vec::new(),
            fault: None,
        };
        let mut seen = std::collections::HashSet::new();
        for nid in node_ids {
            if !seen.insert(nid.clone()) {
                continue;
            }
            remove_node(ctx, jobs, p, nid, dealloc);
        }
        // The targets become what stays (recorded: 2 nodes, remove 1 -> target 1 at once).
        p.target_dedicated = p.live(true);
        p.target_low_priority = p.live(false);
        ctx.pool_event(p);
        maybe_steady(ctx, p);
        Ok(())
    }

    pub fn enable_autoscale(
        &mut self,
        id: &str,
        formula: Option<String>,
        interval: Option<String>,
    ) -> Result<(), ApiError> {
        let now = self.ctx.now;
        let p = self.pool_for_change(id)?;
        if p.allocation_state != AllocationState::Steady {
            return Err(ApiError::pool_being_resized());
        }
        if formula.is_none() && !p.enable_auto_scale {
            return Err(ApiError::missing_property("autoScaleFormula"));
        }
        p.enable_auto_scale = true;
        if let Some(f) = formula {
            p.auto_scale_formula = Some(f);
        }
        if let Some(i) = interval {
            p.auto_scale_interval = Some(i);
        } else if p.auto_scale_interval.is_none() {
            p.auto_scale_interval = Some("PT15M".into());
        }
        p.auto_scale_run = Some(now);
        p.last_modified = now;
        Ok(())
    }

    pub fn disable_autoscale(&mut self, id: &str) -> Result<(), ApiError> {
        let now = self.ctx.now;
        let p = self.pool_for_change(id)?;
        p.enable_auto_scale = false;
        p.auto_scale_formula = None;
        p.auto_scale_interval = None;
        p.auto_scale_run = None;
        p.last_modified = now;
        Ok(())
    }

    pub fn patch_pool(
        &mut self,
        id: &str,
        metadata: Option<Vec<NameValue>>,
        start_task: Option<Value>,
        display_name: Option<String>,
    ) -> Result<(), ApiError> {
        let now = self.ctx.now;
        let p = self.pool_for_change(id)?;
        if let Some(m) = metadata {
            p.metadata = m;
        }
        if let Some(st) = start_task {
            p.start_task = Some(normalize_start_task(st));
        }
        if let Some(d) = display_name {
            p.display_name = Some(d);
        }
        p.last_modified = now;
        Ok(())
    }

    pub fn delete_pool(&mut self, id: &str) -> Result<(), ApiError> {
        let World {
            ctx, pools, jobs, ..
        } = self;
        let p = pools.get_mut(id).ok_or_else(ApiError::pool_not_found)?;
        if p.deleting {
            return Err(ApiError::pool_being_deleted());
        }
        let now = ctx.now;
        p.deleting = true;
        p.state_transition_time = now;
        p.last_modified = now;
        p.epoch += 1;
        p.target_dedicated = 0;
        p.target_low_priority = 0;
        p.allocation_state = AllocationState::Resizing;
        p.allocation_state_transition_time = now;
        let ids: Vec<String> = p
            .nodes
            .iter()
            .filter(|n| n.state != NodeState::LeavingPool)
            .map(|n| n.id.clone())
            .collect();
        for nid in ids {
            remove_node(ctx, jobs, p, &nid, Dealloc::Requeue);
        }
        ctx.pool_event(p);
        if p.nodes.is_empty() {
            let after = ctx.jitter(ctx.timing.pool_delete);
            ctx.schedule(
                after,
                Action::PoolGone {
                    pool: id.to_string(),
                },
            );
        }
        Ok(())
    }

    /// Arm an allocation fault for the pool's next resize.
    pub fn arm_alloc_fault(&mut self, pool: &str, fault: AllocFault) {
        self.alloc_faults.insert(pool.to_string(), fault);
    }

    pub fn clear_alloc_faults(&mut self) {
        self.alloc_faults.clear();
    }

    /// Force a node (default: the first idle one) into `unusable` or `starttaskfailed`.
    pub fn force_node_state(
        &mut self,
        pool: &str,
        node: Option<&str>,
        to: NodeState,
    ) -> Result<String, ApiError> {
        let World {
            ctx, pools, jobs, ..
        } = self;
        let p = pools.get_mut(pool).ok_or_else(ApiError::pool_not_found)?;
        let pool_id = p.id.clone();
        let n = match node {
            Some(id) => p.node_mut(id).ok_or_else(ApiError::node_not_found)?,
            None => p
                .nodes
                .iter_mut()
                .find(|n| n.state == NodeState::Idle && !n.is_leaving())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "NoIdleNode",
                        "The pool has no idle node.",
                    )
                })?,
        };
        n.epoch += 1;
        let now = ctx.now;
        // Tasks on a failing node go back to the queue.
        for (job_id, task_id) in std::mem::take(&mut n.running) {
            if let Some(job) = jobs.get_mut(&job_id)
                && let Some(ti) = job.task_index(&task_id)
            {
                let t = &mut job.tasks[ti];
                t.epoch += 1;
                t.requeue_count += 1;
                ctx.set_task_state(&job_id, t, TaskState::Active, "nodeFailed");
                t.node = None;
                t.start_time = None;
                job.queue.push_front(ti);
            }
        }
        match to {
            NodeState::StartTaskFailed => {
                n.start_task_run = Some(StartTaskRun {
                    start_time: now,
                    end_time: Some(now),
                    exit_code: Some(1),
                });
            }
            NodeState::Unusable => n.errors.push(super::wire::NodeErrorWire {
                code: "NodeUnusable",
                message: "The node is unusable (fault injected by the simulator).".into(),
                error_details: Vec::new(),
            }),
            _ => {}
        }
        ctx.set_node_state(&pool_id, n, to);
        let nid = n.id.clone();
        schedule_tasks(ctx, pools, jobs);
        Ok(nid)
    }

    // ------------------------------------------------------------------ jobs

    pub fn create_job(&mut self, id: &str, pool_id: &str, priority: i32) -> Result<(), ApiError> {
        if self.jobs.contains_key(id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobExists",
                "The specified job already exists.",
            ));
        }
        let now = self.ctx.now;
        self.jobs.insert(
            id.to_string(),
            Job {
                id: id.to_string(),
                pool_id: pool_id.to_string(),
                priority,
                creation_time: now,
                last_modified: now,
                tasks: Vec::new(),
                queue: Default::default(),
                index: Default::default(),
            },
        );
        Ok(())
    }

    pub fn add_task(
        &mut self,
        job_id: &str,
        task_id: &str,
        command_line: &str,
        required_slots: u32,
    ) -> Result<(), ApiError> {
        let now = self.ctx.now;
        let job = self
            .jobs
            .get_mut(job_id)
            .ok_or_else(ApiError::job_not_found)?;
        if job.index.contains_key(task_id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "TaskExists",
                "The specified task already exists.",
            ));
        }
        let idx = job.tasks.len();
        job.tasks.push(Task {
            id: task_id.to_string(),
            command_line: command_line.to_string(),
            required_slots: required_slots.max(1),
            creation_time: now,
            last_modified: now,
            state: TaskState::Active,
            state_transition_time: now,
            previous: None,
            node: None,
            start_time: None,
            end_time: None,
            exit_code: None,
            failure: None,
            requeue_count: 0,
            epoch: 0,
        });
        job.index.insert(task_id.to_string(), idx);
        job.queue.push_back(idx);
        let World {
            ctx, pools, jobs, ..
        } = self;
        schedule_tasks(ctx, pools, jobs);
        Ok(())
    }

    // ------------------------------------------------------------------ engine

    fn apply(&mut self, action: Action) {
        let World {
            ctx,
            pools,
            jobs,
            config,
            ..
        } = self;
        match action {
            Action::Allocate { pool, epoch } => {
                let used = cores_in_use(pools);
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                if p.epoch != epoch || p.allocation_state != AllocationState::Resizing {
                    return;
                }
                let mut budget = match p.op.fault {
                    Some(AllocFault::FailAfter(k)) => Some(k),
                    _ => None,
                };
                for dedicated in [true, false] {
                    let target = if dedicated {
                        p.target_dedicated
                    } else {
                        p.target_low_priority
                    };
                    let live = p.live(dedicated);
                    if target <= live {
                        continue;
                    }
                    let mut want = target - live;
                    let (quota, in_use) = if dedicated {
                        (config.dedicated_core_quota, used.0)
                    } else {
                        (config.low_priority_core_quota, used.1)
                    };
                    let fits = quota.saturating_sub(in_use) / p.cores_per_node.max(1);
                    if fits < want {
                        want = fits;
                        p.op.errors.push(if dedicated {
                            resize_error(
                                "AccountCoreQuotaReached",
                                "The specified account has reached VM core quota.",
                            )
                        } else {
                            resize_error(
                                "AccountLowPriorityCoreQuotaReached",
                                "The specified account has reached VM low priority core quota.",
                            )
                        });
                    }
                    if let Some(b) = budget.as_mut() {
                        if *b < want {
                            want = *b;
                            p.op.errors.push(resize_error(
                                "AllocationFailed",
                                "Desired number of nodes could not be allocated (allocation failure injected by the simulator).",
                            ));
                        }
                        *b -= want;
                    }
                    for _ in 0..want {
                        allocate_node(ctx, p, dedicated);
                    }
                }
                let after = ctx.jitter(ctx.timing.settle_after_allocate);
                ctx.schedule(after, Action::AllocDone { pool, epoch });
            }
            Action::AllocDone { pool, epoch } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                if p.epoch != epoch || p.allocation_state != AllocationState::Resizing {
                    return;
                }
                p.op.alloc_done = true;
                maybe_steady(ctx, p);
            }
            Action::ResizeTimeout { pool, epoch } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                if p.epoch != epoch
                    || p.allocation_state != AllocationState::Resizing
                    || p.op.alloc_done
                {
                    return;
                }
                p.op.alloc_done = true;
                p.op.errors.push(resize_error(
                    "AllocationTimedout",
                    "Desired number of dedicated nodes could not be allocated as the resize timeout was reached",
                ));
                maybe_steady(ctx, p);
            }
            Action::StopDone { pool, epoch } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                if p.epoch != epoch || p.allocation_state != AllocationState::Stopping {
                    return;
                }
                let mut errors = std::mem::take(&mut p.op.errors);
                if p.live(true) != p.target_dedicated || p.live(false) != p.target_low_priority {
                    errors.push(resize_error(
                        "ResizeStopped",
                        "Desired number of dedicated nodes could not be allocated due to a stop resize operation",
                    ));
                }
                p.op.alloc_done = true;
                p.resize_errors = errors;
                p.allocation_state = AllocationState::Steady;
                p.allocation_state_transition_time = ctx.now;
                ctx.pool_event(p);
            }
            Action::NodeStep { pool, node, epoch } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                let start_task = p.start_task.clone();
                let pool_id = p.id.clone();
                let Some(n) = p.node_mut(&node) else { return };
                if n.epoch != epoch {
                    return;
                }
                let now = ctx.now;
                let mut resched = false;
                match n.state {
                    NodeState::Creating => {
                        ctx.set_node_state(&pool_id, n, NodeState::Starting);
                        let after = ctx.jitter(ctx.timing.starting);
                        ctx.schedule(after, Action::NodeStep { pool, node, epoch });
                    }
                    NodeState::Starting => {
                        n.last_boot_time = Some(now);
                        n.start_task = start_task.clone();
                        match start_task {
                            None => {
                                ctx.set_node_state(&pool_id, n, NodeState::Idle);
                                resched = true;
                            }
                            Some(st) => {
                                let cmd =
                                    st.get("commandLine").and_then(Value::as_str).unwrap_or("");
                                let wait = st
                                    .get("waitForSuccess")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(true);
                                let eff = command::effect(cmd);
                                n.start_task_run = Some(StartTaskRun {
                                    start_time: now,
                                    end_time: None,
                                    exit_code: None,
                                });
                                let after = ctx.jitter(ctx.timing.start_task_overhead)
                                    + time::Duration::seconds_f64(eff.duration.as_secs_f64());
                                if wait {
                                    ctx.set_node_state(&pool_id, n, NodeState::WaitingForStartTask);
                                    ctx.schedule(after, Action::NodeStep { pool, node, epoch });
                                } else {
                                    ctx.set_node_state(&pool_id, n, NodeState::Idle);
                                    ctx.schedule(
                                        after,
                                        Action::StartTaskDone { pool, node, epoch },
                                    );
                                    resched = true;
                                }
                            }
                        }
                    }
                    NodeState::WaitingForStartTask => {
                        let code = finish_start_task(n, now);
                        if code == 0 {
                            ctx.set_node_state(&pool_id, n, NodeState::Idle);
                            resched = true;
                        } else {
                            ctx.set_node_state(&pool_id, n, NodeState::StartTaskFailed);
                        }
                    }
                    _ => {}
                }
                if resched {
                    schedule_tasks(ctx, pools, jobs);
                }
            }
            Action::StartTaskDone { pool, node, epoch } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                let Some(n) = p.node_mut(&node) else { return };
                if n.epoch == epoch {
                    finish_start_task(n, ctx.now);
                }
            }
            Action::NodeGone { pool, node } => {
                let Some(p) = pools.get_mut(&pool) else {
                    return;
                };
                let Some(i) = p.nodes.iter().position(|n| n.id == node) else {
                    return;
                };
                let n = p.nodes.remove(i);
                ctx.events.push(
                    ctx.now,
                    EventKind::Node {
                        pool_id: pool.clone(),
                        node_id: n.id,
                        from: Some(n.state.as_str().to_string()),
                        to: "removed".into(),
                    },
                );
                if p.deleting {
                    if p.nodes.is_empty() {
                        let after = ctx.jitter(ctx.timing.noop_settle);
                        ctx.schedule(after, Action::PoolGone { pool });
                    }
                } else {
                    maybe_steady(ctx, p);
                }
            }
            Action::PoolGone { pool } => {
                if let Some(p) = pools.remove(&pool) {
                    ctx.events.push(
                        ctx.now,
                        EventKind::PoolTarget {
                            pool_id: p.id,
                            target_dedicated_nodes: 0,
                            target_low_priority_nodes: 0,
                            current_dedicated_nodes: 0,
                            current_low_priority_nodes: 0,
                            allocation_state: "steady".into(),
                            state: "deleted".into(),
                        },
                    );
                }
            }
            Action::TaskDone { job, task, epoch } => {
                let Some(j) = jobs.get_mut(&job) else { return };
                let Some(t) = j.tasks.get_mut(task) else {
                    return;
                };
                if t.epoch != epoch || t.state != TaskState::Running {
                    return;
                }
                let eff = command::effect(&t.command_line);
                t.exit_code = Some(eff.exit_code);
                t.end_time = Some(ctx.now);
                ctx.set_task_state(&job, t, TaskState::Completed, "completed");
                let Some((pool_id, node_id)) = t.node.clone() else {
                    return;
                };
                let task_id = t.id.clone();
                if let Some(p) = pools.get_mut(&pool_id)
                    && let Some(n) = p.node_mut(&node_id)
                {
                    n.running.retain(|(jj, tt)| !(jj == &job && tt == &task_id));
                    n.total_tasks_run += 1;
                    if eff.exit_code == 0 {
                        n.total_tasks_succeeded += 1;
                    }
                    if n.running.is_empty() && n.state == NodeState::Running {
                        if n.pending_removal.is_some() {
                            ctx.set_node_state(&pool_id, n, NodeState::LeavingPool);
                            let after = ctx.jitter(ctx.timing.leaving);
                            ctx.schedule(
                                after,
                                Action::NodeGone {
                                    pool: pool_id.clone(),
                                    node: node_id,
                                },
                            );
                        } else {
                            ctx.set_node_state(&pool_id, n, NodeState::Idle);
                        }
                    }
                }
                schedule_tasks(ctx, pools, jobs);
            }
        }
    }
}

/// Complete a node's running start task; returns its exit code.
fn finish_start_task(n: &mut Node, now: OffsetDateTime) -> i32 {
    let code = n
        .start_task
        .as_ref()
        .and_then(|st| st.get("commandLine").and_then(Value::as_str))
        .map(|c| command::effect(c).exit_code)
        .unwrap_or(0);
    if let Some(r) = n.start_task_run.as_mut() {
        r.end_time = Some(now);
        r.exit_code = Some(code);
    }
    code
}

/// Total cores held by (dedicated, low-priority) nodes across the account.
fn cores_in_use(pools: &BTreeMap<String, Pool>) -> (u32, u32) {
    let mut d = 0;
    let mut l = 0;
    for p in pools.values() {
        d += p.current(true) * p.cores_per_node;
        l += p.current(false) * p.cores_per_node;
    }
    (d, l)
}

fn allocate_node(ctx: &mut Ctx, p: &mut Pool, dedicated: bool) {
    p.node_counter += 1;
    let mut h = Sha256::new();
    h.update(ctx.seed.to_le_bytes());
    h.update(p.id.as_bytes());
    h.update(p.creation_time.unix_timestamp_nanos().to_le_bytes());
    h.update(p.node_counter.to_le_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let id = format!("tvmps_{hex}_{}", if dedicated { "d" } else { "p" });
    let c = p.node_counter + 3;
    let image = p
        .vm_config
        .as_ref()
        .and_then(|v| v.get("imageReference"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut image = image;
    if let Value::Object(m) = &mut image {
        let v = m.get("version").cloned().unwrap_or(json!("latest"));
        m.insert("exactVersion".into(), v);
    }
    let node = Node {
        id: id.clone(),
        is_dedicated: dedicated,
        state: NodeState::Creating,
        state_transition_time: ctx.now,
        allocation_time: ctx.now,
        last_boot_time: None,
        ip_address: format!("10.0.{}.{}", c / 250, c % 250),
        vm_size: p.vm_size.clone(),
        start_task: None,
        start_task_run: None,
        running: Vec::new(),
        total_tasks_run: 0,
        total_tasks_succeeded: 0,
        pending_removal: None,
        epoch: 0,
        errors: Vec::new(),
        vm_image: image,
    };
    ctx.events.push(
        ctx.now,
        EventKind::Node {
            pool_id: p.id.clone(),
            node_id: id.clone(),
            from: None,
            to: "creating".into(),
        },
    );
    p.nodes.push(node);
    let after = ctx.jitter(ctx.timing.creating);
    ctx.schedule(
        after,
        Action::NodeStep {
            pool: p.id.clone(),
            node: id,
            epoch: 0,
        },
    );
}

/// Take a node out of the pool according to the deallocation option.
fn remove_node(
    ctx: &mut Ctx,
    jobs: &mut BTreeMap<String, Job>,
    p: &mut Pool,
    node_id: &str,
    dealloc: Dealloc,
) {
    let pool_id = p.id.clone();
    let Some(n) = p.node_mut(node_id) else { return };
    if n.is_leaving() {
        return;
    }
    n.epoch += 1; // cancel pending boot steps
    if !n.running.is_empty() && dealloc.waits_for_tasks() {
        n.pending_removal = Some(dealloc);
        return;
    }
    for (job_id, task_id) in std::mem::take(&mut n.running) {
        let Some(job) = jobs.get_mut(&job_id) else {
            continue;
        };
        let Some(ti) = job.task_index(&task_id) else {
            continue;
        };
        let t = &mut job.tasks[ti];
        t.epoch += 1;
        if dealloc == Dealloc::Terminate {
            t.end_time = Some(ctx.now);
            t.failure =
                Some("The task was terminated because its node was removed from the pool.".into());
            ctx.set_task_state(&job_id, t, TaskState::Completed, "terminated");
        } else {
            t.requeue_count += 1;
            ctx.set_task_state(&job_id, t, TaskState::Active, "requeued");
            t.node = None;
            t.start_time = None;
            job.queue.push_front(ti);
        }
    }
    ctx.set_node_state(&pool_id, n, NodeState::LeavingPool);
    let after = ctx.jitter(ctx.timing.leaving);
    ctx.schedule(
        after,
        Action::NodeGone {
            pool: pool_id,
            node: node_id.to_string(),
        },
    );
}

/// A resizing pool goes steady once allocation is over and no node is still leaving.
fn maybe_steady(ctx: &mut Ctx, p: &mut Pool) {
    if p.deleting
        || p.allocation_state != AllocationState::Resizing
        || !p.op.alloc_done
        || p.nodes.iter().any(Node::is_leaving)
    {
        return;
    }
    p.allocation_state = AllocationState::Steady;
    p.allocation_state_transition_time = ctx.now;
    p.resize_errors = std::mem::take(&mut p.op.errors);
    ctx.pool_event(p);
}

/// Start every waiting task that has a free slot on an idle/running node of its pool.
fn schedule_tasks(
    ctx: &mut Ctx,
    pools: &mut BTreeMap<String, Pool>,
    jobs: &mut BTreeMap<String, Job>,
) {
    for (job_id, job) in jobs.iter_mut() {
        if job.queue.is_empty() {
            continue;
        }
        let Some(p) = pools.get_mut(&job.pool_id) else {
            continue;
        };
        if p.deleting {
            continue;
        }
        let slots = p.task_slots_per_node;
        let pool_id = p.id.clone();
        while let Some(&ti) = job.queue.front() {
            let need = job.tasks[ti].required_slots;
            let Some(n) = p.nodes.iter_mut().find(|n| {
                matches!(n.state, NodeState::Idle | NodeState::Running)
                    && n.pending_removal.is_none()
                    && n.running.len() as u32 + need <= slots
            }) else {
                break;
            };
            job.queue.pop_front();
            let t = &mut job.tasks[ti];
            t.epoch += 1;
            t.node = Some((pool_id.clone(), n.id.clone()));
            t.start_time = Some(ctx.now);
            t.exit_code = None;
            t.end_time = None;
            ctx.set_task_state(job_id, t, TaskState::Running, "scheduled");
            n.running.push((job_id.clone(), t.id.clone()));
            ctx.set_node_state(&pool_id, n, NodeState::Running);
            let eff = command::effect(&t.command_line);
            ctx.schedule(
                time::Duration::seconds_f64(eff.duration.as_secs_f64()),
                Action::TaskDone {
                    job: job_id.clone(),
                    task: ti,
                    epoch: t.epoch,
                },
            );
        }
    }
}
