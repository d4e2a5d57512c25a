//! Test fixtures: pools, nodes and wants built by what a test says about
//! them, not field by field (the style of kube-rs controller-rs's
//! `fixtures.rs`). Every builder starts from a plain, healthy value and each
//! call changes one thing, so a table row reads as its scenario:
//!
//! ```text
//! Pool::test("p").steady(2).idle_nodes(2).observed()      2 ready nodes
//! Pool::test("p").steady(1).resizing(4).observed()        1 node, growing to 4
//! Pool::test("p").steady(1).target(2)                     steady short of its target
//!     .resize_error("AllocationTimedout").observed()
//! Pool::test("p").autoscale() / .deleting() / .lease("b", 2, "2026-11-24T09:00:00Z")
//! Node::test(Idle).start_task_ok()    Node::test(Running).start_task_ok().leaving()
//! ```
//!
//! Observations are taken at [`NOW`], so leases and provision deadlines
//! read against a fixed instant.

use super::snapshot::{NodeTally, Observed, Snapshot};
use super::want::{LeaseRule, Want};
use crate::batch::models::{
    AllocationState, FailureInfo, MetadataItem, Node, NodeState, Pool, PoolState, ResizeError,
    SchedulingState, StartTaskInfo,
};
use time::OffsetDateTime;

/// When every fixture pool is observed.
pub(crate) const NOW: OffsetDateTime = time::macros::datetime!(2026-11-24 06:00 UTC);

/// The pool every fixture want is for, and the id tests give their pools.
pub(crate) const POOL: &str = "p";

/// A scale-up of pool [`POOL`] to `dedicated` ready nodes, defaults otherwise.
pub(crate) fn up(dedicated: u32) -> Want {
    Want::scale_up(POOL.parse().unwrap(), dedicated, 0)
}

/// A scale-up of pool [`POOL`] to `dedicated` nodes holding lease `id`.
pub(crate) fn leased_up(id: &str, dedicated: u32) -> Want {
    Want {
        lease: Some(id.parse().unwrap()),
        ..up(dedicated)
    }
}

/// A plain scale-down of pool [`POOL`] to `floor` dedicated nodes: keeps what
/// live leases need (the default).
pub(crate) fn down(floor: u32) -> Want {
    Want::scale_down(POOL.parse().unwrap(), floor, 0, LeaseRule::Honour)
}

/// A pool as one look sees it: the pool, and its nodes when they were listed.
#[derive(Debug, Clone)]
pub(crate) struct PoolFixture {
    pool: Pool,
    /// `None`: the look did not list the nodes.
    nodes: Option<Vec<Node>>,
}

impl Pool {
    /// An active, steady, empty fixed-scale pool, nodes not listed.
    pub(crate) fn test(id: &str) -> PoolFixture {
        PoolFixture {
            pool: Pool {
                id: id.into(),
                state: Some(PoolState::Active),
                allocation_state: Some(AllocationState::Steady),
                ..Pool::default()
            },
            nodes: None,
        }
    }
}

impl PoolFixture {
    /// Steady with `nodes` dedicated nodes, its target met.
    pub(crate) fn steady(self, nodes: u32) -> Self {
        self.allocation(AllocationState::Steady)
            .target(nodes)
            .current(nodes)
    }

    /// Batch is resizing to `target` dedicated nodes from the current count.
    pub(crate) fn resizing(self, target: u32) -> Self {
        self.allocation(AllocationState::Resizing).target(target)
    }

    /// A stop-resize is finishing; the target it had was `target`.
    pub(crate) fn stopping(self, target: u32) -> Self {
        self.allocation(AllocationState::Stopping).target(target)
    }

    pub(crate) fn allocation(mut self, state: AllocationState) -> Self {
        self.pool.allocation_state = Some(state);
        self
    }

    /// `targetDedicatedNodes` alone.
    pub(crate) fn target(mut self, dedicated: u32) -> Self {
        self.pool.target_dedicated_nodes = dedicated;
        self
    }

    /// `currentDedicatedNodes` alone.
    pub(crate) fn current(mut self, dedicated: u32) -> Self {
        self.pool.current_dedicated_nodes = dedicated;
        self
    }

    pub(crate) fn etag(mut self, etag: &str) -> Self {
        self.pool.e_tag = Some(etag.into());
        self
    }

    /// A `resizeErrors` entry with Batch's `code` (message `"{code} happened"`).
    pub(crate) fn resize_error(mut self, code: &str) -> Self {
        self.pool.resize_errors.push(ResizeError {
            code: code.into(),
            message: format!("{code} happened"),
            values: vec![],
        });
        self
    }

