//! A look at a pool, judged against a target if given; a status URL the
//! service issued resumes its operation and settles its lease.

use super::{LeaseRequest, OverLimit, Served, Service, StatusRequest, Unwritten};
use crate::resizer::budget::{Budget, STATUS_PATIENCE};
use crate::resizer::lease::live_leases;
use crate::resizer::{LeaseEdit, LeaseWrite, Observed, Operation, PoolApi, Report, Want};

impl<B: PoolApi> Service<'_, B> {
    /// A look, judged against a target if one is given. Only a status URL
    /// the service issued (`resume`) may act, and it then settles the lease
    /// its operation's first call meant to leave and records the backoff.
    pub(crate) async fn status(&self, request: &StatusRequest) -> Result<Served, OverLimit> {
        if let Some((_, dedicated, low)) = request.target {
            self.limits
                .check(dedicated, low, ("dedicatedNodes", "lowPriorityNodes"))?;
        }
        let want = self.bounded(request.want(), request.fallback_to_dedicated);
        // One budget for the look, the step and the writes after it.
        let budget = self.converger.budget(STATUS_PATIENCE);
        let mut not_written = Vec::new();
        let result = if request.resume {
            let mut result = self.converger.resume(&want, &budget).await;
            if let Ok(report) = &mut result {
                if let Some(lease) = &request.lease
                    && !self.settle_lease(&want, report, lease, &budget).await
                {
                    not_written.push(Unwritten::Lease);
                }
                // A scale-up that outlived its first call ends here, on the
                // caller's poll: its outcome starts or clears the backoff
                // exactly as an inline one would.
                if !self.record_backoff(&want, report, &budget).await {
                    not_written.push(Unwritten::Backoff);
                }
            }
            result
        } else {
            self.converger.check_within(&want, &budget).await
        };
        Ok(Served {
            want,
            result,
            not_written,
        })
    }

    /// A resumed operation's lease, as its first call meant to leave it: a
    /// scale-up's lease held (its call may have ended before the write, say
    /// on SIGTERM or throttling), a scale-down's released. Written only when
    /// the pool just seen disagrees, so polls cost no extra call; a failure
    /// here, or no budget left for it, is left to the next poll (`false`).
    async fn settle_lease(
        &self,
        want: &Want,
        report: &Report,
        lease: &LeaseRequest,
        budget: &Budget,
    ) -> bool {
        let Some(Observed::Pool(snapshot)) = &report.last else {
            return true;
        };
        let held = live_leases(&snapshot.pool.metadata, snapshot.observed_at)
            .iter()
            .any(|live| live.id == lease.id);
        let edit = match (want.operation, held) {
            (Operation::ScaleUp, false) => self.hold(lease, want.dedicated, want.low_priority),
            (Operation::ScaleDown, true) => LeaseEdit::Release(lease.id.clone()),
            _ => return true,
        };
        match self
            .converger
            .edit_leases(&want.pool_id, &edit, budget)
            .await
        {
            Ok(LeaseWrite::NotWritten { why, .. }) => {
                tracing::info!(pool = %want.pool_id, why, "lease not settled yet; the next poll tries again");
                false
            }
            Ok(outcome) => {
                tracing::info!(pool = %want.pool_id, ?outcome, "resumed operation's lease settled");
                true
            }
            Err(error) => {
                tracing::warn!(pool = %want.pool_id, error = %error, "could not settle the lease; the next poll tries again");
                false
            }
        }
    }
}
