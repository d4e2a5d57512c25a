//! The simulator's own wire types (request and response bodies).
//!
//! Deliberately independent of pool-resizer's client models (`pool_resizer::batch`), which
//! this crate cannot even name: if both sides shared one set of types, a wrong field name
//! would be wrong on both ends and every test would still pass. These types are written
//! against the recorded bodies in `tests/fixtures/batch-recorded/` of the pool-resizer repository instead. Field order follows the recordings; absent
//! optional fields are omitted (the service never sends `null`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Wraps a body with its `odata.metadata` link, keeping the body's own field order.
#[derive(Serialize)]
pub(crate) struct WithMeta<'a, T: Serialize> {
    #[serde(rename = "odata.metadata")]
    pub metadata: String,
    #[serde(flatten)]
    pub inner: &'a T,
}

/// A list page: `{"odata.metadata": ..., "value": [...], "odata.nextLink": ...}`.
#[derive(Serialize)]
pub(crate) struct ListPage<T: Serialize> {
    #[serde(rename = "odata.metadata")]
    pub metadata: String,
    pub value: Vec<T>,
    #[serde(rename = "odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct NameValue {
    pub name: String,
    pub value: String,
}

/// An error a resource carries as part of its state: `resizeErrors[]`, and
/// `autoScaleRun.error` (recorded: `autoscale-evaluate-formula-error.json`). Not the body
/// of a failed request (`reply::render_error`): here the message is a plain string and
/// the details are `{name,value}`, where the error body has `{lang,value}` and
/// `{key,value}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ErrorWire {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<NameValue>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AutoScaleRunWire {
    pub timestamp: String,
    pub results: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorWire>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskSchedulingPolicyWire {
    pub node_fill_type: &'static str,
    pub job_default_order: &'static str,
}

/// `GET /pools/{id}` body (without `odata.metadata`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolWire {
    pub id: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub e_tag: String,
    pub last_modified: String,
    pub creation_time: String,
    pub state: &'static str,
    pub state_transition_time: String,
    pub allocation_state: &'static str,
    pub allocation_state_transition_time: String,
    pub vm_size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_timeout: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resize_errors: Vec<ErrorWire>,
    pub current_dedicated_nodes: u32,
    pub target_dedicated_nodes: u32,
    pub current_low_priority_nodes: u32,
    pub target_low_priority_nodes: u32,
    pub enable_auto_scale: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_formula: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_evaluation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_run: Option<AutoScaleRunWire>,
    pub enable_inter_node_communication: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<NameValue>,
    pub task_slots_per_node: u32,
    pub task_scheduling_policy: TaskSchedulingPolicyWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_configuration: Option<Value>,
}

