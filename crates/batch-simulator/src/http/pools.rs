//! Pool routes: `/pools` and `/pools/{id}` with its actions.
//!
//! Each handler reads and checks the request first (the body before the pool: the
//! service rejects a bad body even for a pool that does not exist), then locks the world
//! and acts. The lock is held only for the in-memory work, never across an `.await`.
//!
//! Mutations answer with the pool's `ETag`, `Last-Modified` and `DataServiceId`; `If-Match`
//! / `If-None-Match` are checked against the pool's ETag.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};

use super::conditional::{changed, check_conditions};
use super::extract::{
    NODE_REMOVE, POOL_CREATE, POOL_PATCH, POOL_RESIZE, check_id, count, parse_dealloc,
    parse_timeout, read_body,
};
use super::listing::{Get, Kind, to_value};
use super::reply::{Answer, Reply};
use super::state::SimulatorState;
use crate::errors::ErrorReply;
use crate::model::pool::{Pool, default_vm_config, normalize_start_task, normalize_vm_config};
use crate::versions::ApiVersion;
use crate::wire::{PoolBody, PoolPatchBody};
use crate::world::NewPool;

pub(super) fn routes() -> Router<SimulatorState> {
    Router::new()
        .route("/pools", get(list).post(create))
        .route("/pools/{id}", get(read).patch(patch).delete(delete))
        .route("/pools/{id}/{action}", post(action))
}

/// A pool as the request's api-version shows it.
fn pool_json(p: &Pool, get: &Get) -> Result<serde_json::Value, ErrorReply> {
    let mut v = to_value(p.to_wire(get.base()))?;
    get.version.adapt_pool(&mut v, p.node_counter > 0);
    Ok(v)
}

/// `GET /pools` (the list answers GET only, not HEAD).
async fn list(get: Get, method: Method) -> Answer {
    if method == Method::HEAD {
        return Err(ErrorReply::unsupported_operation());
    }
    let w = get.state.lock_world();
    let pools = w.pools.values().map(|p| pool_json(p, &get));
    get.list(Kind::Pool, &format!("{}/pools", get.base()), pools)
}

/// `POST /pools`.
async fn create(State(s): State<SimulatorState>, version: ApiVersion, body: Bytes) -> Answer {
    let b: PoolBody = read_body(&body, version, &POOL_CREATE)?;
    let target_dedicated = count("targetDedicatedNodes", b.target_dedicated_nodes)?;
    let target_low_priority = count("targetLowPriorityNodes", b.target_low_priority_nodes)?;
    let task_slots = count("taskSlotsPerNode", b.task_slots_per_node)?;
    let id = check_id(
        b.id.clone()
            .ok_or_else(|| ErrorReply::missing_property("id"))?,
    )?;
    let vm = b
        .vm_size
        .clone()
        .ok_or_else(|| ErrorReply::missing_property("vmSize"))?;
    let timeout = parse_timeout(b.resize_timeout.as_deref())?;
    let auto = b.enable_auto_scale.unwrap_or(false);
    if auto && (target_dedicated.is_some() || target_low_priority.is_some()) {
        return Err(ErrorReply::invalid_property(
            "targetDedicatedNodes",
            "set",
            "Targets cannot be given when enableAutoScale is true.",
        ));
    }
    let auto_scale = if auto {
        let f = b
            .auto_scale_formula
            .clone()
            .ok_or_else(|| ErrorReply::missing_property("autoScaleFormula"))?;
        crate::world::autoscale::check_formula(&f)?;
        let interval = b
            .auto_scale_evaluation_interval
            .clone()
            .unwrap_or_else(|| crate::world::autoscale::DEFAULT_INTERVAL.into());
        crate::world::autoscale::check_interval(&interval)?;
        Some((f, interval))
    } else {
        None
    };
    let mut w = s.lock_world();
    w.create_pool(NewPool {
        id: id.clone(),
        display_name: b.display_name,
        vm_size: vm.to_ascii_lowercase(),
        vm_config: Some(normalize_vm_config(
            b.virtual_machine_configuration
                .unwrap_or_else(default_vm_config),
        )),
        start_task: b.start_task.map(normalize_start_task),
        metadata: b.metadata.unwrap_or_default(),
        task_slots_per_node: task_slots.unwrap_or(1),
        enable_inter_node_communication: b.enable_inter_node_communication.unwrap_or(false),
        target_dedicated: target_dedicated.unwrap_or(0),
        target_low_priority: target_low_priority.unwrap_or(0),
        resize_timeout: timeout,
        auto_scale,
    })?;
    let p = w
        .pools
        .get(&id)
        .ok_or_else(|| ErrorReply::internal("InternalError"))?;
    Ok(Reply::created(p.url(&s.base_url), p.last_modified))
}

