//! Node routes: a pool's nodes, one node, and the account's node counts.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::Value;

use super::listing::{Get, Kind, to_value};
use super::reply::Answer;
use super::state::SimulatorState;
use crate::errors::ErrorReply;
use crate::model::node::{Node, NodeState};
use crate::wire::{NodeCountsWire, PoolNodeCountsWire};

pub(super) fn routes() -> Router<SimulatorState> {
    Router::new()
        .route("/pools/{id}/nodes", get(list))
        .route("/pools/{id}/nodes/{node}", get(read))
        .route("/nodecounts", get(counts))
}

/// A node as the request's api-version shows it.
fn node_json(n: &Node, pool_url: &str, get: &Get) -> Result<Value, ErrorReply> {
    let mut v = to_value(n.to_wire(pool_url))?;
    get.version.adapt_node(&mut v);
    Ok(v)
}

/// `GET /pools/{id}/nodes`.
async fn list(get: Get, Path(id): Path<String>) -> Answer {
    let w = get.state.lock_world();
    let p = w.pools.get(&id).ok_or_else(ErrorReply::pool_not_found)?;
    let purl = p.url(get.base());
    let nodes = p.nodes.iter().map(|n| node_json(n, &purl, &get));
    get.list(Kind::Node, &format!("{purl}/nodes"), nodes)
}

/// `GET /pools/{id}/nodes/{node}`.
async fn read(get: Get, Path((id, node)): Path<(String, String)>) -> Answer {
    let w = get.state.lock_world();
    let p = w.pools.get(&id).ok_or_else(ErrorReply::pool_not_found)?;
    let n = p
        .nodes
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(ErrorReply::node_not_found)?;
    get.entity(Kind::Node, node_json(n, &p.url(get.base()), &get)?, None)
}

/// `GET /nodecounts`: per pool, dedicated and low-priority nodes by state.
async fn counts(get: Get) -> Answer {
    let w = get.state.lock_world();
    let counts = w.pools.values().map(|p| {
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
                NodeState::Rebooting => c.rebooting += 1,
                NodeState::Reimaging => c.reimaging += 1,
            }
            c.total += 1;
        }
        to_value(PoolNodeCountsWire {
            pool_id: p.id.clone(),
            dedicated: d,
            low_priority: l,
        })
    });
    get.list(
        Kind::NodeCounts,
        &format!("{}/nodecounts", get.base()),
        counts,
    )
}
