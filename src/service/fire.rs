//! One timer firing, as the timer face planned it: the schedule's lease,
//! the wait, the backoff, and the lapsed service leases let go.

use super::Service;
use crate::batch::PoolId;
use crate::resizer::budget::Budget;
use crate::resizer::lease::expired_leases;
use crate::resizer::lease::idle::idle_leases;
use crate::resizer::{
    ConvergeError, Lease, LeaseEdit, LeaseRule, LeaseWrite, Observed, PoolApi, Report, Want,
};
use std::time::Duration;

/// What the schedule asks of one firing, as the timer face judged the
/// window: the want, the schedule's own lease edit (`None`: the firing only
/// looks), and how long it may wait.
#[derive(Debug, Clone)]
pub(crate) struct ScheduledWork {
    pub want: Want,
    pub lease: Option<LeaseEdit>,
    pub wait: Duration,
}

/// What one firing did, for the timer face to log.
#[derive(Debug)]
pub(crate) enum Fired {
    /// The schedule's lease was not written, so the pool was left as it is.
    LeaseNotWritten(LeaseFailure),
    /// The schedule's lease handled, then the wait.
    Ran(Box<Ran>),
}

/// A firing that ran: the lease written (if there was one), the wait's
/// outcome, and the lapsed leases it let go (a keep-warm grace, a pre-warm
/// nobody came for, a pipeline's that expired or stood idle), if any.
#[derive(Debug)]
pub(crate) struct Ran {
    pub want: Want,
    pub lease: Option<(LeaseEdit, LeaseWrite)>,
    pub result: Result<Report, ConvergeError>,
    /// The lapsed leases let go and the shrink after.
    pub let_go: Option<(Vec<Lapsed>, Result<Report, ConvergeError>)>,
}

/// A lease its holder left behind, as the firing saw it, and why it goes.
#[derive(Debug, Clone)]
pub(crate) struct Lapsed {
    pub lease: Lease,
    pub why: LapseReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LapseReason {
    /// Past its `expires`.
    Expired,
    /// Its nodes stood idle past its `leaseIdleMinutes` ([`idle_leases`]).
    Idle,
}

/// Why a lease write did not happen.
#[derive(Debug)]
pub(crate) enum LeaseFailure {
    /// Batch stayed busy (throttled, slow) for the whole wait; what it said.
    Busy(String),
    /// Batch refused or could not be reached.
    Failed(Box<ConvergeError>),
}

impl<B: PoolApi> Service<'_, B> {
    /// One timer firing, as the timer face judged the window: the
    /// schedule's lease written first, then the wait, on one budget; the
    /// backoff recorded as for any scale-up; and, since keep-warm's grace
    /// has no timer of its own, warm nodes whose grace is over let go, so
    /// none is kept past it for lack of a call. Not counted against the cap
    /// on concurrent waits: timers fire a few times an hour.
    pub(crate) async fn fire(&self, work: ScheduledWork) -> Fired {
        let ScheduledWork { want, lease, wait } = work;
        let want = Want {
            caps: self.limits.caps(),
            ..want
        };
        let budget = self.converger.budget(wait);
        let lease = match lease {
            None => None,
            Some(edit) => match self
                .converger
                .edit_leases(&want.pool_id, &edit, &budget)
                .await
            {
                Ok(LeaseWrite::NotWritten { why, .. }) => {
                    return Fired::LeaseNotWritten(LeaseFailure::Busy(why));
                }
                Err(error) => {
                    return Fired::LeaseNotWritten(LeaseFailure::Failed(Box::new(error)));
                }
                Ok(written) => Some((edit, written)),
            },
        };
        let mut result = if lease.is_some() {
            self.converger.converge_within(&want, &budget).await
        } else {
            self.converger.check_within(&want, &budget).await
        };
        if let Ok(report) = &mut result {
            self.record_backoff(&want, report, &budget).await;
        }
        // What is left of the one budget: a grace it cannot end now is
        // ended by the next firing.
        let lapsed = match &result {
            Ok(report) => report.last.as_ref().map(lapsed).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let let_go = if lapsed.is_empty() {
            None
        } else {
            let released = self.release_lapsed(&want.pool_id, &lapsed, &budget).await;
            Some((lapsed, released))
        };
        Fired::Ran(Box::new(Ran {
            want,
            lease,
            result,
            let_go,
        }))
    }

    /// Drops the lapsed leases (each only if unchanged since it was seen:
    /// a holder that renewed keeps it), then shrinks the pool to what live
    /// leases (the schedule's included, while its window is open) still need.
    async fn release_lapsed(
        &self,
        pool_id: &PoolId,
        lapsed: &[Lapsed],
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        for gone in lapsed {
            self.converger
                .edit_leases(pool_id, &LeaseEdit::Lapse(gone.lease.clone()), budget)
                .await?;
        }
        let shrink = Want {
            caps: self.limits.caps(),
            ..Want::scale_down(pool_id.clone(), 0, 0, LeaseRule::Honour)
        };
        self.converger.converge_within(&shrink, budget).await
    }
}

/// The leases the pool still carries after they expired (a pipeline that
/// never scaled down, keep-warm's grace, a pre-warm nobody came for), and
/// the pipelines' leases whose nodes stood idle past their own limit: the
/// firing lets their nodes go, so the bill of a pipeline that never scaled
/// down ends with its idle limit or, without one, its lease.
fn lapsed(observed: &Observed) -> Vec<Lapsed> {
    let Observed::Pool(snapshot) = observed else {
        return Vec::new();
    };
    let (metadata, now) = (&snapshot.pool.metadata, snapshot.observed_at);
    let expired = expired_leases(metadata, now)
        .into_iter()
        .map(|lease| Lapsed {
            lease,
            why: LapseReason::Expired,
        });
    let idle = snapshot
        .nodes
        .as_ref()
        .map(|nodes| idle_leases(metadata, &nodes.seen(), now))
        .unwrap_or_default()
        .into_iter()
        .map(|lease| Lapsed {
            lease,
            why: LapseReason::Idle,
        });
    expired.chain(idle).collect()
}