/// `GET|HEAD /pools/{id}`: `If-None-Match` on the current ETag answers 304.
async fn read(get: Get, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    let w = get.state.lock_world();
    let p = w.pools.get(&id).ok_or_else(ErrorReply::pool_not_found)?;
    check_conditions(&headers, &p.etag(), true)?;
    get.entity(Kind::Pool, pool_json(p, &get)?, Some(p.last_modified))
}

/// `PATCH /pools/{id}`: metadata, start task, display name.
async fn patch(
    State(s): State<SimulatorState>,
    Path(id): Path<String>,
    version: ApiVersion,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: PoolPatchBody = read_body(&body, version, &POOL_PATCH)?;
    if let Some(md) = &b.metadata
        && md.iter().any(|nv| nv.name.is_empty())
    {
        return Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "EmptyMetadataKey",
            "A metadata name cannot be empty.",
        ));
    }
    let mut w = s.lock_world();
    let p = w.pool_for_change(&id)?;
    check_conditions(&headers, &p.etag(), false)?;
    w.patch_pool(&id, b.metadata, b.start_task, b.display_name)?;
    changed(&w, &s.base_url, &id, StatusCode::OK, None)
}

/// `DELETE /pools/{id}`.
async fn delete(
    State(s): State<SimulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let mut w = s.lock_world();
    if let Some(p) = w.pools.get(&id) {
        check_conditions(&headers, &p.etag(), false)?;
    }
    w.delete_pool(&id)?;
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `POST /pools/{id}/{action}`; an unknown action is 404 `ResourceNotFound`.
async fn action(
    State(s): State<SimulatorState>,
    Path((id, action)): Path<(String, String)>,
    version: ApiVersion,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    match action.as_str() {
        "resize" => resize(&s, &id, version, &headers, &body),
        "stopresize" => stop_resize(&s, &id, &headers),
        "removenodes" => remove_nodes(&s, &id, version, &headers, &body),
        "enableautoscale" => super::autoscale::enable(&s, &id, &headers, &body),
        "disableautoscale" => super::autoscale::disable(&s, &id),
        "evaluateautoscale" => super::autoscale::evaluate(&s, &id, &body),
        _ => Err(ErrorReply::resource_not_found()),
    }
}

/// `resize`: a target is required, checked before the pool lookup (as recorded).
fn resize(
    s: &SimulatorState,
    id: &str,
    version: ApiVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let b: PoolBody = read_body(body, version, &POOL_RESIZE)?;
    if b.target_dedicated_nodes.is_none() && b.target_low_priority_nodes.is_none() {
        return Err(ErrorReply::missing_property(
            "targetDedicatedNodes and/or targetLowPriorityNodes",
        ));
    }
    let dedicated = count("targetDedicatedNodes", b.target_dedicated_nodes)?;
    let low_priority = count("targetLowPriorityNodes", b.target_low_priority_nodes)?;
    let timeout = parse_timeout(b.resize_timeout.as_deref())?;
    let dealloc = parse_dealloc(b.node_deallocation_option.as_deref())?;
    let mut w = s.lock_world();
    let p = w.pool_for_change(id)?;
    check_conditions(headers, &p.etag(), false)?;
    w.resize(id, dedicated, low_priority, timeout, dealloc)?;
    changed(&w, &s.base_url, id, StatusCode::ACCEPTED, Some("resize"))
}

fn stop_resize(s: &SimulatorState, id: &str, headers: &HeaderMap) -> Answer {
    let mut w = s.lock_world();
    let p = w.pool_for_change(id)?;
    check_conditions(headers, &p.etag(), false)?;
    w.stop_resize(id)?;
    changed(
        &w,
        &s.base_url,
        id,
        StatusCode::ACCEPTED,
        Some("stopresize"),
    )
}

/// `removenodes`: 1 to 100 node ids.
fn remove_nodes(
    s: &SimulatorState,
    id: &str,
    version: ApiVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let b: PoolBody = read_body(body, version, &NODE_REMOVE)?;
    let list = b
        .node_list
        .ok_or_else(|| ErrorReply::missing_property("nodeList"))?;
    if list.is_empty() || list.len() > 100 {
        return Err(ErrorReply::invalid_property(
            "nodeList",
            list.len().to_string(),
            "nodeList must hold between 1 and 100 node ids.",
        ));
    }
    let timeout = parse_timeout(b.resize_timeout.as_deref())?;
    let dealloc = parse_dealloc(b.node_deallocation_option.as_deref())?;
    let mut w = s.lock_world();
    let p = w.pool_for_change(id)?;
    check_conditions(headers, &p.etag(), false)?;
    w.remove_nodes(id, &list, timeout, dealloc)?;
    changed(
        &w,
        &s.base_url,
        id,
        StatusCode::ACCEPTED,
        Some("removenodes"),
    )
}
