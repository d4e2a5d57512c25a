//! Pools: the record the world keeps and its wire rendering.
//!
//! Two timestamps matter for clients that use optimistic concurrency: `lastModified`
//! (and the `eTag` derived from it) moves only on *pool-level* changes made through the
//! API (create, resize, stop, remove nodes, autoscale, patch, delete) — never when nodes
//! come and go, and not when the pool settles back to `steady` (compare the recorded
//! `pool-get-resizing-fixed-scale.json` and `pool-get-steady-fixed-scale.json`).

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::node::{Dealloc, Node};
use crate::autoscale::History;
use crate::clock::{etag_for, format_ts};
use crate::wire::{AutoScaleRunWire, ErrorWire, NameValue, PoolWire, TaskSchedulingPolicyWire};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocationState {
    Steady,
    Resizing,
    Stopping,
}

impl AllocationState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AllocationState::Steady => "steady",
            AllocationState::Resizing => "resizing",
            AllocationState::Stopping => "stopping",
        }
    }
}

/// An allocation fault armed for the pool's next resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocFault {
    /// Allocate at most this many nodes, then settle with `AllocationFailed`.
    FailAfter(u32),
    /// Allocate nothing; only the resize timeout ends the resize (`AllocationTimedout`).
    Stall,
}

/// The last autoscale evaluation, as `autoScaleRun` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AutoScaleRun {
    pub timestamp: OffsetDateTime,
    pub results: String,
    pub error: Option<ErrorWire>,
}

impl AutoScaleRun {
    pub(crate) fn to_wire(&self) -> AutoScaleRunWire {
        AutoScaleRunWire {
            timestamp: format_ts(self.timestamp),
            results: self.results.clone(),
            error: self.error.clone(),
        }
    }
}

/// The running (or last) resize operation.
#[derive(Debug, Clone)]
pub(crate) struct ResizeOp {
    pub alloc_done: bool,
    pub errors: Vec<ErrorWire>,
    pub fault: Option<AllocFault>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub id: String,
    pub display_name: Option<String>,
    pub vm_size: String,
    pub cores_per_node: u32,
    pub vm_config: Option<Value>,
    pub start_task: Option<Value>,
    pub metadata: Vec<NameValue>,
    pub task_slots_per_node: u32,
    pub enable_inter_node_communication: bool,
    pub creation_time: OffsetDateTime,
    pub deleting: bool,
    pub state_transition_time: OffsetDateTime,
    pub allocation_state: AllocationState,
    pub allocation_state_transition_time: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub target_dedicated: u32,
    pub target_low_priority: u32,
    pub resize_timeout: String,
    pub resize_timeout_dur: Duration,
    pub dealloc: Dealloc,
    pub enable_auto_scale: bool,
    pub auto_scale_formula: Option<String>,
    pub auto_scale_interval: Option<String>,
    pub auto_scale_run: Option<AutoScaleRun>,
    /// Bumped when autoscale is enabled or disabled, so a stale evaluation is dropped.
    pub auto_scale_epoch: u64,
    /// Samples of the pool's metrics, for the formulas (taken whether or not autoscale is on,
    /// so a formula enabled later has history to read, as on Batch).
    pub metrics: History,
    /// Shown only while steady.
    pub resize_errors: Vec<ErrorWire>,
    pub op: ResizeOp,
    /// Bumped on each resize/stop/delete so stale scheduled steps are ignored.
    pub epoch: u64,
    pub nodes: Vec<Node>,
    pub node_counter: u64,
}

impl Pool {
    pub(crate) fn etag(&self) -> String {
        etag_for(self.last_modified)
    }