/// `failureInfo` of a start task or a task: the same type in both places.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FailureInfoWire {
    pub category: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl FailureInfoWire {
    /// A command that ended with a non-zero exit code, in the service's words.
    pub(crate) fn exit_code() -> Self {
        FailureInfoWire {
            category: "UserError",
            code: "FailureExitCode",
            message: "The task exited with an exit code representing a failure".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartTaskInfoWire {
    pub state: &'static str,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<FailureInfoWire>,
    pub retry_count: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeAgentInfoWire {
    pub last_update_time: String,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeErrorWire {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_details: Vec<NameValue>,
}

/// `GET /pools/{id}/nodes/{nodeId}` body (without `odata.metadata`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeWire {
    pub id: String,
    pub url: String,
    pub state: &'static str,
    pub scheduling_state: &'static str,
    pub state_transition_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_boot_time: Option<String>,
    pub allocation_time: String,
    pub ip_address: String,
    pub affinity_id: String,
    pub vm_size: String,
    pub total_tasks_run: u32,
    pub total_tasks_succeeded: u32,
    pub running_tasks_count: u32,
    pub running_task_slots_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task_info: Option<StartTaskInfoWire>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<NodeErrorWire>,
    pub is_dedicated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_agent_info: Option<NodeAgentInfoWire>,
    pub virtual_machine_info: Value,
}

/// One entry of `GET /nodecounts`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeCountsWire {
    pub creating: u32,
    pub deallocated: u32,
    pub deallocating: u32,
    pub idle: u32,
    pub leaving_pool: u32,
    pub offline: u32,
    pub preempted: u32,
    pub rebooting: u32,
    pub reimaging: u32,
    pub running: u32,
    pub starting: u32,
    pub start_task_failed: u32,
    pub unusable: u32,
    pub unknown: u32,
    #[serde(rename = "upgradingOS")]
    pub upgrading_os: u32,
    pub waiting_for_start_task: u32,
    pub total: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolNodeCountsWire {
    pub pool_id: String,
    pub dedicated: NodeCountsWire,
    pub low_priority: NodeCountsWire,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskCountsWire {
    pub active: u32,
    pub running: u32,
    pub completed: u32,
    pub succeeded: u32,
    pub failed: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskCountsResultWire {
    pub task_counts: TaskCountsWire,
    pub task_slot_counts: TaskCountsWire,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolInfoWire {
    pub pool_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobExecutionInfoWire {
    pub start_time: String,
    pub pool_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobWire {
    pub id: String,
    pub url: String,
    pub e_tag: String,
    pub last_modified: String,
    pub creation_time: String,
    pub state: &'static str,
    pub state_transition_time: String,
    pub priority: i32,
    pub max_parallel_tasks: i32,
    pub allow_task_preemption: bool,
    pub uses_task_dependencies: bool,
    pub constraints: Value,
    pub pool_info: PoolInfoWire,
    pub execution_info: JobExecutionInfoWire,
    pub on_all_tasks_complete: &'static str,
    pub on_task_failure: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskExecutionInfoWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<FailureInfoWire>,
    pub retry_count: u32,
    pub requeue_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskNodeInfoWire {
    pub affinity_id: String,
    pub node_url: String,
    pub pool_id: String,
    pub node_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskWire {
    pub id: String,
    pub url: String,
    pub e_tag: String,
    pub creation_time: String,
    pub last_modified: String,
    pub state: &'static str,
    pub state_transition_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state_transition_time: Option<String>,
    pub command_line: String,
    pub constraints: Value,
    pub required_slots: u32,
    pub execution_info: TaskExecutionInfoWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_info: Option<TaskNodeInfoWire>,
}

// ---------------------------------------------------------------- request bodies
//
// The service reads bodies with OData (Microsoft.Data.OData): a primitive sent as a
// string is converted to the property's type (`{"targetDedicatedNodes": "1"}`, as the
// Azure CLI sends it, is 1), while a number where a string belongs is refused. The
// `lenient` readers below do the same for the numbers and booleans the simulator reads;
// what properties each body may name is in `crate::http::extract::BodySpec`.

/// Primitives as OData reads them: the JSON type, or a string that converts to it.
pub(crate) mod lenient {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};
    use serde_json::Value;

    fn number(v: Value) -> Result<Option<i64>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| {
                format!("Cannot convert the literal '{n}' to the expected type 'Edm.Int32'.")
            }),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| i32::try_from(*n).is_ok())
                .map(Some)
                .ok_or_else(|| {
                    format!("Cannot convert the literal '{s}' to the expected type 'Edm.Int32'.")
                }),
            other => Err(format!(
                "Cannot convert the literal '{other}' to the expected type 'Edm.Int32'."
            )),
        }
    }

    /// An `Edm.Int32`: a JSON number or a string holding one.
    pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        number(Value::deserialize(d)?).map_err(D::Error::custom)
    }

    /// An `Edm.Boolean`: `true`/`false`, or a string holding one (any case).
    pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            other => Err(D::Error::custom(format!(
                "Cannot convert the literal '{other}' to the expected type 'Edm.Boolean'."
            ))),
        }
    }
}

/// The body of `POST /pools` and of the `resize` and `removenodes` actions. One struct
/// serves all three because which properties a body may name is checked before serde
/// sees it (`BodySpec`, by the name of the service's parameter type), so a field here
/// that an action does not take can only ever be absent from that action's body. `PATCH`
/// has its own struct: its spec names properties (`vmSize`, `taskSlotsPerNode`, ...)
/// that the simulator accepts and ignores there, and this struct would type-check them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolBody {
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub vm_size: Option<String>,
    pub virtual_machine_configuration: Option<Value>,
    pub resize_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub target_dedicated_nodes: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub target_low_priority_nodes: Option<i64>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub enable_auto_scale: Option<bool>,
    pub auto_scale_formula: Option<String>,
    pub auto_scale_evaluation_interval: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub enable_inter_node_communication: Option<bool>,
    pub start_task: Option<Value>,
    pub metadata: Option<Vec<NameValue>>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub task_slots_per_node: Option<i64>,
    pub node_list: Option<Vec<String>>,
    pub node_deallocation_option: Option<String>,
}

/// The body of `enableautoscale`. The autoscale bodies are read without a `BodySpec`:
/// properties they do not name are ignored, whatever their values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnableAutoScaleBody {
    pub auto_scale_formula: Option<String>,
    pub auto_scale_evaluation_interval: Option<String>,
}

/// The body of `evaluateautoscale`: only the formula, so an interval sent along (of any
/// type) is ignored rather than read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EvaluateAutoScaleBody {
    pub auto_scale_formula: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolPatchBody {
    pub metadata: Option<Vec<NameValue>>,
    pub start_task: Option<Value>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobPoolInfoBody {
    pub pool_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobCreateBody {
    pub id: Option<String>,
    pub pool_info: Option<JobPoolInfoBody>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskCreateBody {
    pub id: Option<String>,
    pub command_line: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub required_slots: Option<i64>,
}
