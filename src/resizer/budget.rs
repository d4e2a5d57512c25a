//! One request's time: its [`Budget`] (the wait, plus a small margin for
//! the Batch call in flight) and why a call was cut ([`Cut`]). The
//! converger's bounded calls and pauses that spend it are in
//! [`super::converger`], so this file imports no converger.

use crate::batch::BatchError;
use crate::clock::Stopwatch;
use std::time::Duration;

/// Beyond its wait budget a call may still spend this long on Batch calls
/// (clock time), so a zero wait still observes (and acts) once. The
/// budget's HTTP cap (200 s) plus this stays well inside Azure's 230 s limit.
pub(crate) const CALL_MARGIN: Duration = Duration::from_secs(5);

/// How long a status check waits out a throttled or slow Batch before it
/// answers "not yet": people and pollers are waiting on it.
pub(crate) const STATUS_PATIENCE: Duration = Duration::from_secs(10);

/// One call's wait: how much of it is left, and how long Batch calls may
/// still take. Shared by the lease write and the converge loop of a
/// request, so the answer leaves in time whatever ran first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(super) watch: Stopwatch,
    /// When the call began (real time): shared looks must be newer.
    pub(super) began: tokio::time::Instant,
    pub(super) wait: Duration,
    /// [`CALL_MARGIN`], or on a fast clock at least
    /// [`MIN_REAL_CALL_ALLOWANCE`](super::converger::MIN_REAL_CALL_ALLOWANCE) of real time.
    pub(super) margin: Duration,
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
        /// every time is a Batch we cannot reach ([`MAX_DROPS_IN_A_ROW`](super::converger::MAX_DROPS_IN_A_ROW)).
        dropped: Option<BatchError>,
    },
    /// The process is stopping: answer now with what we have.
    Stopping,
}
