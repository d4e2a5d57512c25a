//! The converge loop: observe -> decide -> act -> sleep, until the want is met,
//! it fails, or the wait budget ends.
//!
//! Running out of budget is not failure: the caller gets `Pending` and answers
//! 202 with a status URL; the status check runs the same observe + decide
//! (without acting), so any instance can answer and a restart loses nothing.
//! Acting is idempotent by construction: every action is chosen from a fresh
//! observation, and a 409 from Batch (someone else changed the pool between
//! our GET and our POST) is simply a reason to look again.
//!
//! Batch trouble comes in two kinds, and they end differently:
//! - **busy** (429/503 throttling, a 5xx hiccup, no answer in time): wait as
//!   `Retry-After` asks and look again, for as long as the budget lasts;
//!   then `Pending` with [`WaitReason::BatchBusy`]. No single call's
//!   allowance ends the wait while budget is left.
//! - **failed** (refused connection, DNS, TLS, refused credentials, an
//!   unexpected 4xx): a [`ConvergeError`] at once, naming the cause.
//!
//! Every call of one request shares one [`Budget`]: the wait plus a small
//! [`CALL_MARGIN`] for the Batch call in flight, so answers leave in time.

use super::decide::{Failure, History, ResizeTo, Step, WaitReason, decide};
use super::lease::{self, LeaseEdit};
use super::looks::Looks;
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
    /// The last observation, taken after the last action: what the response
    /// shows of the pool. `None` only when Batch never answered within the
    /// budget (throttled, slow), which is never a success.
    pub last: Option<Observed>,
    pub actions: Vec<Action>,
    pub waited: Duration,
    pub batch_calls: u32,
    /// When Batch was busy at the end: how long it asked us to wait.
    pub retry_after: Option<Duration>,
}

/// A Batch call failed in a way looking again will not fix (after the
/// pipeline's quick retries): auth refused, Batch unreachable or untrusted,
/// a 4xx we did not expect. Busy answers never end up here.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct ConvergeError {
    pub context: String,
    #[source]
    pub source: BatchError,
    pub actions: Vec<Action>,
    pub waited: Duration,
    /// The pool as last seen in this call, if it was.
    pub last: Option<Observed>,
    pub batch_calls: u32,
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
    /// Looks shared with the other callers of this process (the handler's);
    /// `None`: every look is this caller's own (CLI, unit tests).
    pub looks: Option<&'a Looks>,
}

/// Beyond its wait budget a call may still spend this long on Batch calls
/// (clock time), so a zero wait still observes (and acts) once. The
/// budget's HTTP cap (200 s) plus this stays well inside Azure's 230 s limit.
pub const CALL_MARGIN: Duration = Duration::from_secs(5);

/// On a fast clock (dev, tests) a TLS round trip still takes real
/// milliseconds: never give a call less than this much real time there.
const MIN_REAL_CALL_ALLOWANCE: Duration = Duration::from_secs(5);

/// How long a status check waits out a throttled or slow Batch before it
/// answers "not yet": people and pollers are waiting on it.
pub const STATUS_PATIENCE: Duration = Duration::from_secs(10);

/// The shortest wait before asking a busy Batch again, whatever it said.
const MIN_BUSY_WAIT: Duration = Duration::from_millis(500);

/// One call's wait: how much of it is left, and how long Batch calls may
/// still take. Shared by the lease write and the converge loop of a
/// request, so the answer leaves in time whatever ran first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    watch: Stopwatch,
    /// When the call began (real time): shared looks must be newer.
    began: tokio::time::Instant,
    wait: Duration,
    /// [`CALL_MARGIN`], or on a fast clock at least
    /// [`MIN_REAL_CALL_ALLOWANCE`] of real time.
    margin: Duration,
}

impl Budget {
    pub fn elapsed(&self) -> Duration {
        self.watch.elapsed()
    }

    /// Wait time left: sleeping past this is not allowed.
    pub fn left(&self) -> Duration {
        self.wait.saturating_sub(self.elapsed())
    }

    /// How long the next Batch call may take: the wait left plus the margin.
    fn call_allowance(&self) -> Duration {
        (self.wait + self.margin).saturating_sub(self.elapsed())
    }
}

