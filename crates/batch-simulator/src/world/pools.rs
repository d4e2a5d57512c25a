//! Pools: the API's pool operations, and the events that finish them.
//!
//! A resize is the heart of it:
//!
//! ```text
//! resize (API)      steady -> resizing; nodes to drop start leaving at once;
//!                   schedules Allocate (+ ResizeTimeout), or AllocDone when nothing to add
//! Allocate          the VMs exist: node records appear `creating` (as many as the
//!                   quota and an armed allocation fault allow); schedules AllocDone
//! AllocDone         allocation over: steady once no node is still leaving
//! ResizeTimeout     allocation still running at resizeTimeout: AllocationTimedout
//! stopresize (API)  resizing -> stopping; StopDone: steady, ResizeStopped if short
//! delete (API)      deleting, every node leaves; PoolGone once they are gone
//! ```
//!
//! The pool goes `steady` *before* its nodes are idle, as the service does: allocation
//! is about VMs, not about their boot. `lastModified` (and the ETag) move only on the
//! API operations here, never on the events.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::agenda::{Action, Agenda};
use super::nodes;
use crate::errors::ErrorReply;
use crate::model::node::Dealloc;
use crate::model::pool::{
    AllocFault, AllocationState, Pool, ResizeOp, cores_for, default_vm_config, normalize_start_task,
};
use crate::model::{Jobs, Pools};
use crate::wire::NameValue;

mod resize;

pub(super) use resize::{
    Resize, alloc_done, allocate, remove_nodes, resize, resize_timeout, start_resize, stop_done,
    stop_resize,
};

/// Parameters of a pool creation, already validated.
#[derive(Debug, Clone)]
pub(crate) struct NewPool {
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
    pub(crate) fn default_ubuntu(id: &str) -> Self {
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

/// `POST /pools` after validation: the record, then its initial sizing (even to 0 it
/// shows `resizing` briefly, as recorded).
pub(super) fn create(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    np: NewPool,
    fault: impl FnOnce() -> Option<AllocFault>,
) -> Result<(), ErrorReply> {
    if pools.contains_key(&np.id) {
        return Err(ErrorReply::new(
            StatusCode::CONFLICT,
            "PoolExists",
            "The specified pool already exists.",
        ));
    }
    let now = agenda.now();
    let mut pool = Pool {
        id: np.id.clone(),
        display_name: np.display_name,
        vm_size: np.vm_size.clone(),
        cores_per_node: cores_for(&np.vm_size),
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
        auto_scale_epoch: 0,
        metrics: Default::default(),
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
    // The formula's first evaluation follows at once (`World::create_pool`).
    if let Some((formula, interval)) = np.auto_scale {
        pool.enable_auto_scale = true;
        pool.auto_scale_formula = Some(formula);
        pool.auto_scale_interval = Some(interval);
    }
    pools.insert(np.id.clone(), pool);
    let to = Resize {
        dedicated: np.target_dedicated,
        low_priority: np.target_low_priority,
        timeout: np.resize_timeout,
        dealloc: Dealloc::Requeue,
        touch: false,
    };
    start_resize(agenda, pools, jobs, &np.id, to, fault());
    Ok(())
}

/// A pool that exists and is not being deleted, for a mutating call.
pub(super) fn for_change<'a>(pools: &'a mut Pools, id: &str) -> Result<&'a mut Pool, ErrorReply> {
    let p = pools.get_mut(id).ok_or_else(ErrorReply::pool_not_found)?;
    if p.deleting {
        return Err(ErrorReply::pool_being_deleted());
    }
    Ok(p)
}

/// Batch refuses pool metadata above a size with 400 `MetadataTooLarge`; it
/// documents no number, so the limit is the config's (names and values,
/// UTF-8 bytes, added up).
pub(super) fn check_metadata(metadata: &[NameValue], limit: usize) -> Result<(), ErrorReply> {
    let size: usize = metadata.iter().map(|m| m.name.len() + m.value.len()).sum();
    if size > limit {
        return Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "MetadataTooLarge",
            "The size of the metadata exceeds the maximum permitted.",
        ));
    }
    Ok(())
}

/// `PATCH /pools/{id}`: replaces what is given (metadata as a whole list).
pub(super) fn patch(
    agenda: &Agenda,
    pools: &mut Pools,
    id: &str,
    metadata: Option<Vec<NameValue>>,
    start_task: Option<Value>,
    display_name: Option<String>,
) -> Result<(), ErrorReply> {
    let now = agenda.now();
    let p = for_change(pools, id)?;
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

/// What the service shows as a deleted pool's `resizeTimeout` (recorded by the Java and
/// .NET SDKs on two different pools: `PT7M9.497S`).
pub(super) const DELETE_RESIZE_TIMEOUT: &str = "PT7M9.497S";

/// `DELETE /pools/{id}`: `deleting` (a new `lastModified`, so a new ETag), resizing
/// toward 0 with every node leaving, for `Timing::pool_delete` (recorded: 108 s with its
/// node still counted); then the pool and its nodes are gone at once.
pub(super) fn delete(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
) -> Result<(), ErrorReply> {
    let p = for_change(pools, id)?;
    let now = agenda.now();
    p.deleting = true;
    p.state_transition_time = now;
    p.last_modified = now;
    p.epoch += 1;
    p.target_dedicated = 0;
    p.target_low_priority = 0;
    p.resize_timeout = DELETE_RESIZE_TIMEOUT.into();
    p.resize_errors.clear();
    p.allocation_state = AllocationState::Resizing;
    p.allocation_state_transition_time = now;
    let ids: Vec<String> = p.nodes.iter().map(|n| n.id.clone()).collect();
    for nid in ids {
        nodes::leave_with_pool(agenda, jobs, p, &nid);
    }
    agenda.pool_event(p);
    let after = agenda.jitter(agenda.timing.pool_delete);
    agenda.schedule(
        after,
        Action::PoolGone {
            pool: id.to_string(),
        },
    );
    Ok(())
}

/// Handles [`Action::PoolGone`]: the record disappears with the nodes it still had,
/// with a last `poolTarget` event whose state is `deleted`.
pub(super) fn gone(agenda: &mut Agenda, pools: &mut Pools, pool: &str) {
    if let Some(p) = pools.remove(pool) {
        for n in &p.nodes {
            agenda.log(crate::events::EventKind::Node {
                pool_id: p.id.clone(),
                node_id: n.id.clone(),
                from: Some(n.state.as_str().to_string()),
                to: "removed".into(),
            });
        }
        agenda.log(crate::events::EventKind::PoolTarget {
            pool_id: p.id,
            target_dedicated_nodes: 0,
            target_low_priority_nodes: 0,
            current_dedicated_nodes: 0,
            current_low_priority_nodes: 0,
            allocation_state: "steady".into(),
            state: "deleted".into(),
        });
    }
}

#[cfg(test)]
mod tests;
