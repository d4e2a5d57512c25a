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
use super::lease::{self, LeaseEdit, TooManyLeases};
use super::snapshot::{NodeTally, Observed, Snapshot};
use super::want::{Operation, Want};
use crate::batch::models::{MetadataItem, Node, NodeState, Pool, ResizePool};
use crate::batch::{BatchClient, BatchError, PoolId};
use crate::clock::{Clock, Stopwatch};
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
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
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
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::resize_pool(self, pool_id, body, if_match)
    }
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::stop_resize(self, pool_id, if_match)
    }
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::replace_pool_metadata(self, pool_id, metadata, if_match)
    }
}

/// How often to look. The interval grows because early polls catch quick
/// wins (already ready, a resize accepted) and late ones only wait for VMs
/// (allocation, boot: minutes). Once every wanted node is past boot and only
/// its start task stands between it and ready, the loop looks every `near`:
/// that phase is short, and every second between "idle" and our answer is a
/// node-second paid for nothing. Looks that only nodes can answer skip the
/// pool GET, so the fast phase costs one call per look and a whole cycle
/// stays below the Python SDK poller's call count (`docs/benchmarks.md`).
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub first: Duration,
    pub max: Duration,
    pub growth: f64,
    /// Interval while every wanted node is ready or only waiting for its
    /// start task (`waitingforstarttask`, or idle/running with the start task
    /// still running). Bounds the reaction time after the last node is ready.
    pub near: Duration,
    /// The SDK poller's cadence (5 s), which bounds the fast looks: they may
    /// only spend what the SDK's way would have made by now (get_pool, the
    /// resize, its poller's first GET, then one call per `call_budget` since
    /// the resize), i.e. what the slower phases saved. Once that is spent the
    /// loop looks every `call_budget`, so even a start task of many minutes
    /// never costs more calls than the SDK would make. Also the first
    /// interval after our own shrink, which takes Batch tens of seconds.
    pub call_budget: Duration,
    /// While the pool is steady with every wanted node allocated, only the
    /// node list can change the decision, so looks list the nodes only and
    /// read the pool again at most this long after the last read (to notice
    /// someone else's resize or a deletion). A node count that disagrees with
    /// the pool's reads the pool at once.
    pub pool_refresh: Duration,
    /// `resizeTimeout` sent with our resizes (Batch default 15 min, min 5 min).
    pub resize_timeout: Option<Duration>,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(15),
            growth: 1.5,
            near: Duration::from_millis(1500),
            call_budget: Duration::from_secs(5),
            pool_refresh: Duration::from_secs(60),
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
    /// The last observation: what the response shows of the pool. `None`
    /// when Batch never answered within the budget (throttled, slow).
    pub last: Option<Observed>,
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

/// See [`Converger::progress`].
pub type ProgressFn<'a> = dyn Fn(&Observed, &Step) + Sync + 'a;

pub struct Converger<'a, B: PoolApi> {
    pub batch: &'a B,
    pub clock: Clock,
    pub policy: PollPolicy,
    /// Flips to `true` when the process is asked to stop (SIGTERM): the loop
    /// then ends its wait early and reports `Pending`, so the open request is
    /// answered with a status URL instead of being dropped.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Called after every decision of [`Converger::converge`] with what was
    /// seen and what comes next, so a caller can show progress live (the
    /// CLI's status line). `None` for the HTTP handlers: they answer once.
    pub progress: Option<&'a ProgressFn<'a>>,
}

/// However little budget is left, a Batch call may take this long (simulated
/// time): a zero wait still observes and acts once. Budget 220 s + this stays
/// inside the 230 s front-end limit.
const MIN_CALL_ALLOWANCE: Duration = Duration::from_secs(8);

const MIN_REAL_CALL_ALLOWANCE: Duration = Duration::from_secs(5);

