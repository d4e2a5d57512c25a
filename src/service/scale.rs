//! A scale request: caps checked, its lease and keep-warm written, then
//! the wait, all on one budget.

use super::{LeaseRequest, OverLimit, ScaleRequest, Served, Service, Unwritten};
use crate::resizer::budget::Budget;
use crate::resizer::lease::IdleLimit;
use crate::resizer::{
    Lease, LeaseEdit, LeaseWrite, Operation, PoolApi, PoolEdit, WaitReason, Want,
};
use std::time::Duration;

impl<B: PoolApi> Service<'_, B> {
    /// Scales as asked: caps checked, the lease written first, then the wait,
    /// all within one budget.
    pub(crate) async fn scale(&self, request: &ScaleRequest) -> Result<Served, OverLimit> {
        self.limits.check(
            request.dedicated,
            request.low_priority,
            ("dedicatedNodes", "lowPriorityNodes"),
        )?;
        let want = self.bounded(request.want(), request.fallback_to_dedicated);
        let mut edits: Vec<PoolEdit> = request
            .lease
            .iter()
            .map(|lease| {
                PoolEdit::Lease(match request.operation {
                    Operation::ScaleUp => self.hold(lease, request.dedicated, request.low_priority),
                    Operation::ScaleDown => LeaseEdit::Release(lease.id.clone()),
                })
            })
            .collect();
        // Keep-warm: the nodes this scale-down releases stay for the next
        // pipeline; a lease held by `warm` keeps them until it expires, when
        // the next scale-down or the reconcile timer lets them go.
        if request.operation == Operation::ScaleDown
            && !request.keep_warm.is_off()
            && !request.force
        {
            edits.push(PoolEdit::KeepWarm(request.keep_warm));
        }
        // One budget for the whole request: the edits, the wait and the
        // backoff write after it, so the answer leaves within the wait plus
        // the call margin whatever Batch does to any of them.
        let budget = self.converger.budget(request.wait);
        let mut answer = self.run(want, edits, &budget).await;
        if let Ok(report) = &mut answer.result
            && !self.record_backoff(&answer.want, report, &budget).await
        {
            answer.not_written.push(Unwritten::Backoff);
        }
        Ok(answer)
    }

    /// Converges `want` within `budget`, after `edits` (lease changes,
    /// keep-warm) on the same budget.
    pub(crate) async fn run(&self, want: Want, edits: Vec<PoolEdit>, budget: &Budget) -> Served {
        let permit = match self.waits {
            Some(waits) => match waits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(pool = %want.pool_id, "at the limit of concurrent waits; answered at once");
                    return Served::accepted(want, WaitReason::HandlerBusy, Duration::ZERO, None);
                }
            },
            None => None,
        };
        for edit in &edits {
            match self.converger.edit_pool(&want.pool_id, edit, budget).await {
                Ok(LeaseWrite::NotWritten { why, retry_after }) => {
                    tracing::info!(pool = %want.pool_id, why, "lease not written yet; the status URL will");
                    let reason = if self.converger.stop.is_cancelled() {
                        WaitReason::ShuttingDown
                    } else {
                        WaitReason::BatchBusy
                    };
                    return Served::accepted(want, reason, budget.elapsed(), retry_after);
                }
                Ok(outcome) => {
                    tracing::info!(pool = %want.pool_id, ?edit, ?outcome, "pool metadata updated");
                }
                Err(error) => {
                    return Served {
                        want,
                        result: Err(error),
                        not_written: Vec::new(),
                    };
                }
            }
        }
        let result = self.converger.converge_within(&want, budget).await;
        drop(permit);
        Served {
            want,
            result,
            not_written: Vec::new(),
        }
    }

    /// The hold a lease request asks for, from now on the handler's clock.
    pub(super) fn hold(
        &self,
        lease: &LeaseRequest,
        dedicated: u32,
        low_priority: u32,
    ) -> LeaseEdit {
        let now = self.converger.clock.now_utc();
        LeaseEdit::Hold(Lease {
            id: lease.id.clone(),
            dedicated,
            low_priority,
            expires: now + Duration::from_secs(u64::from(lease.minutes) * 60),
            idle: lease.idle_minutes.map(|minutes| IdleLimit {
                minutes,
                held_at: now,
            }),
        })
    }
}