/// Why a Batch call did not complete.
enum Cut {
    /// Looking again will not help: answer with the error.
    Failed(BatchError),
    /// Throttled, a transient server error, slow, or a dropped connection:
    /// wait and look again.
    Busy {
        retry_after: Option<Duration>,
        why: String,
        /// A dropped connection: transient once, but a connection that drops
        /// every time is a Batch we cannot reach ([`MAX_DROPS_IN_A_ROW`]).
        dropped: Option<BatchError>,
    },
    /// The process is stopping: answer now with what we have.
    Stopping,
}

/// What the converge loop does next after a cut call.
enum Next {
    LookAgain,
    /// Answer with what was seen: pending.
    Answer,
    Fail(BatchError),
}

/// How a lease change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseWrite {
    /// Written after `attempts` tries (more than one: someone else wrote first).
    Written { attempts: u32 },
    /// The pool already said so (renewal at the same expiry, release of a lease it does not hold).
    Unchanged,
    /// No such pool, or it is being deleted: the converge step reports it.
    Skipped,
    /// Batch stayed busy (throttled, slow) for the whole budget: nothing was
    /// written, so nothing changed. `why` says what Batch answered.
    NotWritten {
        why: String,
        retry_after: Option<Duration>,
    },
}

/// Looks in a row whose connection dropped (each after the pipeline's own
/// quick retries) before the call is reported as Batch unreachable.
pub const MAX_DROPS_IN_A_ROW: u32 = 3;

/// Optimistic writers give up after this many lost races in a row.
pub const MAX_LEASE_WRITE_ATTEMPTS: u32 = 40;

/// What one call has seen and done so far.
struct Run<'b> {
    budget: &'b Budget,
    calls: u32,
    actions: Vec<Action>,
    history: History,
    last: Option<Observed>,
    /// An accepted action came after `last`: the view must be read again.
    stale: bool,
    /// The latest Batch call was busy: (why, what it asked).
    busy: Option<(String, Option<Duration>)>,
    /// Dropped connections in a row.
    drops: u32,
    /// When this call last saw the pool or last acted on it (real time): a
    /// shared look older than that tells it nothing new.
    newest: tokio::time::Instant,
}

impl<'b> Run<'b> {
    fn new(budget: &'b Budget) -> Self {
        Self {
            budget,
            calls: 0,
            actions: Vec::new(),
            history: History::default(),
            last: None,
            stale: false,
            busy: None,
            drops: 0,
            newest: budget.began,
        }
    }

    fn saw(&mut self, observed: Observed) {
        self.newest = tokio::time::Instant::now();
        self.last = Some(observed);
        self.stale = false;
        self.busy = None;
        self.drops = 0;
    }

    /// Records a busy answer; `Some(error)` when the connection has now
    /// dropped too often in a row to call it busy.
    fn busy(
        &mut self,
        why: String,
        retry_after: Option<Duration>,
        dropped: Option<BatchError>,
    ) -> Option<BatchError> {
        self.busy = Some((why, retry_after));
        match dropped {
            Some(error) => {
                self.drops += 1;
                (self.drops >= MAX_DROPS_IN_A_ROW).then_some(error)
            }
            None => {
                self.drops = 0;
                None
            }
        }
    }

    fn error(self, source: BatchError, want: &Want, doing: &str) -> ConvergeError {
        ConvergeError {
            context: format!("{doing} '{}'", want.pool_id),
            source,
            actions: self.actions,
            waited: self.budget.elapsed(),
            last: self.last,
            batch_calls: self.calls,
        }
    }
}

