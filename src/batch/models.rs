//! What the Batch service sends back, as much of it as pool-resizer reads.
//!
//! The service adds fields over time and omits absent ones (no nulls), so every
//! field is optional or defaulted and unknown fields are ignored. Enumerations
//! keep an `Other` catch-all: a new node state must not make a pool unreadable.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `GET /pools/{id}`. Only the fields the resizer reasons about.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pool {
    pub id: String,
    #[serde(rename = "eTag", default)]
    pub e_tag: Option<String>,
    #[serde(default, with = "timestamp")]
    pub last_modified: Option<OffsetDateTime>,
    #[serde(default)]
    pub state: Option<PoolState>,
    #[serde(default)]
    pub allocation_state: Option<AllocationState>,
    #[serde(default, with = "timestamp")]
    pub allocation_state_transition_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub vm_size: Option<String>,
    #[serde(default)]
    pub resize_timeout: Option<String>,
    #[serde(default)]
    pub current_dedicated_nodes: u32,
    #[serde(default)]
    pub current_low_priority_nodes: u32,
    #[serde(default)]
    pub target_dedicated_nodes: u32,
    #[serde(default)]
    pub target_low_priority_nodes: u32,
    #[serde(default)]
    pub enable_auto_scale: bool,
    #[serde(default)]
    pub auto_scale_formula: Option<String>,
    #[serde(default)]
    pub resize_errors: Vec<ResizeError>,
    #[serde(default)]
    pub metadata: Vec<MetadataItem>,
    /// Tasks a node runs at once (`maxTasksPerNode` before 2020-09-01.12.0);
    /// absent (old api-versions, `$select` without it) means 1.
    #[serde(default)]
    pub task_slots_per_node: Option<u32>,
}

impl Pool {
    /// `taskSlotsPerNode`, at least 1.
    pub(crate) fn slots_per_node(&self) -> u32 {
        self.task_slots_per_node.unwrap_or(1).max(1)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PoolState {
    Active,
    Deleting,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AllocationState {
    Steady,
    Resizing,
    Stopping,
    #[serde(other)]
    Other,
}

/// An entry of `resizeErrors`: note the plain-string message and `values`
/// of `{name, value}`, unlike the top-level error body.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResizeError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub values: Vec<NameValue>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct NameValue {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct MetadataItem {
    pub name: String,
    pub value: String,
}

/// A compute node from `GET /pools/{id}/nodes`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Node {
    pub id: String,
    #[serde(default)]
    pub state: Option<NodeState>,
    #[serde(default, with = "timestamp")]
    pub state_transition_time: Option<OffsetDateTime>,
    /// When the node joined the pool; a reboot or reimage does not change it.
    #[serde(default, with = "timestamp")]
    pub allocation_time: Option<OffsetDateTime>,
    /// When the node last booted; absent until its first boot. While a reboot
    /// or reimage runs it is still the boot before (see
    /// `resizer::snapshot::provisioning_since`).
    #[serde(default, with = "timestamp")]
    pub last_boot_time: Option<OffsetDateTime>,
    /// Absent on some old API versions; the service means dedicated then.
    #[serde(default)]
    pub is_dedicated: Option<bool>,
    #[serde(default)]
    pub running_tasks_count: Option<u32>,
    /// Task slots its running tasks take (each task takes its
    /// `requiredSlots`, 1 unless set).
    #[serde(default)]
    pub running_task_slots_count: Option<u32>,
    /// `disabled` while Batch is removing the node (a shrink, `removenodes`)
    /// or someone disabled scheduling: such a node takes no new task.
    #[serde(default)]
    pub scheduling_state: Option<SchedulingState>,
    #[serde(default)]
    pub start_task_info: Option<StartTaskInfo>,
    #[serde(default)]
    pub errors: Vec<NodeError>,
}

impl Node {
    pub(crate) fn is_dedicated(&self) -> bool {
        self.is_dedicated.unwrap_or(true)
    }

    /// Task slots its running tasks take: `runningTaskSlotsCount`, else one
    /// per running task, else (neither listed) one if it is `running`.
    pub(crate) fn busy_slots(&self) -> u32 {
        self.running_task_slots_count
            .or(self.running_tasks_count)
            .unwrap_or(u32::from(self.state == Some(NodeState::Running)))
    }

    /// When the node became ready to take tasks, by Batch's own stamps: its
    /// start task's end, or without one its boot. Unlike the state's
    /// transition time it does not move when the node runs a task.
    pub(crate) fn ready_since(&self) -> Option<OffsetDateTime> {
        match &self.start_task_info {
            Some(info) => info.end_time,
            None => self.last_boot_time,
        }
    }

    /// Absent means enabled (older api-versions, `$select` without it).
    pub(crate) fn takes_new_tasks(&self) -> bool {
        self.scheduling_state != Some(SchedulingState::Disabled)
    }
}

/// `SchedulingState` of a compute node.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SchedulingState {
    Enabled,
    Disabled,
    #[serde(other)]
    Other,
}

