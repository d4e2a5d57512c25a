//! Jobs and tasks: just enough to make nodes busy.
//!
//! A task waits `active` until a node of its job's pool has a free slot (nodes offer
//! `taskSlotsPerNode` slots once `idle`), runs for the time its command line says
//! (see [`crate::command`]), then completes with the exit code its command line says.

use serde_json::json;
use time::OffsetDateTime;

use crate::clock::{etag_for, format_ts};
use crate::wire::{
    FailureInfoWire, JobExecutionInfoWire, JobWire, PoolInfoWire, TaskExecutionInfoWire,
    TaskNodeInfoWire, TaskWire,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Active,
    Running,
    Completed,
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Active => "active",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub id: String,
    pub command_line: String,
    pub required_slots: u32,
    pub creation_time: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub state: TaskState,
    pub state_transition_time: OffsetDateTime,
    pub previous: Option<(TaskState, OffsetDateTime)>,
    /// `(poolId, nodeId)` while running / after it ran.
    pub node: Option<(String, String)>,
    pub start_time: Option<OffsetDateTime>,
    pub end_time: Option<OffsetDateTime>,
    pub exit_code: Option<i32>,
    /// Set when the task did not end by itself (terminated with its node).
    pub failure: Option<String>,
    pub requeue_count: u32,
    pub epoch: u64,
}

impl Task {
    pub(crate) fn failed(&self) -> bool {
        self.state == TaskState::Completed
            && (self.failure.is_some() || self.exit_code.is_some_and(|c| c != 0))
    }

    pub(crate) fn to_wire(&self, job_url: &str, base: &str) -> TaskWire {
        let failure_info = if self.state != TaskState::Completed {
            None
        } else if let Some(msg) = &self.failure {
            Some(FailureInfoWire {
                category: "ServerError",
                code: "TaskEnded",
                message: msg.clone(),
            })
        } else if self.exit_code.is_some_and(|c| c != 0) {
            Some(FailureInfoWire::exit_code())
        } else {
            None
        };
        TaskWire {
            id: self.id.clone(),
            url: format!("{job_url}/tasks/{}", self.id),
            e_tag: etag_for(self.last_modified),
            creation_time: format_ts(self.creation_time),
            last_modified: format_ts(self.last_modified),
            state: self.state.as_str(),
            state_transition_time: format_ts(self.state_transition_time),
            previous_state: self.previous.map(|p| p.0.as_str()),
            previous_state_transition_time: self.previous.map(|p| format_ts(p.1)),
            command_line: self.command_line.clone(),
            constraints: json!({
                "maxWallClockTime": "P10675199DT2H48M5.4775807S",
                "retentionTime": "P7D",
                "maxTaskRetryCount": 0
            }),
            required_slots: self.required_slots,
            execution_info: TaskExecutionInfoWire {
                start_time: self.start_time.map(format_ts),
                end_time: self.end_time.map(format_ts),
                exit_code: self.exit_code,
                result: (self.state == TaskState::Completed).then_some(if failure_info.is_some() {
                    "failure"
                } else {
                    "success"
                }),
                failure_info,
                retry_count: 0,
                requeue_count: self.requeue_count,
            },
            node_info: self.node.as_ref().map(|(pool, node)| TaskNodeInfoWire {
                affinity_id: format!("TVM:{node}"),
                node_url: format!("{base}/pools/{pool}/nodes/{node}"),
                pool_id: pool.clone(),
                node_id: node.clone(),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: String,
    pub pool_id: String,
    pub priority: i32,
    pub creation_time: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub tasks: Vec<Task>,
    /// Indices into `tasks` of tasks waiting to run, in submission order.
    pub queue: std::collections::VecDeque<usize>,
    /// Task id -> index into `tasks`.
    pub index: std::collections::HashMap<String, usize>,
}

impl Job {
    pub(crate) fn task_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The job's URL, which its tasks' URLs start with.
    pub(crate) fn url(&self, base: &str) -> String {
        format!("{base}/jobs/{}", self.id)
    }

    pub(crate) fn to_wire(&self, base: &str) -> JobWire {
        JobWire {
            id: self.id.clone(),
            url: self.url(base),
            e_tag: etag_for(self.last_modified),
            last_modified: format_ts(self.last_modified),
            creation_time: format_ts(self.creation_time),
            state: "active",
            state_transition_time: format_ts(self.creation_time),
            priority: self.priority,
            max_parallel_tasks: -1,
            allow_task_preemption: false,
            uses_task_dependencies: false,
            constraints: json!({
                "maxWallClockTime": "P10675199DT2H48M5.4775807S",
                "maxTaskRetryCount": 0
            }),
            pool_info: PoolInfoWire {
                pool_id: self.pool_id.clone(),
            },
            execution_info: JobExecutionInfoWire {
                start_time: format_ts(self.creation_time),
                pool_id: self.pool_id.clone(),
            },
            on_all_tasks_complete: "noaction",
            on_task_failure: "noaction",
        }
    }
}
