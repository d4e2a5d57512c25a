//! One request's time: its [`Budget`] (the wait, plus a small margin for
//! the Batch call in flight) and the converger's bounded calls and pauses,
//! so every answer leaves in time whatever Batch does.

use super::api::PoolApi;
use super::converge::Converger;
use crate::batch::BatchError;
use crate::clock::Stopwatch;
use std::future::Future;
use std::time::Duration;

/// Beyond its wait budget a call may still spend this long on Batch calls
/// (clock time), so a zero wait still observes (and acts) once. The
/// budget's HTTP cap (200 s) plus this stays well inside Azure's 230 s limit.
pub(crate) const CALL_MARGIN: Duration = Duration::from_secs(5);

/// On a fast clock (dev, tests) a TLS round trip still takes real
/// milliseconds: never give a call less than this much real time there.
const MIN_REAL_CALL_ALLOWANCE: Duration = Duration::from_secs(5);

/// How long a status check waits out a throttled or slow Batch before it
/// answers "not yet": people and pollers are waiting on it.
pub(crate) const STATUS_PATIENCE: Duration = Duration::from_secs(10);

/// The shortest wait before asking a busy Batch again, whatever it said.
const MIN_BUSY_WAIT: Duration = Duration::from_millis(500);

/// One call's wait: how much of it is left, and how long Batch calls may
/// still take. Shared by the lease write and the converge loop of a
/// request, so the answer leaves in time whatever ran first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(super) watch: Stopwatch,
    /// When the call began (real time): shared looks must be newer.
    pub(super) began: tokio::time::Instant,
    wait: Duration,
    /// [`CALL_MARGIN`], or on a fast clock at least
    /// [`MIN_REAL_CALL_ALLOWANCE`] of real time.
    margin: Duration,
}

impl Budget {
    pub(crate) fn elapsed(&self) -> Duration {
        self.watch.elapsed()
    }

    /// Wait time left: sleeping past this is not allowed.
    pub(crate) fn left(&self) -> Duration {
        self.wait.saturating_sub(self.elapsed())
    }

    /// How long the next Batch call may take: the wait left plus the margin.
    pub(super) fn call_allowance(&self) -> Duration {
        (self.wait + self.margin).saturating_sub(self.elapsed())
    }
}

/// Why a Batch call did not complete.
pub(super) enum Cut {
    /// Looking again will not help: answer with the error.
    Failed(BatchError),
    /// Throttled, a transient server error, slow, or a dropped connection:
    /// wait and look again.
    Busy {
        retry_after: Option<Duration>,
        why: String,
        /// A dropped connection: transient once, but a connection that drops
        /// every time is a Batch we cannot reach ([`MAX_DROPS_IN_A_ROW`](super::converge::MAX_DROPS_IN_A_ROW)).
        dropped: Option<BatchError>,
    },
    /// The process is stopping: answer now with what we have.
    Stopping,
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
