//! What the service did for one call: the one neutral answer each face
//! renders its own way.

use crate::batch::error::cause_chain;
use crate::report::ErrorView;
use crate::resizer::{ConvergeError, Outcome, Report, WaitReason, Want};
use std::time::Duration;

/// What the service did for one call, for a face to render: the want, the
/// wait's result and the writes left to the next call.
#[derive(Debug)]
pub(crate) struct Served {
    pub want: Want,
    pub result: Result<Report, ConvergeError>,
    /// Pool metadata this call meant to write but had no budget (or no
    /// Batch) left for: the next call or poll writes it. Never waited for.
    pub not_written: Vec<Unwritten>,
}

/// A metadata write left to the next call (see [`Served::not_written`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwritten {
    /// The backoff a quota/allocation failure starts, or a success clears.
    Backoff,
    /// A resumed operation's lease: held (scale-up) or released (scale-down).
    Lease,
}

impl Unwritten {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Unwritten::Backoff => "backoff",
            Unwritten::Lease => "lease",
        }
    }
}

impl Served {
    /// Accepted, but nothing could be observed or written yet (handler
    /// busy, stopping, or Batch throttling the lease write): the status URL
    /// carries the operation on.
    pub(super) fn accepted(
        want: Want,
        reason: WaitReason,
        waited: Duration,
        retry_after: Option<Duration>,
    ) -> Self {
        Served {
            want,
            result: Ok(Report {
                outcome: Outcome::Pending(reason),
                last: None,
                actions: Vec::new(),
                waited,
                batch_calls: 0,
                retry_after,
            }),
            not_written: Vec::new(),
        }
    }

    /// The error view of a Batch call that failed for good, and a log line
    /// with its whole cause chain (the top error alone often says only
    /// "request failed").
    pub(crate) fn error_view(error: &ConvergeError) -> ErrorView {
        let view = crate::report::batch_error_view(error);
        tracing::warn!(
            code = view.code,
            cause = crate::telemetry::escape(&cause_chain(error)).into_owned(),
            "Batch call failed"
        );
        view
    }
}