    /// `taskSlotsPerNode`.
    pub(crate) fn slots(mut self, slots: u32) -> Self {
        self.pool.task_slots_per_node = Some(slots);
        self
    }

    pub(crate) fn autoscale(mut self) -> Self {
        self.pool.enable_auto_scale = true;
        self
    }

    pub(crate) fn deleting(mut self) -> Self {
        self.pool.state = Some(PoolState::Deleting);
        self
    }

    /// A lease in the pool's metadata, exactly as it is stored on the wire:
    /// holder `id`, `dedicated` nodes, expiring at `expires` (RFC 3339).
    pub(crate) fn lease(mut self, id: &str, dedicated: u32, expires: &str) -> Self {
        self.pool.metadata.push(MetadataItem {
            name: format!("pool-resizer-lease:{id}"),
            value: format!(r#"{{"dedicated":{dedicated},"lowPriority":0,"expires":"{expires}"}}"#),
        });
        self
    }

    /// The nodes were listed, and these are (among) them. `nodes([])`: listed, none.
    pub(crate) fn nodes(mut self, nodes: impl IntoIterator<Item = Node>) -> Self {
        self.nodes.get_or_insert_with(Vec::new).extend(nodes);
        self
    }

    /// `count` idle dedicated nodes whose start task succeeded: ready.
    pub(crate) fn idle_nodes(self, count: u32) -> Self {
        self.nodes((0..count).map(|i| {
            Node::test(NodeState::Idle)
                .named(&format!("tvm-Idle-{i}"))
                .start_task_ok()
        }))
    }

    pub(crate) fn pool(self) -> Pool {
        self.pool
    }

    pub(crate) fn snapshot(self) -> Snapshot {
        Snapshot {
            pool: self.pool,
            nodes: self.nodes.map(|nodes| NodeTally::from_nodes(&nodes)),
            observed_at: NOW,
        }
    }

    pub(crate) fn observed(self) -> Observed {
        Observed::Pool(Box::new(self.snapshot()))
    }
}

impl Node {
    /// A dedicated node in `state` without a start task, named after its
    /// state (`tvm-Starting`), as failure messages show it.
    pub(crate) fn test(state: NodeState) -> Node {
        Node {
            id: format!("tvm-{state:?}"),
            state: Some(state),
            is_dedicated: Some(true),
            ..Node::default()
        }
    }

    pub(crate) fn named(self, id: &str) -> Node {
        Node {
            id: id.into(),
            ..self
        }
    }

    /// Its start task completed with exit code 0.
    pub(crate) fn start_task_ok(self) -> Node {
        self.start_task(StartTaskInfo {
            state: Some("completed".into()),
            exit_code: Some(0),
            result: Some("success".into()),
            ..StartTaskInfo::default()
        })
    }

    /// Its start task is still running.
    pub(crate) fn start_task_running(self) -> Node {
        self.start_task(StartTaskInfo {
            state: Some("running".into()),
            ..StartTaskInfo::default()
        })
    }

    /// Its start task exited with 1, as Batch reports a user's failing script.
    pub(crate) fn start_task_failed(self) -> Node {
        self.start_task(StartTaskInfo {
            state: Some("completed".into()),
            exit_code: Some(1),
            result: Some("failure".into()),
            failure_info: Some(FailureInfo {
                category: Some("UserError".into()),
                code: Some("FailureExitCode".into()),
                message: Some("The task exited with an exit code representing a failure".into()),
            }),
            retry_count: Some(0),
            end_time: None,
        })
    }

    fn start_task(self, info: StartTaskInfo) -> Node {
        Node {
            start_task_info: Some(info),
            ..self
        }
    }

    /// Batch allocated it at `at` (its provision deadline counts from then).
    pub(crate) fn allocated_at(self, at: OffsetDateTime) -> Node {
        Node {
            allocation_time: Some(at),
            ..self
        }
    }

    /// Running tasks that take `slots` task slots.
    pub(crate) fn busy(self, slots: u32) -> Node {
        Node {
            state: Some(NodeState::Running),
            running_tasks_count: Some(1),
            running_task_slots_count: Some(slots),
            ..self
        }
    }

    /// A shrink is removing it: scheduling disabled, one task still running.
    pub(crate) fn leaving(self) -> Node {
        Node {
            scheduling_state: Some(SchedulingState::Disabled),
            running_tasks_count: Some(1),
            ..self
        }
    }
}