    pub(crate) fn current(&self, dedicated: bool) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.is_dedicated == dedicated)
            .count() as u32
    }

    /// Nodes of a kind that are staying (not leaving).
    pub(crate) fn live(&self, dedicated: bool) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.is_dedicated == dedicated && !n.is_leaving())
            .count() as u32
    }

    pub(crate) fn node_mut(&mut self, id: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// A resizing pool goes steady once allocation is over and no node is still
    /// leaving; its errors show from then on. Returns whether it just did, so the
    /// caller logs the change (the record itself keeps no log).
    pub(crate) fn settle_if_done(&mut self, now: OffsetDateTime) -> bool {
        if self.deleting
            || self.allocation_state != AllocationState::Resizing
            || !self.op.alloc_done
            || self.nodes.iter().any(Node::is_leaving)
        {
            return false;
        }
        self.allocation_state = AllocationState::Steady;
        self.allocation_state_transition_time = now;
        self.resize_errors = std::mem::take(&mut self.op.errors);
        true
    }

    /// The pool's URL, which its nodes' URLs start with.
    pub(crate) fn url(&self, base: &str) -> String {
        format!("{base}/pools/{}", self.id)
    }

    pub(crate) fn to_wire(&self, base: &str) -> PoolWire {
        PoolWire {
            id: self.id.clone(),
            url: self.url(base),
            display_name: self.display_name.clone(),
            e_tag: self.etag(),
            last_modified: format_ts(self.last_modified),
            creation_time: format_ts(self.creation_time),
            state: if self.deleting { "deleting" } else { "active" },
            state_transition_time: format_ts(self.state_transition_time),
            allocation_state: self.allocation_state.as_str(),
            allocation_state_transition_time: format_ts(self.allocation_state_transition_time),
            vm_size: self.vm_size.clone(),
            resize_timeout: (!self.enable_auto_scale).then(|| self.resize_timeout.clone()),
            resize_errors: if self.allocation_state == AllocationState::Steady {
                self.resize_errors.clone()
            } else {
                Vec::new()
            },
            current_dedicated_nodes: self.current(true),
            target_dedicated_nodes: self.target_dedicated,
            current_low_priority_nodes: self.current(false),
            target_low_priority_nodes: self.target_low_priority,
            enable_auto_scale: self.enable_auto_scale,
            auto_scale_formula: self
                .enable_auto_scale
                .then(|| self.auto_scale_formula.clone())
                .flatten(),
            auto_scale_evaluation_interval: self
                .enable_auto_scale
                .then(|| self.auto_scale_interval.clone())
                .flatten(),
            auto_scale_run: self
                .enable_auto_scale
                .then(|| self.auto_scale_run.as_ref().map(AutoScaleRun::to_wire))
                .flatten(),
            enable_inter_node_communication: self.enable_inter_node_communication,
            start_task: self.start_task.clone(),
            metadata: self.metadata.clone(),
            task_slots_per_node: self.task_slots_per_node,
            task_scheduling_policy: TaskSchedulingPolicyWire {
                node_fill_type: "Spread",
                job_default_order: "none",
            },
            virtual_machine_configuration: self.vm_config.clone(),
        }
    }
}

/// Cores per node for the VM sizes the simulator knows (default 1).
pub(crate) fn cores_for(vm_size: &str) -> u32 {
    match vm_size {
        "standard_a1_v2" | "standard_d1_v2" | "standard_ds1_v2" | "standard_b1s"
        | "standard_b1ms" | "standard_f1s" => 1,
        "standard_a2_v2" | "standard_d2_v2" | "standard_d2s_v3" | "standard_d2_v3"
        | "standard_d2s_v5" | "standard_d2ds_v5" | "standard_d2as_v5" | "standard_f2s_v2"
        | "standard_e2s_v3" | "standard_b2s" => 2,
        "standard_a4_v2" | "standard_d4s_v3" | "standard_d4_v3" | "standard_d4s_v5"
        | "standard_f4s_v2" | "standard_e4s_v3" => 4,
        "standard_a8_v2" | "standard_d8s_v3" | "standard_d8s_v5" | "standard_f8s_v2" => 8,
        "standard_d16s_v3" | "standard_d16s_v5" | "standard_f16s_v2" => 16,
        "standard_nc6" => 6,
        _ => 1,
    }
}

/// Ubuntu 22.04 image as the service echoes it.
pub(crate) fn default_vm_config() -> Value {
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

/// The VM configuration as the service echoes it: the image's `version` is `latest`
/// when not given (recorded: JS create without a version, GET shows `"version": "latest"`).
pub(crate) fn normalize_vm_config(mut v: Value) -> Value {
    if let Some(Value::Object(img)) = v.get_mut("imageReference") {
        img.entry("version").or_insert_with(|| json!("latest"));
    }
    v
}

/// Fill the defaults the service adds to a start task (`userIdentity`, `maxTaskRetryCount`,
/// `waitForSuccess`), so a pool reads back as the service would show it.
pub(crate) fn normalize_start_task(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.entry("userIdentity").or_insert_with(
            || json!({"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}),
        );
        m.entry("maxTaskRetryCount").or_insert(json!(0));
        m.entry("waitForSuccess").or_insert(json!(true));
    }
    v
}