/// `BatchNodeState`, lower-case on the wire.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NodeState {
    Idle,
    Rebooting,
    Reimaging,
    Running,
    Unusable,
    Creating,
    Starting,
    WaitingForStartTask,
    StartTaskFailed,
    Unknown,
    LeavingPool,
    Offline,
    Preempted,
    UpgradingOs,
    Deallocated,
    Deallocating,
    #[serde(other)]
    Other,
}

impl NodeState {
    /// The wire spelling, used as a key in status bodies so they read like Batch.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NodeState::Idle => "idle",
            NodeState::Rebooting => "rebooting",
            NodeState::Reimaging => "reimaging",
            NodeState::Running => "running",
            NodeState::Unusable => "unusable",
            NodeState::Creating => "creating",
            NodeState::Starting => "starting",
            NodeState::WaitingForStartTask => "waitingforstarttask",
            NodeState::StartTaskFailed => "starttaskfailed",
            NodeState::Unknown => "unknown",
            NodeState::LeavingPool => "leavingpool",
            NodeState::Offline => "offline",
            NodeState::Preempted => "preempted",
            NodeState::UpgradingOs => "upgradingos",
            NodeState::Deallocated => "deallocated",
            NodeState::Deallocating => "deallocating",
            NodeState::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartTaskInfo {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default, with = "timestamp")]
    pub end_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub retry_count: Option<u32>,
    #[serde(default)]
    pub failure_info: Option<FailureInfo>,
}

impl StartTaskInfo {
    /// Completed and successful. `result` is the service's own verdict; older
    /// responses without it fall back to the exit code.
    pub(crate) fn succeeded(&self) -> bool {
        self.state.as_deref() == Some("completed")
            && match self.result.as_deref() {
                Some(result) => result.eq_ignore_ascii_case("success"),
                None => self.exit_code == Some(0),
            }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FailureInfo {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Node `errors[]` entries (`errorDetails`, not `values`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Batch's timestamps, RFC 3339 with the seven fractional digits of .NET
/// ticks (`2026-02-03T00:03:11.9069791Z`); time's RFC 3339 parser reads any
/// number of them. Parsed once here so nothing above re-parses a string. A
/// timestamp that does not parse reads as absent, like any field Batch
/// might change: a heuristic input must not make a pool unreadable.
mod timestamp {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let raw = Option::<String>::deserialize(deserializer)?;
        Ok(raw.and_then(|raw| OffsetDateTime::parse(&raw, &Rfc3339).ok()))
    }

    pub(super) fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(value, serializer)
    }
}

/// One page of a list response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// Body of `POST /pools/{id}/resize`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResizePool {
    pub target_dedicated_nodes: u32,
    pub target_low_priority_nodes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_deallocation_option: Option<NodeDeallocationOption>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NodeDeallocationOption {
    Requeue,
    Terminate,
    TaskCompletion,
    RetainedData,
}

/// Body of a Batch error response. `message` is `{lang, value}` on the wire;
/// a plain string is accepted too, because proxies and older versions differ.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<ErrorMessage>,
    #[serde(default)]
    pub values: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorMessage {
    Localized { value: String },
    Plain(String),
}

impl ErrorMessage {
    /// The text without the `RequestId:`/`Time:` trailer the service appends.
    pub(crate) fn text(&self) -> &str {
        let full = match self {
            ErrorMessage::Localized { value } => value,
            ErrorMessage::Plain(text) => text,
        };
        full.split("\nRequestId:").next().unwrap_or(full).trim_end()
    }
}

impl ErrorBody {
    /// The message, with the details Batch lists in `values` (which
    /// property, which reason) appended: often the only hint of what to fix.
    pub(crate) fn described(&self) -> String {
        let text = self.message.as_ref().map(ErrorMessage::text).unwrap_or("");
        let details: Vec<String> = self
            .values
            .iter()
            .filter_map(|detail| match (&detail.key, &detail.value) {
                (Some(key), Some(value)) => Some(format!("{key}: {value}")),
                (None, Some(value)) => Some(value.clone()),
                _ => None,
            })
            .collect();
        match (text.is_empty(), details.is_empty()) {
            (_, true) => text.to_owned(),
            (true, false) => details.join("; "),
            (false, false) => format!("{text} ({})", details.join("; ")),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_batchs_seven_digit_fractions() {
        let pool: Pool = serde_json::from_str(
            r#"{"id":"p","lastModified":"2026-02-03T00:03:11.9069791Z",
                "allocationStateTransitionTime":"not a time"}"#,
        )
        .unwrap();
        let modified = pool.last_modified.unwrap();
        assert_eq!(
            modified,
            time::macros::datetime!(2026-02-03 00:03:11.9069791 UTC)
        );
        assert_eq!(pool.allocation_state_transition_time, None);
        let back = serde_json::to_value(&pool).unwrap();
        assert_eq!(back["lastModified"], "2026-02-03T00:03:11.9069791Z");
    }
}

#[cfg(test)]
pub(crate) mod recorded;
