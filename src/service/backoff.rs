//! The backoff a quota or capacity failure starts and a success clears,
//! recorded on the pool after any scale-up, whichever face asked.

use super::Service;
use crate::resizer::budget::Budget;
use crate::resizer::marks::{BACKOFF_CODES, Backoff};
use crate::resizer::{
    FailureCode, LeaseWrite, Observed, Operation, Outcome, PoolApi, PoolEdit, Report, Want,
};

impl<B: PoolApi> Service<'_, B> {
    /// After a scale-up: an allocation failure that asking again would only
    /// repeat (quota, capacity) starts or doubles a backoff; a success
    /// clears one. Written only on those changes, and once Batch took the
    /// write (an `If-Match` on the pool just seen), the report's pool says so
    /// too: the caller learns of the backoff from the answer that caused it.
    ///
    /// On the caller's budget, never a fresh one: with none left the write
    /// is not tried (`false`: the next scale-up or poll writes it).
    pub(crate) async fn record_backoff(
        &self,
        want: &Want,
        report: &mut Report,
        budget: &Budget,
    ) -> bool {
        // A look (a scale-up to nothing) proves nothing about capacity.
        if want.operation != Operation::ScaleUp || want.dedicated + want.low_priority == 0 {
            return true;
        }
        let Some(Observed::Pool(snapshot)) = &mut report.last else {
            return true;
        };
        let previous: Option<Backoff> =
            crate::resizer::marks::read(&snapshot.pool.metadata, crate::resizer::marks::BACKOFF);
        let edit = match &report.outcome {
            Outcome::Failed(failure)
                if failure.code == FailureCode::ResizeFailed
                    && failure
                        .batch_code
                        .as_deref()
                        .is_some_and(|code| BACKOFF_CODES.contains(&code)) =>
            {
                PoolEdit::SetBackoff(Backoff::after(
                    previous.as_ref(),
                    failure.batch_code.as_deref().unwrap_or_default(),
                    &failure.message,
                    snapshot.observed_at,
                ))
            }
            Outcome::Converged if previous.is_some() => PoolEdit::ClearBackoff,
            _ => return true,
        };
        match self.converger.edit_pool(&want.pool_id, &edit, budget).await {
            Ok(LeaseWrite::Written { .. } | LeaseWrite::Unchanged) => {
                let recorded = match &edit {
                    PoolEdit::SetBackoff(backoff) => Some(backoff),
                    _ => None,
                };
                if let Some(metadata) = crate::resizer::marks::set(
                    &snapshot.pool.metadata,
                    crate::resizer::marks::BACKOFF,
                    recorded,
                ) {
                    snapshot.pool.metadata = metadata;
                }
                true
            }
            Ok(outcome) => {
                tracing::info!(pool = %want.pool_id, ?outcome, "backoff not recorded; the next scale-up tries again");
                false
            }
            Err(error) => {
                tracing::warn!(pool = %want.pool_id, error = %error, "could not record the backoff");
                false
            }
        }
    }
}
