//! The converge loop: observe -> decide -> act -> sleep, until the want is met,
//! it fails, or the wait budget ends.
//!
//! Running out of budget is not failure: the caller gets `Pending` and answers
//! 202 with a status URL; the status check runs the same observe + decide
//! (without acting), so any instance can answer and a restart loses nothing.
//! Acting is idempotent by construction: every action is chosen from a fresh
//! observation, and a 409 from Batch (someone else changed the pool between
//! our GET and our POST) is simply a reason to look again.

use super::decide::{Failure, History, ResizeTo, Step, WaitReason, decide};
use super::snapshot::{NodeTally, Observed, Snapshot};
use super::want::{Operation, Want};
use crate::batch::models::{Node, Pool, ResizePool};
use crate::batch::{BatchClient, BatchError, PoolId};
use crate::clock::Clock;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// The Batch calls the loop needs; `BatchClient` in production, a scripted
/// fake in unit tests.
pub trait PoolApi: Sync {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send;
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send;
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn stop_resize(&self, pool_id: &PoolId) -> impl Future<Output = Result<(), BatchError>> + Send;
}

impl PoolApi for BatchClient {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send {
        BatchClient::get_pool(self, pool_id)
    }
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send {
        BatchClient::list_nodes(self, pool_id, None)
    }
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::resize_pool(self, pool_id, body)
    }
    fn stop_resize(&self, pool_id: &PoolId) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::stop_resize(self, pool_id)
    }
}

/// How often to look. The interval grows because early polls catch quick
/// wins (already ready, a resize accepted) and late ones only wait for VMs.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub first: Duration,
    pub max: Duration,
    pub growth: f64,
    /// `resizeTimeout` sent with our resizes (Batch default 15 min, min 5 min).
    pub resize_timeout: Option<Duration>,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(15),
            growth: 1.5,
            resize_timeout: None,
        }
    }
}

/// Something the loop did to the pool, for the response body and the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    #[serde(rename_all = "camelCase")]
    Resize {
        target_dedicated_nodes: u32,
        target_low_priority_nodes: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        node_deallocation_option: Option<&'static str>,
        /// Seconds after the start of the call.
        after_seconds: f64,
    },
    #[serde(rename_all = "camelCase")]
    StopResize { after_seconds: f64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Converged,
    Failed(Failure),
    /// Budget spent while the pool was still on its way.
    Pending(WaitReason),
}

#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    /// The last observation: what the response shows of the pool.
    pub last: Observed,
    pub actions: Vec<Action>,
    pub waited: Duration,
    pub batch_calls: u32,
}

/// A Batch call failed in a way looking again will not fix (after the
/// pipeline's own retries): auth refused, transport down, a 4xx we did not expect.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct ConvergeError {
    pub context: String,
    #[source]
    pub source: BatchError,
    pub actions: Vec<Action>,
    pub waited: Duration,
}

pub struct Converger<'a, B: PoolApi> {
    pub batch: &'a B,
    pub clock: Clock,
    pub policy: PollPolicy,
}

