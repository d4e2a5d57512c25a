//! Node routes: a pool's nodes, one node, and the account's node counts.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::extract::Query;
use super::listing::{Kind, list_page, single};
use super::reply::Reply;
use super::state::AppState;
use crate::errors::ApiError;
use crate::model::node::{Node, NodeState};
use crate::versions::ApiVersion;
use crate::wire::{NodeCountsWire, PoolNodeCountsWire};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pools/{id}/nodes", get(list))
        .route("/pools/{id}/nodes/{node}", get(read))
        .route("/nodecounts", get(counts))
}

type Answer = Result<Reply, ApiError>;

/// A node as `version` shows it.
fn node_json(n: &Node, pool_url: &str, version: ApiVersion) -> Result<serde_json::Value, ApiError> {
    let mut v = serde_json::to_value(n.to_wire(pool_url))
        .map_err(|_| ApiError::internal("InternalError"))?;
    version.adapt_node(&mut v);
    Ok(v)
}

/// `GET /pools/{id}/nodes`, in node id order.
async fn list(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let p = w.pools.get(&id).ok_or_else(ApiError::pool_not_found)?;
    let purl = format!("{base}/pools/{}", p.id);
    let mut items: Vec<(String, serde_json::Value)> = p
        .nodes
        .iter()
        .map(|n| Ok((n.id.clone(), node_json(n, &purl, version)?)))
        .collect::<Result<_, ApiError>>()?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let body = list_page(
        Kind::Node,
        version,
        items,
        &q,
        format!("{base}/$metadata#nodes"),
        &format!("{purl}/nodes"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}

/// `GET /pools/{id}/nodes/{node}`.
async fn read(
    State(s): State<AppState>,
    Path((id, node)): Path<(String, String)>,
    version: ApiVersion,
    q: Query,
) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let p = w.pools.get(&id).ok_or_else(ApiError::pool_not_found)?;
    let n = p
        .nodes
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(ApiError::node_not_found)?;
    let purl = format!("{base}/pools/{}", p.id);
    let body = single(
        Kind::Node,
        version,
        node_json(n, &purl, version)?,
        &q,
        format!("{base}/$metadata#nodes/@Element"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}

/// `GET /nodecounts`: per pool, dedicated and low-priority nodes by state.
async fn counts(State(s): State<AppState>, version: ApiVersion, q: Query) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let items = w
        .pools
        .values()
        .map(|p| {
            let mut d = NodeCountsWire::default();
            let mut l = NodeCountsWire::default();
            for n in &p.nodes {
                let c = if n.is_dedicated { &mut d } else { &mut l };
                match n.state {
                    NodeState::Creating => c.creating += 1,
                    NodeState::Starting => c.starting += 1,
                    NodeState::WaitingForStartTask => c.waiting_for_start_task += 1,
                    NodeState::Idle => c.idle += 1,
                    NodeState::Running => c.running += 1,
                    NodeState::StartTaskFailed => c.start_task_failed += 1,
                    NodeState::Unusable => c.unusable += 1,
                    NodeState::LeavingPool => c.leaving_pool += 1,
                    NodeState::Preempted => c.preempted += 1,
                }
                c.total += 1;
            }
            let counts = PoolNodeCountsWire {
                pool_id: p.id.clone(),
                dedicated: d,
                low_priority: l,
            };
            let v =
                serde_json::to_value(counts).map_err(|_| ApiError::internal("InternalError"))?;
            Ok((p.id.clone(), v))
        })
        .collect::<Result<_, ApiError>>()?;
    let body = list_page(
        Kind::NodeCounts,
        version,
        items,
        &q,
        format!("{base}/$metadata#poolnodecounts"),
        &format!("{base}/nodecounts"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}
