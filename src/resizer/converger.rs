//! The converger and what one call of it carries: how to reach Batch, on
//! which clock, with which stop signal and shared looks ([`Converger`]);
//! what a call has seen and done ([`Run`]); what it answers ([`Report`],
//! [`ConvergeError`]); and its bounded Batch calls and pauses, which spend
//! the call's [`Budget`]. The loop itself is [`super::converge`]; the
//! looks ([`super::observe`]) and metadata writes ([`super::lease_write`])
//! add methods of their own. Everything they share is here, so none of
//! them imports another.

use super::api::PoolApi;
use super::budget::{Budget, CALL_MARGIN, Cut};
use super::decide::{Failure, History, Step, WaitReason};
use super::looks::Looks;
use super::poll::{BootLooks, PollPolicy};
use super::snapshot::Observed;
use super::want::Want;
use crate::batch::BatchError;
use crate::clock::Clock;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// On a fast clock (dev, tests) a TLS round trip still takes real
/// milliseconds: never give a call less than this much real time there.
pub(super) const MIN_REAL_CALL_ALLOWANCE: Duration = Duration::from_secs(5);

/// The shortest wait before asking a busy Batch again, whatever it said.
const MIN_BUSY_WAIT: Duration = Duration::from_millis(500);

/// Something the loop did to the pool, for the response body and the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub(crate) enum Action {
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
    /// Failed nodes removed (`taskcompletion`) so replacements can come.
    #[serde(rename_all = "camelCase")]
    RemoveNodes {
        node_ids: Vec<String>,
        after_seconds: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Converged,
    Failed(Failure),
    /// Budget spent while the pool was still on its way.
    Pending(WaitReason),
}

#[derive(Debug, Clone)]
pub(crate) struct Report {
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
pub(crate) struct ConvergeError {
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
pub(crate) type ProgressFn<'a> = dyn Fn(&Observed, &Step) + Sync + 'a;

pub(crate) struct Converger<'a, B: PoolApi> {
    pub batch: &'a B,
    pub clock: Clock,
    pub policy: PollPolicy,
    /// Cancelled when the process is asked to stop (SIGTERM): the loop
    /// then ends its wait early and reports `Pending`, so the open request is
    /// answered with a status URL instead of being dropped. Callers that
    /// never stop early pass a token nobody cancels.
    pub stop: CancellationToken,
    /// Called after every decision of [`Converger::converge_within`] with what was
    /// seen and what comes next, so a caller can show progress live (the
    /// CLI's status line). `None` for the HTTP handlers: they answer once.
    pub progress: Option<&'a ProgressFn<'a>>,
    /// Looks shared with the other callers of this process (the handler's);
    /// `None`: every look is this caller's own (CLI, unit tests).
    pub looks: Option<&'a Looks>,
}

/// Looks in a row whose connection dropped (each after the pipeline's own
/// quick retries) before the call is reported as Batch unreachable.
pub(crate) const MAX_DROPS_IN_A_ROW: u32 = 3;

/// What one call has seen and done so far.
pub(super) struct Run<'b> {
    pub(super) budget: &'b Budget,
    pub(super) calls: u32,
    pub(super) actions: Vec<Action>,
    pub(super) history: History,
    pub(super) last: Option<Observed>,
    /// An accepted action came after `last`: the view must be read again.
    pub(super) stale: bool,
    /// The latest Batch call was busy: (why, what it asked).
    pub(super) busy: Option<(String, Option<Duration>)>,
    /// Dropped connections in a row.
    pub(super) drops: u32,
    /// When this call last saw the pool or last acted on it (real time): a
    /// shared look older than that tells it nothing new.
    pub(super) newest: tokio::time::Instant,
    /// Looks made while nodes boot, for timing them.
    pub(super) boot_looks: Option<BootLooks>,
}

impl<'b> Run<'b> {
    pub(super) fn new(budget: &'b Budget) -> Self {
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
            boot_looks: None,
        }
    }

    pub(super) fn saw(&mut self, observed: Observed) {
        self.newest = tokio::time::Instant::now();
        self.last = Some(observed);
        self.stale = false;
        self.busy = None;
        self.drops = 0;
    }

    /// Records a busy answer; `Some(error)` when the connection has now
    /// dropped too often in a row to call it busy.
    pub(super) fn busy(
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

    pub(super) fn error(self, source: BatchError, want: &Want, doing: &str) -> ConvergeError {
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
    pub(crate) fn budget(&self, wait: Duration) -> Budget {
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

    /// Waits before asking a busy Batch again: as long as it asked
    /// (`Retry-After`, on the handler's clock), else `fallback`. `false`
    /// when that wait does not fit in the budget (or the process stops):
    /// then the caller answers "not yet" at once rather than sleep past
    /// its deadline.
    pub(super) async fn wait_out(
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

    /// Runs a Batch call, but no longer than the budget allows (the wait
    /// left plus [`CALL_MARGIN`]) and not past a stop request. A busy
    /// answer or no answer in time is [`Cut::Busy`]: the caller decides
    /// whether there is time to wait and ask again.
    pub(super) async fn bounded<T>(
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
            () = self.stop.cancelled() => Err(Cut::Stopping),
        }
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Sleeps on the clock; `false` when a stop request cut the sleep short.
    pub(super) async fn pause(&self, duration: Duration) -> bool {
        if self.stopping() {
            return false;
        }
        tokio::select! {
            () = self.clock.sleep(duration) => true,
            () = self.stop.cancelled() => false,
        }
    }
}
