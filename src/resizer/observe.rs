//! Looking at a pool: which look the loop takes (another caller's, the
//! nodes only, the whole pool), what one observation reads (the pool, and
//! its nodes when readiness is judged), the nodes-only look of the
//! start-task phase, and the status check's side-by-side look.

use super::api::PoolApi;
use super::budget::Cut;
use super::converger::{Converger, Run};
use super::decide::{History, Step, WaitReason, decide};
use super::snapshot::{NodeTally, Observed, Snapshot};
use super::want::{Operation, Want};
use crate::batch::BatchError;
use crate::batch::models::Pool;
use std::time::Duration;

impl<B: PoolApi> Converger<'_, B> {
    /// One look at the pool, the cheapest that will do: another caller's
    /// recent look, the nodes only while the pool this run read is fresh
    /// and nobody else is waiting on it, else the pool and its nodes
    /// (shared with the callers waiting on the same pool). `Ok((observed,
    /// whether the pool itself was read))`.
    pub(super) async fn look(
        &self,
        want: &Want,
        run: &mut Run<'_>,
        pool_read_at: Duration,
    ) -> Result<(Observed, bool), Cut> {
        let budget = run.budget;
        let crowded = self.looks.is_some_and(|looks| looks.crowded(&want.pool_id));
        let reuse = run
            .last
            .as_ref()
            .filter(|_| {
                budget.elapsed().saturating_sub(pool_read_at) < self.policy.pool_refresh
                    && !run.stale
                    && !crowded
            })
            .and_then(|seen| nodes_only_pool(seen, want, run.history))
            .cloned();
        let mut calls = 0;
        let needs_nodes = judges_readiness(want);
        let since = run.newest;
        let shared = self
            .looks
            .and_then(|looks| looks.recent(&want.pool_id, since, needs_nodes));
        let look = async {
            match (shared, &reuse, self.looks) {
                (Some(observed), _, _) => Ok((observed, true)),
                (None, Some(pool), _) => self.observe_nodes(want, pool.clone(), &mut calls).await,
                (None, None, Some(looks)) => looks
                    .look(
                        &want.pool_id,
                        since,
                        needs_nodes,
                        self.observe(want, &mut calls),
                    )
                    .await
                    .map(|(observed, _)| (observed, true)),
                (None, None, None) => self.observe(want, &mut calls).await.map(|o| (o, true)),
            }
        };
        let looked = self.bounded(look, budget).await;
        run.calls += calls;
        looked
    }

    /// A look that lists the nodes only, judged with the pool read earlier
    /// (`(observation, pool_read)`). When the nodes do not add up to the
    /// pool's counts (someone resized, nodes left) the pool is read too.
    pub(super) async fn observe_nodes(
        &self,
        want: &Want,
        pool: Pool,
        calls: &mut u32,
    ) -> Result<(Observed, bool), BatchError> {
        *calls += 1;
        let nodes = match self.batch.list_nodes(&want.pool_id).await {
            Ok(nodes) => nodes,
            Err(e) if e.is_not_found() => return Ok((Observed::Missing, true)),
            Err(e) => return Err(e),
        };
        let dedicated = nodes.iter().filter(|n| n.is_dedicated()).count();
        let consistent = dedicated == pool.current_dedicated_nodes as usize
            && nodes.len() - dedicated == pool.current_low_priority_nodes as usize;
        if !consistent {
            return self.observe(want, calls).await.map(|o| (o, true));
        }
        Ok((
            Observed::Pool(Box::new(Snapshot {
                pool,
                nodes: Some(NodeTally::from_nodes(&nodes)),
                observed_at: self.clock.now_utc(),
            })),
            false,
        ))
    }

    /// The status check's look: the pool GET and the node list side by
    /// side, because a person or a pipeline waits on this answer and the two
    /// round trips in a row were most of its latency (`docs/benchmarks.md`).
    pub(super) async fn observe_at_once(
        &self,
        want: &Want,
        calls: &mut u32,
    ) -> Result<Observed, BatchError> {
        *calls += 2;
        let (pool, nodes) = tokio::join!(
            self.batch.get_pool(&want.pool_id),
            self.batch.list_nodes(&want.pool_id)
        );
        let pool = match pool {
            Ok(pool) => pool,
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        let nodes = match nodes {
            Ok(nodes) => NodeTally::from_nodes(&nodes),
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        Ok(Observed::Pool(Box::new(Snapshot {
            pool,
            nodes: Some(nodes),
            observed_at: self.clock.now_utc(),
        })))
    }

    /// One GET of the pool, plus the node list when readiness must be judged.
    pub(super) async fn observe(
        &self,
        want: &Want,
        calls: &mut u32,
    ) -> Result<Observed, BatchError> {
        *calls += 1;
        let pool = match self.batch.get_pool(&want.pool_id).await {
            Ok(pool) => pool,
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        // A shrink from a steady pool removes failed nodes first, so it
        // needs to know them; a scale-up judges readiness.
        let shrinking = want.operation == Operation::ScaleDown
            && pool.allocation_state == Some(crate::batch::models::AllocationState::Steady)
            && pool.current_dedicated_nodes + pool.current_low_priority_nodes
                > want.dedicated + want.low_priority;
        let wants_nodes = (judges_readiness(want) || shrinking)
            && !pool.enable_auto_scale
            && pool.state != Some(crate::batch::models::PoolState::Deleting);
        let nodes = if !wants_nodes {
            None
        } else if pool.current_dedicated_nodes + pool.current_low_priority_nodes == 0 {
            Some(NodeTally::default())
        } else {
            *calls += 1;
            match self.batch.list_nodes(&want.pool_id).await {
                Ok(nodes) => Some(NodeTally::from_nodes(&nodes)),
                Err(e) if e.is_not_found() => return Ok(Observed::Missing),
                Err(e) => return Err(e),
            }
        };
        Ok(Observed::Pool(Box::new(Snapshot {
            pool,
            nodes,
            observed_at: self.clock.now_utc(),
        })))
    }
}

/// Whether deciding for `want` needs the node list (scale-up to some nodes).
pub(super) fn judges_readiness(want: &Want) -> bool {
    want.operation == Operation::ScaleUp && (want.dedicated > 0 || want.low_priority > 0)
}

pub(super) fn etag_of(observed: &Observed) -> Option<String> {
    match observed {
        Observed::Pool(snapshot) => snapshot.pool.e_tag.clone(),
        Observed::Missing => None,
    }
}

/// The pool of an observation after which only the nodes can change the
/// decision: steady, targets and current counts cover the want, and the
/// last decision was to wait for nodes to start. Scale-up only (scale-down
/// never lists nodes).
pub(super) fn nodes_only_pool<'o>(
    observed: &'o Observed,
    want: &Want,
    history: History,
) -> Option<&'o Pool> {
    let Observed::Pool(snapshot) = observed else {
        return None;
    };
    let pool = &snapshot.pool;
    let (dedicated, low_priority) = super::decide::sizing(snapshot, want).ready;
    let covered = pool.allocation_state == Some(crate::batch::models::AllocationState::Steady)
        && pool.current_dedicated_nodes >= dedicated
        && pool.current_low_priority_nodes >= low_priority
        && snapshot.nodes.is_some();
    let waiting_for_nodes = matches!(
        decide(observed, want, history),
        Step::Wait(WaitReason::NodesStarting)
    );
    (want.operation == Operation::ScaleUp && covered && waiting_for_nodes).then_some(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::models::{Node, NodeState};
    use crate::resizer::fixtures::{down, up};

    /// Only a steady pool that covers the want, whose decision is to wait
    /// for nodes to start, is judged on node lists alone.
    #[test]
    #[rustfmt::skip]
    fn node_lists_alone_only_while_nodes_start() {
        let booting = || Node::test(NodeState::Starting);
        let rows = [
            ("steady, its node booting", Pool::test("p").steady(1).nodes([booting()]).observed(), up(1), true),
            ("nodes not listed", Pool::test("p").steady(1).observed(), up(1), false),
            ("still allocating", Pool::test("p").resizing(1).nodes([]).observed(), up(1), false),
            ("short of the want", Pool::test("p").steady(1).nodes([booting()]).observed(), up(2), false),
            ("ready: done", Pool::test("p").steady(1).idle_nodes(1).observed(), up(1), false),
            ("a scale-down", Pool::test("p").steady(1).nodes([booting()]).observed(), down(0), false),
            ("the pool is gone", Observed::Missing, up(1), false),
        ];
        for (what, observed, want, nodes_only) in rows {
            let pool = nodes_only_pool(&observed, &want, History::default());
            assert_eq!(pool.is_some(), nodes_only, "{what}");
        }
        assert!(judges_readiness(&up(1)));
        assert!(!judges_readiness(&up(0)) && !judges_readiness(&down(1)));
    }
}