impl<B: PoolApi> Converger<'_, B> {
    /// A wait budget starting now on this converger's clock.
    pub fn budget(&self, wait: Duration) -> Budget {
        let margin = match self.clock.scale() {
            scale if scale > 1.0 => CALL_MARGIN.max(MIN_REAL_CALL_ALLOWANCE.mul_f64(scale)),
            _ => CALL_MARGIN,
        };
        Budget {
            watch: self.clock.start(),
            began: tokio::time::Instant::now(),
            wait,
            margin,
        }
    }

    /// Applies `edit` to the pool's lease metadata: read (ETag), edit, `PATCH`
    /// with `If-Match`; on 412 someone else wrote in between, so read again
    /// after a short random pause (which spreads a storm of writers out).
    /// A busy Batch is waited out within `budget`.
    pub async fn edit_leases(
        &self,
        pool_id: &PoolId,
        edit: &LeaseEdit,
        budget: &Budget,
    ) -> Result<LeaseWrite, ConvergeError> {
        let want = Want::look(pool_id.clone());
        let mut run = Run::new(budget);
        let mut attempts = 0;
        while attempts < MAX_LEASE_WRITE_ATTEMPTS {
            run.calls += 1;
            let pool = match self.bounded(self.batch.get_pool(pool_id), budget).await {
                Ok(pool) => {
                    run.drops = 0;
                    pool
                }
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                Err(Cut::Failed(e)) => return Err(run.error(e, &want, "reading the leases of")),
                Err(Cut::Busy {
                    retry_after,
                    why,
                    dropped,
                }) => {
                    if let Some(e) = run.busy(why.clone(), retry_after, dropped) {
                        return Err(run.error(e, &want, "reading the leases of"));
                    }
                    if self.wait_out(retry_after, self.policy.first, budget).await {
                        continue;
                    }
                    return Ok(LeaseWrite::NotWritten { why, retry_after });
                }
                Err(Cut::Stopping) => {
                    return Ok(LeaseWrite::NotWritten {
                        why: "the handler is shutting down".into(),
                        retry_after: None,
                    });
                }
            };
            if pool.state == Some(crate::batch::models::PoolState::Deleting) {
                return Ok(LeaseWrite::Skipped);
            }
            let Some(etag) = pool.e_tag.clone() else {
                let e = BatchError::Decode {
                    url: pool_id.to_string(),
                    detail:
                        "the pool came without an ETag, so its metadata cannot be updated safely"
                            .into(),
                };
                return Err(run.error(e, &want, "writing the leases of"));
            };
            let Some(next) = lease::apply(&pool.metadata, edit, self.clock.now_utc()) else {
                return Ok(LeaseWrite::Unchanged);
            };
            attempts += 1;
            run.calls += 1;
            match self
                .bounded(
                    self.batch
                        .replace_pool_metadata(pool_id, &next, Some(&etag)),
                    budget,
                )
                .await
            {
                Ok(()) => return Ok(LeaseWrite::Written { attempts }),
                Err(Cut::Failed(e)) if e.is_precondition_failed() || e.is_conflict() => {
                    tracing::debug!(pool = %pool_id, attempts, "lease write lost a race; reading again");
                    let spread = 5 * u64::from(attempts.min(10));
                    let pause = rand::random_range(1..=spread);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                Err(Cut::Failed(e)) => return Err(run.error(e, &want, "writing the leases of")),
                Err(Cut::Busy {
                    retry_after,
                    why,
                    dropped,
                }) => {
                    if let Some(e) = run.busy(why.clone(), retry_after, dropped) {
                        return Err(run.error(e, &want, "writing the leases of"));
                    }
                    // The write may or may not have landed: read and see.
                    if !self.wait_out(retry_after, self.policy.first, budget).await {
                        return Ok(LeaseWrite::NotWritten { why, retry_after });
                    }
                }
                Err(Cut::Stopping) => {
                    return Ok(LeaseWrite::NotWritten {
                        why: "the handler is shutting down".into(),
                        retry_after: None,
                    });
                }
            }
        }
        let e = BatchError::Contended {
            url: pool_id.to_string(),
            attempts,
        };
        Err(run.error(e, &want, "writing the leases of"))
    }

    /// Observe + decide once, without acting: the status check. Nodes are
    /// always listed, since people read this.
    pub async fn check(&self, want: &Want) -> Result<Report, ConvergeError> {
        self.single_pass(want, false).await
    }

    /// Observe + decide once and take at most one step: what a status URL
    /// this service issued does (`resume`), so that an operation whose
    /// handler died (or whose budget ended before it could act) is picked
    /// up by the next poll.
    pub async fn resume(&self, want: &Want) -> Result<Report, ConvergeError> {
        self.single_pass(want, true).await
    }

    async fn single_pass(&self, want: &Want, act: bool) -> Result<Report, ConvergeError> {
        let budget = self.budget(STATUS_PATIENCE);
        let mut run = Run::new(&budget);
        loop {
            let mut calls = 0;
            let look = async {
                match self.looks {
                    Some(looks) => looks
                        .look(
                            &want.pool_id,
                            run.newest,
                            true,
                            self.observe_at_once(want, &mut calls),
                        )
                        .await
                        .map(|(observed, _)| observed),
                    None => self.observe_at_once(want, &mut calls).await,
                }
            };
            let looked = self.bounded(look, &budget).await;
            run.calls += calls;
            match looked {
                Ok(observed) => {
                    run.saw(observed);
                    break;
                }
                Err(Cut::Busy {
                    retry_after,
                    why,
                    dropped,
                }) => {
                    tracing::info!(pool = %want.pool_id, why, "Batch is busy");
                    if let Some(e) = run.busy(why, retry_after, dropped) {
                        return Err(run.error(e, want, "reading the pool"));
                    }
                    if !self.wait_out(retry_after, self.policy.first, &budget).await {
                        return Ok(self.finish(run, want, None).await);
                    }
                }
                Err(Cut::Stopping) => return Ok(self.finish(run, want, None).await),
                Err(Cut::Failed(e)) => return Err(run.error(e, want, "reading the pool")),
            }
        }
        let observed = run.last.as_ref().expect("just seen");
        let outcome = match decide(observed, want, History::assume_resized()) {
            Step::Done => Some(Outcome::Converged),
            Step::Fail(failure) => Some(Outcome::Failed(failure)),
            Step::Wait(_) => None,
            step @ (Step::Resize(_) | Step::StopResize) => {
                if act {
                    let etag = etag_of(observed);
                    match self.act(want, &step, etag.as_deref(), &mut run).await {
                        Ok(_) | Err(Cut::Stopping) => {}
                        Err(Cut::Busy {
                            retry_after, why, ..
                        }) => run.busy = Some((why, retry_after)),
                        Err(Cut::Failed(e)) => {
                            return Err(run.error(e, want, "acting on the pool"));
                        }
                    }
                }
                None
            }
        };
        Ok(self.finish(run, want, outcome).await)
    }

    /// Drive the pool toward `want` for at most `wait` of (clock) time.
    pub async fn converge(&self, want: &Want, wait: Duration) -> Result<Report, ConvergeError> {
        let budget = self.budget(wait);
        self.converge_within(want, &budget).await
    }

    /// [`Converger::converge`] on a budget already started (after a lease
    /// write, say), so the whole request keeps to one wait.
    pub async fn converge_within(
        &self,
        want: &Want,
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        let mut run = Run::new(budget);
        let mut interval = self.policy.first;
        // When the pool was last read (clock time since the start).
        let mut pool_read_at = Duration::ZERO;
        let _waiting = self.looks.map(|looks| looks.wait_on(&want.pool_id));
        loop {
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
                    (None, Some(pool), _) => {
                        self.observe_nodes(want, pool.clone(), &mut calls).await
                    }
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
            match looked {
                Ok((observed, pool_read)) => {
                    if pool_read {
                        pool_read_at = budget.elapsed();
                    }
                    run.saw(observed);
                }
                Err(cut) => match self.after_cut(cut, &mut run, interval).await {
                    Next::LookAgain => continue,
                    Next::Answer => return Ok(self.finish(run, want, None).await),
                    Next::Fail(e) => return Err(run.error(e, want, "reading the pool")),
                },
            }
            let observed = run.last.as_ref().expect("just seen");
            let step = decide(observed, want, run.history);
            tracing::debug!(pool = %want.pool_id, ?step, "decided");
            if let Some(progress) = self.progress {
                progress(observed, &step);
            }
            match step {
                Step::Done => return Ok(self.finish(run, want, Some(Outcome::Converged)).await),
                Step::Fail(failure) => {
                    return Ok(self.finish(run, want, Some(Outcome::Failed(failure))).await);
                }
                Step::Wait(reason) => {
                    if is_near(observed, want) {
                        // Counted from the resize this wait is for, as the
                        // SDK's poller would: a wait that joined late (a
                        // caller posting again after a 202) did not see the
                        // slow looks that earned the credit, but they were made.
                        let waited = match run.history.resizes_issued {
                            0 => since_modified(observed, self.clock.now_utc())
                                .map_or(budget.elapsed(), |since| since.max(budget.elapsed())),
                            _ => budget.elapsed(),
                        };
                        // What the SDK's way has made by now: get_pool, the
                        // resize, the poller's first GET, then one per 5 s.
                        let earned = 3.0
                            + waited.as_secs_f64()
                                / self.policy.call_budget.as_secs_f64().max(f64::EPSILON);
                        // Room for the next look even if it re-reads the pool.
                        interval = if earned >= f64::from(run.calls) + 2.0 {
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
                    let etag = etag_of(observed);
                    match self.act(want, &step, etag.as_deref(), &mut run).await {
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
                        Err(cut) => match self.after_cut(cut, &mut run, interval).await {
                            Next::LookAgain => continue,
                            Next::Answer => return Ok(self.finish(run, want, None).await),
                            Next::Fail(e) => return Err(run.error(e, want, "acting on the pool")),
                        },
                    }
                }
            }
            if budget.left().is_zero() || self.stopping() {
                return Ok(self.finish(run, want, None).await);
            }
            if !self.pause(interval.min(budget.left())).await {
                return Ok(self.finish(run, want, None).await);
            }
            if let Some(seen) = &run.last
                && !is_near(seen, want)
            {
                interval = interval.mul_f64(self.policy.growth).min(self.policy.max);
            }
        }
    }

    /// What the loop does after a Batch call did not complete: wait out a
    /// busy Batch and look again while the budget allows, answer "not yet"
    /// when it does not (or the process stops), fail on what waiting will
    /// not fix (including a connection that keeps dropping).
    async fn after_cut(&self, cut: Cut, run: &mut Run<'_>, interval: Duration) -> Next {
        match cut {
            Cut::Failed(e) => Next::Fail(e),
            Cut::Stopping => Next::Answer,
            Cut::Busy {
                retry_after,
                why,
                dropped,
            } => {
                tracing::info!(why, "Batch is busy; waiting");
                if let Some(e) = run.busy(why, retry_after, dropped) {
                    return Next::Fail(e);
                }
                if self.wait_out(retry_after, interval, run.budget).await {
                    Next::LookAgain
                } else {
                    Next::Answer
                }
            }
        }
    }

    /// The report of a run: `outcome`, or pending when `None`. A pending
    /// answer shows the pool as it is *after* the last action (read again
    /// when an action came after the last look), and every answer that saw
    /// the pool shows its nodes, so the counts are numbers.
    async fn finish(&self, mut run: Run<'_>, want: &Want, outcome: Option<Outcome>) -> Report {
        if run.stale && !self.stopping() {
            let mut calls = 0;
            if let Ok(observed) = self
                .bounded(self.observe(want, &mut calls), run.budget)
                .await
            {
                run.last = Some(observed);
                run.stale = false;
            }
            run.calls += calls;
        }
        if let Some(Observed::Pool(snapshot)) = &mut run.last
            && snapshot.nodes.is_none()
            && !self.stopping()
        {
            let pool = &snapshot.pool;
            if pool.current_dedicated_nodes + pool.current_low_priority_nodes == 0 {
                snapshot.nodes = Some(NodeTally::default());
            } else {
                run.calls += 1;
                if let Ok(nodes) = self
                    .bounded(self.batch.list_nodes(&want.pool_id), run.budget)
                    .await
                {
                    snapshot.nodes = Some(NodeTally::from_nodes(&nodes));
                }
            }
        }
        let outcome = outcome.unwrap_or_else(|| {
            Outcome::Pending(match (&run.busy, &run.last) {
                (Some(_), _) | (None, None) => WaitReason::BatchBusy,
                (None, Some(observed)) => pending_reason(observed, want),
            })
        });
        let retry_after = match &outcome {
            Outcome::Pending(_) => run.busy.as_ref().and_then(|(_, after)| *after),
            _ => None,
        };
        Report {
            outcome,
            last: run.last,
            actions: run.actions,
            waited: run.budget.elapsed(),
            batch_calls: run.calls,
            retry_after,
        }
    }

    /// Waits before asking a busy Batch again: as long as it asked
    /// (`Retry-After`, on the handler's clock), else `fallback`. `false`
    /// when that wait does not fit in the budget (or the process stops):
    /// then the caller answers "not yet" at once rather than sleep past
    /// its deadline.
    async fn wait_out(
        &self,
        retry_after: Option<Duration>,
        fallback: Duration,
        budget: &Budget,
    ) -> bool {
        let wait = retry_after.unwrap_or(fallback).max(MIN_BUSY_WAIT);
        if wait >= budget.left() {
            return false;
        }
        self.pause(wait).await
    }

    /// A look that lists the nodes only, judged with the pool read earlier
    /// (`(observation, pool_read)`). When the nodes do not add up to the
    /// pool's counts (someone resized, nodes left) the pool is read too.
    async fn observe_nodes(
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

    /// Takes a Resize or StopResize step, conditional on the ETag of the
    /// observation it was decided from. `Ok(false)`: Batch refused with
    /// 409/404/412 because the pool changed under us (another pipeline's
    /// lease or resize); the next look decides again.
    async fn act(
        &self,
        want: &Want,
        step: &Step,
        etag: Option<&str>,
        run: &mut Run<'_>,
    ) -> Result<bool, Cut> {
        let (result, action) = match step {
            Step::Resize(target) => (
                self.bounded(self.resize(&want.pool_id, *target, etag), run.budget)
                    .await,
                resize_action(*target, run.budget.elapsed()),
            ),
            Step::StopResize => (
                self.bounded(self.batch.stop_resize(&want.pool_id, etag), run.budget)
                    .await,
                Action::StopResize {
                    after_seconds: seconds(run.budget.elapsed()),
                },
            ),
            _ => return Ok(false),
        };
        run.calls += 1;
        match result {
            Ok(()) => {
                tracing::info!(pool = %want.pool_id, ?action, "accepted by Batch");
                if matches!(step, Step::Resize(_)) {
                    run.history.resizes_issued += 1;
                }
                run.actions.push(action);
                run.stale = true;
                run.newest = tokio::time::Instant::now();
                if let Some(looks) = self.looks {
                    looks.forget(&want.pool_id);
                }
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

    /// Runs a Batch call, but no longer than the budget allows (the wait
    /// left plus [`CALL_MARGIN`]) and not past a stop request. A busy
    /// answer or no answer in time is [`Cut::Busy`]: the caller decides
    /// whether there is time to wait and ask again.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, BatchError>>,
        budget: &Budget,
    ) -> Result<T, Cut> {
        let allowance = budget.call_allowance();
        if allowance.is_zero() {
            return Err(Cut::Busy {
                retry_after: None,
                why: "the wait budget is spent".into(),
                dropped: None,
            });
        }
        let mut real = self.clock.to_real(allowance);
        if self.clock.scale() > 1.0 {
            real = real.max(MIN_REAL_CALL_ALLOWANCE);
        }
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
            result = call => result.map_err(|e| match e.busy() {
                Some(busy) => Cut::Busy { retry_after: busy.retry_after, why: e.to_string(), dropped: None },
                None if e.is_dropped() => Cut::Busy { retry_after: None, why: e.to_string(), dropped: Some(e) },
                None => Cut::Failed(e),
            }),
            () = deadline => Err(Cut::Busy {
                retry_after: None,
                why: format!("Batch did not answer within {:.0} s", allowance.as_secs_f64()),
                dropped: None,
            }),
            () = stop => Err(Cut::Stopping),
        }
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
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            () = self.clock.sleep(duration) => true,
            _ = stop.wait_for(|stopping| *stopping) => false,
        }
    }

    /// The status check's look: the pool GET and the node list side by
    /// side, because a person or a pipeline waits on this answer and the two
    /// round trips in a row were most of its latency (`docs/benchmarks.md`).
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
    async fn observe(&self, want: &Want, calls: &mut u32) -> Result<Observed, BatchError> {
        *calls += 1;
        let pool = match self.batch.get_pool(&want.pool_id).await {
            Ok(pool) => pool,
            Err(e) if e.is_not_found() => return Ok(Observed::Missing),
            Err(e) => return Err(e),
        };
        let wants_nodes = judges_readiness(want)
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
}

/// Whether deciding for `want` needs the node list (scale-up to some nodes).
fn judges_readiness(want: &Want) -> bool {
    want.operation == Operation::ScaleUp && (want.dedicated > 0 || want.low_priority > 0)
}

fn etag_of(observed: &Observed) -> Option<String> {
    match observed {
        Observed::Pool(snapshot) => snapshot.pool.e_tag.clone(),
        Observed::Missing => None,
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