impl<B: PoolApi> Converger<'_, B> {
    /// Observe + decide once, without acting: the status check.
    pub async fn check(&self, want: &Want) -> Result<Report, ConvergeError> {
        let mut calls = 0;
        let observed = self
            .observe(want, &mut calls)
            .await
            .map_err(|e| self.error(e, want, "reading the pool", Vec::new(), Duration::ZERO))?;
        let outcome = match decide(&observed, want, History::assume_resized()) {
            Step::Done => Outcome::Converged,
            Step::Fail(failure) => Outcome::Failed(failure),
            Step::Wait(reason) => Outcome::Pending(reason),
            Step::Resize(_) | Step::StopResize => Outcome::Pending(WaitReason::Resizing),
        };
        Ok(Report {
            outcome,
            last: observed,
            actions: Vec::new(),
            waited: Duration::ZERO,
            batch_calls: calls,
        })
    }

    /// Drive the pool toward `want` for at most `budget` of (clock) time.
    pub async fn converge(&self, want: &Want, budget: Duration) -> Result<Report, ConvergeError> {
        let watch = self.clock.start();
        let mut history = History::default();
        let mut actions = Vec::new();
        let mut calls = 0;
        let mut interval = self.policy.first;
        loop {
            let observed = match self.observe(want, &mut calls).await {
                Ok(observed) => observed,
                Err(e) => {
                    return Err(self.error(e, want, "reading the pool", actions, watch.elapsed()));
                }
            };
            let step = decide(&observed, want, history);
            tracing::debug!(pool = %want.pool_id, ?step, "decided");
            let outcome = match step {
                Step::Done => Some(Outcome::Converged),
                Step::Fail(failure) => Some(Outcome::Failed(failure)),
                Step::Wait(_) => None,
                Step::Resize(target) => {
                    calls += 1;
                    history.resizes_issued += 1;
                    match self.resize(&want.pool_id, target).await {
                        Ok(()) => {
                            tracing::info!(
                                pool = %want.pool_id,
                                dedicated = target.dedicated,
                                low_priority = target.low_priority,
                                "resize accepted"
                            );
                            actions.push(resize_action(target, watch.elapsed()));
                            interval = self.policy.first;
                        }
                        Err(e) if e.is_conflict() || e.is_not_found() => {
                            tracing::info!(pool = %want.pool_id, code = e.code(), "resize refused; looking again");
                        }
                        Err(e) => {
                            return Err(self.error(
                                e,
                                want,
                                "resizing the pool",
                                actions,
                                watch.elapsed(),
                            ));
                        }
                    }
                    None
                }
                Step::StopResize => {
                    calls += 1;
                    match self.batch.stop_resize(&want.pool_id).await {
                        Ok(()) => {
                            tracing::info!(pool = %want.pool_id, "stop-resize accepted");
                            actions.push(Action::StopResize {
                                after_seconds: seconds(watch.elapsed()),
                            });
                            interval = self.policy.first;
                        }
                        Err(e) if e.is_conflict() || e.is_not_found() => {
                            tracing::info!(pool = %want.pool_id, code = e.code(), "stop-resize refused; looking again");
                        }
                        Err(e) => {
                            return Err(self.error(
                                e,
                                want,
                                "stopping a resize",
                                actions,
                                watch.elapsed(),
                            ));
                        }
                    }
                    None
                }
            };
            let waited = watch.elapsed();
            if let Some(outcome) = outcome {
                return Ok(Report {
                    outcome,
                    last: observed,
                    actions,
                    waited,
                    batch_calls: calls,
                });
            }
            if waited >= budget {
                let reason = match decide(&observed, want, History::assume_resized()) {
                    Step::Wait(reason) => reason,
                    _ => WaitReason::Resizing,
                };
                return Ok(Report {
                    outcome: Outcome::Pending(reason),
                    last: observed,
                    actions,
                    waited,
                    batch_calls: calls,
                });
            }
            self.clock.sleep(interval.min(budget - waited)).await;
            interval = interval.mul_f64(self.policy.growth).min(self.policy.max);
        }
    }

    /// One GET of the pool, plus the node list when readiness must be judged.
    async fn observe(&self, want: &Want, calls: &mut u32) -> Result<Observed, BatchError> {
        *calls += 1;
        let pool = match self.batch.get_pool(&want.pool_id).await {
            Ok(pool) => pool,
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        let wants_nodes = want.operation == Operation::ScaleUp
            && (want.dedicated > 0 || want.low_priority > 0)
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
        Ok(Observed::Pool(Snapshot { pool, nodes }))
    }

    async fn resize(&self, pool_id: &PoolId, target: ResizeTo) -> Result<(), BatchError> {
        let body = ResizePool {
            target_dedicated_nodes: target.dedicated,
            target_low_priority_nodes: target.low_priority,
            resize_timeout: self.policy.resize_timeout.map(iso8601_duration),
            node_deallocation_option: target.deallocation,
        };
        self.batch.resize_pool(pool_id, &body).await
    }

    fn error(
        &self,
        source: BatchError,
        want: &Want,
        doing: &str,
        actions: Vec<Action>,
        waited: Duration,
    ) -> ConvergeError {
        ConvergeError {
            context: format!("{doing} '{}'", want.pool_id),
            source,
            actions,
            waited,
        }
    }
}

fn resize_action(target: ResizeTo, after: Duration) -> Action {
    Action::Resize {
        target_dedicated_nodes: target.dedicated,
        target_low_priority_nodes: target.low_priority,
        node_deallocation_option: target.deallocation.map(|d| match d {
            crate::batch::models::NodeDeallocationOption::Requeue => "requeue",
            crate::batch::models::NodeDeallocationOption::Terminate => "terminate",
            crate::batch::models::NodeDeallocationOption::TaskCompletion => "taskcompletion",
            crate::batch::models::NodeDeallocationOption::RetainedData => "retaineddata",
        }),
        after_seconds: seconds(after),
    }
}

pub(crate) fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10.0).round() / 10.0
}

/// `PT15M` style, whole seconds.
fn iso8601_duration(duration: Duration) -> String {
    format!("PT{}S", duration.as_secs())
}
