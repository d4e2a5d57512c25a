//! One timer firing, as the timer face planned it: the schedule's lease,
//! the wait, the backoff, and the lapsed service leases let go.

use super::Service;
use crate::batch::PoolId;
use crate::resizer::budget::Budget;
use crate::resizer::{
    ConvergeError, LeaseEdit, LeaseId, LeaseRule, LeaseWrite, Observed, PoolApi, Report, Want,
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
/// outcome, and the lapsed service leases it let go (a keep-warm grace, a
/// pre-warm nobody came for), if any.
#[derive(Debug)]
pub(crate) struct Ran {
    pub want: Want,
    pub lease: Option<(LeaseEdit, LeaseWrite)>,
    pub result: Result<Report, ConvergeError>,
    /// The lapsed leases let go (`warm`, `forecast`) and the shrink after.
    pub warmth: Option<(Vec<LeaseId>, Result<Report, ConvergeError>)>,
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
            Ok(report) => report.last.as_ref().map(lapsed_floors).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let warmth = if lapsed.is_empty() {
            None
        } else {
            let released = self.release_lapsed(&want.pool_id, &lapsed, &budget).await;
            Some((lapsed, released))
        };
        Fired::Ran(Box::new(Ran {
            want,
            lease,
            result,
            warmth,
        }))
    }

    /// Drops the lapsed service leases, then shrinks the pool to what live
    /// leases (the schedule's included, while its window is open) still need.
    async fn release_lapsed(
        &self,
        pool_id: &PoolId,
        lapsed: &[LeaseId],
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        for id in lapsed {
            self.converger
                .edit_leases(pool_id, &LeaseEdit::Release(id.clone()), budget)
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
/// never scaled down, keep-warm's grace, a pre-warm nobody came for): the
/// next firing lets their nodes go, so an expired lease bounds the bill.
fn lapsed_floors(observed: &Observed) -> Vec<LeaseId> {
    let Observed::Pool(snapshot) = observed else {
        return Vec::new();
    };
    crate::resizer::lease::expired_leases(&snapshot.pool.metadata, snapshot.observed_at)
}
