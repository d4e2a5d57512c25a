//! Compute nodes: their states and how they look on the wire.
//!
//! A node walks `creating -> starting -> waitingforstarttask -> idle` (or
//! `starttaskfailed`), alternates `idle <-> running` while it runs tasks, and ends with
//! `leavingpool` before it disappears. A reboot or reimage takes it through
//! `rebooting`/`reimaging -> starting` and boots it again from there. The transitions themselves are driven by
//! [`crate::world::World`]; this module holds the record and renders it like the recorded
//! bodies: `lastBootTime`, `startTask` and `nodeAgentInfo` only exist once the VM booted.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::format_ts;
use crate::wire::{FailureInfoWire, NodeAgentInfoWire, NodeErrorWire, NodeWire, StartTaskInfoWire};

/// `BatchNodeState` values the simulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    Creating,
    Starting,
    WaitingForStartTask,
    Idle,
    Running,
    StartTaskFailed,
    Unusable,
    LeavingPool,
    /// A Spot (low-priority) node Azure took back: it stays in the pool,
    /// counted, taking no task, until the pool shrinks.
    Preempted,
    /// Restarting (maintenance, someone's reboot); boots again as `starting`.
    Rebooting,
    /// Its OS disk being restored; boots again as `starting`.
    Reimaging,
}

impl NodeState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NodeState::Creating => "creating",
            NodeState::Starting => "starting",
            NodeState::WaitingForStartTask => "waitingforstarttask",
            NodeState::Idle => "idle",
            NodeState::Running => "running",
            NodeState::StartTaskFailed => "starttaskfailed",
            NodeState::Unusable => "unusable",
            NodeState::LeavingPool => "leavingpool",
            NodeState::Preempted => "preempted",
            NodeState::Rebooting => "rebooting",
            NodeState::Reimaging => "reimaging",
        }
    }

    /// Preference when the service picks nodes to remove on a shrink (lower goes first).
    pub(crate) fn removal_rank(self) -> u8 {
        match self {
            NodeState::Unusable | NodeState::StartTaskFailed | NodeState::Preempted => 0,
            NodeState::Idle => 1,
            NodeState::Creating
            | NodeState::Starting
            | NodeState::WaitingForStartTask
            | NodeState::Rebooting
            | NodeState::Reimaging => 2,
            NodeState::Running => 3,
            NodeState::LeavingPool => 4,
        }
    }
}

/// How tasks on a removed node are treated (`nodeDeallocationOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dealloc {
    Requeue,
    Terminate,
    TaskCompletion,
    RetainedData,
}

impl Dealloc {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "requeue" => Some(Dealloc::Requeue),
            "terminate" => Some(Dealloc::Terminate),
            "taskcompletion" => Some(Dealloc::TaskCompletion),
            "retaineddata" => Some(Dealloc::RetainedData),
            _ => None,
        }
    }

    /// Does the node wait for its running tasks before leaving?
    pub(crate) fn waits_for_tasks(self) -> bool {
        matches!(self, Dealloc::TaskCompletion | Dealloc::RetainedData)
    }
}

/// The start task as it ran on one node.
#[derive(Debug, Clone)]
pub(crate) struct StartTaskRun {
    pub start_time: OffsetDateTime,
    pub end_time: Option<OffsetDateTime>,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: String,
    pub is_dedicated: bool,
    pub state: NodeState,
    pub state_transition_time: OffsetDateTime,
    pub allocation_time: OffsetDateTime,
    pub last_boot_time: Option<OffsetDateTime>,
    pub ip_address: String,
    pub vm_size: String,
    /// The pool's start task as captured at boot (shown from then on).
    pub start_task: Option<Value>,
    pub start_task_run: Option<StartTaskRun>,
    /// `(jobId, taskId)` of running tasks.
    pub running: Vec<(String, String)>,
    /// Task slots the running tasks take, each its `requiredSlots`
    /// (`runningTaskSlotsCount`).
    pub running_slots: u32,
    pub total_tasks_run: u32,
    pub total_tasks_succeeded: u32,
    /// Set when the node was picked for removal but waits for its tasks (taskcompletion).
    pub pending_removal: Option<Dealloc>,
    /// Bumped on every externally caused change so stale scheduled steps are ignored.
    pub epoch: u64,
    pub errors: Vec<NodeErrorWire>,
    pub vm_image: Value,
}

impl Node {
    /// Takes every running task off the node (its slots free with them).
    pub(crate) fn take_running(&mut self) -> Vec<(String, String)> {
        self.running_slots = 0;
        std::mem::take(&mut self.running)
    }

    /// Is the node leaving (or about to)?
    pub(crate) fn is_leaving(&self) -> bool {
        self.state == NodeState::LeavingPool || self.pending_removal.is_some()
    }

    pub(crate) fn to_wire(&self, pool_url: &str) -> NodeWire {
        let start_task_info = self.start_task_run.as_ref().map(|r| {
            let completed = r.exit_code.is_some();
            let failed = r.exit_code.is_some_and(|c| c != 0);
            StartTaskInfoWire {
                state: if completed { "completed" } else { "running" },
                start_time: format_ts(r.start_time),
                end_time: r.end_time.map(format_ts),
                exit_code: r.exit_code,
                result: completed.then_some(if failed { "failure" } else { "success" }),
                failure_info: failed.then(FailureInfoWire::exit_code),
                retry_count: 0,
            }
        });
        NodeWire {
            id: self.id.clone(),
            url: format!("{pool_url}/nodes/{}", self.id),
            state: self.state.as_str(),
            scheduling_state: if self.pending_removal.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            state_transition_time: format_ts(self.state_transition_time),
            last_boot_time: self.last_boot_time.map(format_ts),
            allocation_time: format_ts(self.allocation_time),
            ip_address: self.ip_address.clone(),
            affinity_id: format!("TVM:{}", self.id),
            vm_size: self.vm_size.clone(),
            total_tasks_run: self.total_tasks_run,
            total_tasks_succeeded: self.total_tasks_succeeded,
            running_tasks_count: self.running.len() as u32,
            running_task_slots_count: self.running_slots,
            start_task: self.start_task.clone(),
            start_task_info,
            errors: self.errors.clone(),
            is_dedicated: self.is_dedicated,
            node_agent_info: self.last_boot_time.map(|t| NodeAgentInfoWire {
                last_update_time: format_ts(t),
                version: "1.12.39",
            }),
            virtual_machine_info: json!({ "imageReference": self.vm_image.clone() }),
        }
    }
}