/// Why a Batch call did not complete.
enum Cut {
    Failed(BatchError),
    /// The wait budget ended or the process is stopping.
    Interrupted(&'static str),
}

/// How a lease change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseWrite {
    /// Written after `attempts` tries (more than one: someone else wrote first).
    Written {
        attempts: u32,
    },
    /// The pool already said so (renewal at the same expiry, release of a lease it does not hold).
    Unchanged,
    /// No such pool, or it is being deleted: the converge step reports it.
    Skipped,
    TooMany(TooManyLeases),
}

/// Optimistic writers give up after this many lost races in a row.
pub const MAX_LEASE_WRITE_ATTEMPTS: u32 = 40;

impl<B: PoolApi> Converger<'_, B> {
    /// Applies `edit` to the pool's lease metadata: read (ETag), edit, `PATCH`
    /// with `If-Match`; on 412 someone else wrote in between, so read again
    /// after a short random pause (which spreads a storm of writers out).
    pub async fn edit_leases(
        &self,
        pool_id: &PoolId,
        edit: &LeaseEdit,
    ) -> Result<LeaseWrite, ConvergeError> {
        let watch = self.clock.start();
        let want = Want {
            pool_id: pool_id.clone(),
            operation: Operation::ScaleUp,
            dedicated: 0,
            low_priority: 0,
            honour_leases: false,
        };
        let fail = |cut: Cut| self.error(cut, &want, "writing the leases of", Vec::new(), &watch);
        for attempt in 1..=MAX_LEASE_WRITE_ATTEMPTS {
            let pool = match self
                .bounded(self.batch.get_pool(pool_id), Duration::ZERO, &watch)
                .await
            {
                Ok(pool) => pool,
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                Err(cut) => return Err(fail(cut)),
            };
            if pool.state == Some(crate::batch::models::PoolState::Deleting) {
                return Ok(LeaseWrite::Skipped);
            }
            let Some(etag) = pool.e_tag.as_deref() else {
                return Err(fail(Cut::Failed(BatchError::Decode(
                    "the pool came without an ETag, so its metadata cannot be updated safely"
                        .into(),
                ))));
            };
            let next = match lease::apply(&pool.metadata, edit, self.clock.now_utc()) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(LeaseWrite::Unchanged),
                Err(too_many) => return Ok(LeaseWrite::TooMany(too_many)),
            };
            match self
                .bounded(
                    self.batch.replace_pool_metadata(pool_id, &next, Some(etag)),
                    Duration::ZERO,
                    &watch,
                )
                .await
            {
                Ok(()) => return Ok(LeaseWrite::Written { attempts: attempt }),
                Err(Cut::Failed(e)) if e.is_precondition_failed() || e.is_conflict() => {
                    tracing::debug!(pool = %pool_id, attempt, "lease write lost a race; reading again");
                    let spread = 5 * u64::from(attempt.min(10));
                    let pause = rand::random_range(1..=spread);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                Err(cut) => return Err(fail(cut)),
            }
        }
        Err(fail(Cut::Failed(BatchError::Transport(format!(
            "gave up after {MAX_LEASE_WRITE_ATTEMPTS} conflicting metadata writes"
        )))))
    }

    /// Observe + decide once, without acting: the status check. Nodes are
    /// always listed, since people read this.
    pub async fn check(&self, want: &Want) -> Result<Report, ConvergeError> {
        self.single_pass(want, false).await
    }

    /// Observe + decide once and take at most one step: what a status URL
    /// with a target does, so that an operation whose handler died (or whose
    /// budget ended before it could act) is picked up by the next poll.
    pub async fn resume(&self, want: &Want) -> Result<Report, ConvergeError> {
        self.single_pass(want, true).await
    }

    async fn single_pass(&self, want: &Want, act: bool) -> Result<Report, ConvergeError> {
        let watch = self.clock.start();
        let mut calls = 0;
        let mut actions = Vec::new();
        let observed = match self
            .bounded(
                self.observe_at_once(want, &mut calls),
                Duration::ZERO,
                &watch,
            )
            .await
        {
            Ok(observed) => observed,
            Err(Cut::Interrupted(why)) => {
                tracing::info!(pool = %want.pool_id, why, "no answer from Batch yet");
                return Ok(self.unanswered(actions, calls, &watch));
            }
            Err(cut) => return Err(self.error(cut, want, "reading the pool", actions, &watch)),
        };
        let outcome = match decide(&observed, want, History::assume_resized()) {
            Step::Done => Outcome::Converged,
            Step::Fail(failure) => Outcome::Failed(failure),
            Step::Wait(reason) => Outcome::Pending(reason),
            step @ (Step::Resize(_) | Step::StopResize) => {
                if act {
                    calls += 1;
                    if let Err(cut) = self.act(want, &step, &observed, &mut actions, &watch).await {
                        return Err(self.error(cut, want, "acting on the pool", actions, &watch));
                    }
                }
                Outcome::Pending(WaitReason::Resizing)
            }
        };
        Ok(self.finished(outcome, observed, actions, calls, &watch))
    }

    /// Drive the pool toward `want` for at most `budget` of (clock) time.
    pub async fn converge(&self, want: &Want, budget: Duration) -> Result<Report, ConvergeError> {
        let watch = self.clock.start();
        let mut history = History::default();
        let mut actions = Vec::new();
        let mut calls = 0;
        let mut interval = self.policy.first;
        let mut last_seen: Option<Observed> = None;
        // When the pool was last read (clock time since the start).
        let mut pool_read_at = Duration::ZERO;
        loop {
            let reuse = last_seen
                .as_ref()
                .filter(|_| watch.elapsed().saturating_sub(pool_read_at) < self.policy.pool_refresh)
                .and_then(|seen| nodes_only_pool(seen, want, history));
            let look = async {
                match reuse {
                    Some(pool) => self.observe_nodes(want, pool, &mut calls).await,
                    None => self.observe(want, &mut calls).await.map(|o| (o, true)),
                }
            };
            let observed = match self.bounded(look, budget, &watch).await {
                Ok((observed, pool_read)) => {
                    if pool_read {
                        pool_read_at = watch.elapsed();
                    }
                    observed
                }
                Err(Cut::Interrupted(why)) => {
                    tracing::info!(pool = %want.pool_id, why, "wait cut short while reading the pool");
                    return Ok(match last_seen {
                        Some(observed) => self.pending(observed, want, actions, calls, &watch),
                        None => self.unanswered(actions, calls, &watch),
                    });
                }
                Err(cut) => return Err(self.error(cut, want, "reading the pool", actions, &watch)),
            };
            let step = decide(&observed, want, history);
            tracing::debug!(pool = %want.pool_id, ?step, "decided");
            if let Some(progress) = self.progress {
                progress(&observed, &step);
            }
            match step {
                Step::Done => {
                    return Ok(self.finished(Outcome::Converged, observed, actions, calls, &watch));
                }
                Step::Fail(failure) => {
                    return Ok(self.finished(
                        Outcome::Failed(failure),
                        observed,
                        actions,
                        calls,
                        &watch,
                    ));
                }
                Step::Wait(reason) => {
                    if is_near(&observed, want) {
                        // Counted from the resize this wait is for, as the
                        // SDK's poller would: a wait that joined late (a
                        // caller posting again after a 202) did not see the
                        // slow looks that earned the credit, but they were made.
                        let waited = match history.resizes_issued {
                            0 => since_modified(&observed, self.clock.now_utc())
                                .map_or(watch.elapsed(), |since| since.max(watch.elapsed())),
                            _ => watch.elapsed(),
                        };
                        // What the SDK's way has made by now: get_pool, the
                        // resize, the poller's first GET, then one per 5 s.
                        let earned = 3.0
                            + waited.as_secs_f64()
                                / self.policy.call_budget.as_secs_f64().max(f64::EPSILON);
                        // Room for the next look even if it re-reads the pool.
                        interval = if earned >= f64::from(calls) + 2.0 {
                            self.policy.near
                        } else {
                            self.policy.call_budget
                        };
                    } else if reason == WaitReason::NodesStarting {
                        // Allocated nodes still booting: minutes away, and
                        // the quick wins the short first looks are for
                        // (already ready, allocation errors) are behind us.
                        interval = self.policy.max;
                    }
                }
                step @ (Step::Resize(_) | Step::StopResize) => {
                    calls += 1;
                    if matches!(step, Step::Resize(_)) {
                        history.resizes_issued += 1;
                    }
                    match self.act(want, &step, &observed, &mut actions, &watch).await {
                        Ok(true) => {
                            // A shrink takes Batch tens of seconds at least
                            // (nodes drain, then leave): looking sooner than
                            // the SDK's cadence only adds calls.
                            interval = match step {
                                Step::Resize(ResizeTo {
                                    deallocation: Some(_),
                                    ..
                                }) => self.policy.call_budget.max(self.policy.first),
                                _ => self.policy.first,
                            };
                        }
                        Ok(false) => {}
                        Err(Cut::Interrupted(_)) => {
                            return Ok(self.pending(observed, want, actions, calls, &watch));
                        }
                        Err(cut) => {
                            return Err(self.error(
                                cut,
                                want,
                                "acting on the pool",
                                actions,
                                &watch,
                            ));
                        }
                    }
                }
            }
            let waited = watch.elapsed();
            if waited >= budget || self.stopping() {
                return Ok(self.pending(observed, want, actions, calls, &watch));
            }
            if !self.pause(interval.min(budget - waited)).await {
                return Ok(self.pending(observed, want, actions, calls, &watch));
            }
            if !is_near(&observed, want) {
                interval = interval.mul_f64(self.policy.growth).min(self.policy.max);
            }
            last_seen = Some(observed);
        }
    }

    /// A look that lists the nodes only, judged with the pool read earlier
    /// (`(observation, pool_read)`). When the nodes do not add up to the
    /// pool's counts (someone resized, nodes left) the pool is read too.
    async fn observe_nodes(
        &self,
        want: &Want,
        pool: &Pool,
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
                pool: pool.clone(),
                nodes: Some(NodeTally::from_nodes(&nodes)),
                observed_at: self.clock.now_utc(),
            })),
            false,
        ))
    }

    /// Takes a Resize or StopResize step, conditional on the ETag of the
    /// observation it was decided from. `Ok(false)`: Batch refused with
    /// 409/404/412 because the pool changed under us (another pipeline's
    /// lease or resize); the next look decides again.
    async fn act(
        &self,
        want: &Want,
        step: &Step,
        observed: &Observed,
        actions: &mut Vec<Action>,
        watch: &Stopwatch,
    ) -> Result<bool, Cut> {
        let etag = match observed {
            Observed::Pool(snapshot) => snapshot.pool.e_tag.as_deref(),
            Observed::Missing => None,
        };
        let (result, action) = match step {
            Step::Resize(target) => (
                self.bounded(
                    self.resize(&want.pool_id, *target, etag),
                    Duration::ZERO,
                    watch,
                )
                .await,
                resize_action(*target, watch.elapsed()),
            ),
            Step::StopResize => (
                self.bounded(
                    self.batch.stop_resize(&want.pool_id, etag),
                    Duration::ZERO,
                    watch,
                )
                .await,
                Action::StopResize {
                    after_seconds: seconds(watch.elapsed()),
                },
            ),
            _ => return Ok(false),
        };
        match result {
            Ok(()) => {
                tracing::info!(pool = %want.pool_id, ?action, "accepted by Batch");
                actions.push(action);
                Ok(true)
            }
            Err(Cut::Failed(e))
                if e.is_conflict() || e.is_not_found() || e.is_precondition_failed() =>
            {
                tracing::info!(pool = %want.pool_id, code = e.code(), ?action, "refused by Batch; looking again");
                Ok(false)
            }
            Err(cut) => Err(cut),
        }
    }

    /// Runs a Batch call, but no longer than the budget left (at least
    /// [`MIN_CALL_ALLOWANCE`]) and not past a stop request. The pipeline's
    /// own retries otherwise know nothing of our budget.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, BatchError>>,
        budget: Duration,
        watch: &Stopwatch,
    ) -> Result<T, Cut> {
        let allowance = budget
            .saturating_sub(watch.elapsed())
            .max(MIN_CALL_ALLOWANCE);
        // On a fast clock (dev, tests) the allowance shrinks with it; a TLS
        // round trip still takes real milliseconds, so never less than this.
        let real = self.clock.to_real(allowance).max(MIN_REAL_CALL_ALLOWANCE);
        let deadline = tokio::time::sleep(real);
        let stop = async {
            match self.stop.clone() {
                Some(mut stop) => {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            result = call => result.map_err(Cut::Failed),
            () = deadline => Err(Cut::Interrupted("no answer from Batch within the wait budget")),
            () = stop => Err(Cut::Interrupted("the handler is shutting down")),
        }
    }

    fn finished(
        &self,
        outcome: Outcome,
        last: Observed,
        actions: Vec<Action>,
        batch_calls: u32,
        watch: &Stopwatch,
    ) -> Report {
        Report {
            outcome,
            last: Some(last),
            actions,
            waited: watch.elapsed(),
            batch_calls,
        }
    }

    /// The budget ended before Batch answered once: pending, pool unknown.
    fn unanswered(&self, actions: Vec<Action>, batch_calls: u32, watch: &Stopwatch) -> Report {
        Report {
            outcome: Outcome::Pending(WaitReason::BatchNotAnswering),
            last: None,
            actions,
            waited: watch.elapsed(),
            batch_calls,
        }
    }

    fn pending(
        &self,
        last: Observed,
        want: &Want,
        actions: Vec<Action>,
        batch_calls: u32,
        watch: &Stopwatch,
    ) -> Report {
        let outcome = Outcome::Pending(pending_reason(&last, want));
        self.finished(outcome, last, actions, batch_calls, watch)
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// Sleeps on the clock; `false` when a stop request cut the sleep short.
    async fn pause(&self, duration: Duration) -> bool {
        let Some(mut stop) = self.stop.clone() else {
            self.clock.sleep(duration).await;
            return true;
        };
        tokio::select! {
            () = self.clock.sleep(duration) => true,
            _ = stop.wait_for(|stopping| *stopping) => false,
        }
    }

    /// The status check's look: the pool GET and the node list side by
    /// side, because a person or a pipeline waits on this answer and the two
    /// round trips in a row were most of its latency (`docs/benchmarks.md`).
    /// The list is dropped when it cannot be judged (autoscale, deleting);
    /// on an empty pool it costs one call that the sequential look skipped.
    async fn observe_at_once(&self, want: &Want, calls: &mut u32) -> Result<Observed, BatchError> {
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
        let judged = !pool.enable_auto_scale
            && pool.state != Some(crate::batch::models::PoolState::Deleting);
        let nodes = match nodes {
            _ if !judged => None,
            Ok(nodes) => Some(NodeTally::from_nodes(&nodes)),
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        Ok(Observed::Pool(Box::new(Snapshot {
            pool,
            nodes,
            observed_at: self.clock.now_utc(),
        })))
    }

    /// One GET of the pool, plus the node list when readiness must be judged.
    async fn observe(&self, want: &Want, calls: &mut u32) -> Result<Observed, BatchError> {
        *calls += 1;
        let pool = match self.batch.get_pool(&want.pool_id).await {
            Ok(pool) => pool,
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        let judges_readiness =
            want.operation == Operation::ScaleUp && (want.dedicated > 0 || want.low_priority > 0);
        let wants_nodes = judges_readiness
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

    async fn resize(
        &self,
        pool_id: &PoolId,
        target: ResizeTo,
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        let body = ResizePool {
            target_dedicated_nodes: target.dedicated,
            target_low_priority_nodes: target.low_priority,
            resize_timeout: self.policy.resize_timeout.map(iso8601_duration),
            node_deallocation_option: target.deallocation,
        };
        self.batch.resize_pool(pool_id, &body, if_match).await
    }

    fn error(
        &self,
        cut: Cut,
        want: &Want,
        doing: &str,
        actions: Vec<Action>,
        watch: &Stopwatch,
    ) -> ConvergeError {
        let source = match cut {
            Cut::Failed(e) => e,
            Cut::Interrupted(why) => BatchError::Transport(why.to_owned()),
        };
        ConvergeError {
            context: format!("{doing} '{}'", want.pool_id),
            source,
            actions,
            waited: watch.elapsed(),
        }
    }
}

/// The pool of an observation after which only the nodes can change the
/// decision: steady, targets and current counts cover the want, and the
/// last decision was to wait for nodes to start. Scale-up only (scale-down
/// never lists nodes).
fn nodes_only_pool<'o>(observed: &'o Observed, want: &Want, history: History) -> Option<&'o Pool> {
    let Observed::Pool(snapshot) = observed else {
        return None;
    };
    let pool = &snapshot.pool;
    let covered = pool.allocation_state == Some(crate::batch::models::AllocationState::Steady)
        && pool.current_dedicated_nodes >= want.dedicated
        && pool.current_low_priority_nodes >= want.low_priority
        && snapshot.nodes.is_some();
    let waiting_for_nodes = matches!(
        decide(observed, want, history),
        Step::Wait(WaitReason::NodesStarting)
    );
    (want.operation == Operation::ScaleUp && covered && waiting_for_nodes).then_some(pool)
}

/// How long ago the pool was last changed through the API (our resize, or
/// someone's): `lastModified` does not move with node churn. `None` when
/// unknown or in the future (clock skew).
fn since_modified(observed: &Observed, now: time::OffsetDateTime) -> Option<Duration> {
    let Observed::Pool(snapshot) = observed else {
        return None;
    };
    let modified = snapshot.pool.last_modified.as_deref()?;
    let modified =
        time::OffsetDateTime::parse(modified, &time::format_description::well_known::Rfc3339)
            .ok()?;
    Duration::try_from(now - modified).ok()
}

/// Every wanted node is ready or only waiting for its start task: the last
/// step to ready is seconds away, not minutes, so look often. Counts across
/// dedicated and low-priority together: a heuristic for the interval only,
/// never for the decision.
fn is_near(observed: &Observed, want: &Want) -> bool {
    let Observed::Pool(snapshot) = observed else {
        return false;
    };
    let Some(tally) = &snapshot.nodes else {
        return false;
    };
    let wanted = want.dedicated + want.low_priority;
    let ready = tally.ready_dedicated + tally.ready_low_priority;
    let count = |state| tally.by_state.get(&state).copied().unwrap_or(0);
    let idle_or_running = count(NodeState::Idle) + count(NodeState::Running);
    // Idle/running but not ready: the start task is still running.
    let start_task_running = idle_or_running.saturating_sub(ready);
    let near = count(NodeState::WaitingForStartTask) + start_task_running;
    wanted > 0 && near > 0 && ready + near >= wanted
}

/// Why the pool is not there yet, judged as the status check would.
fn pending_reason(observed: &Observed, want: &Want) -> WaitReason {
    match decide(observed, want, History::assume_resized()) {
        Step::Wait(reason) => reason,
        _ => WaitReason::Resizing,
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
