//! Metadata writes (leases, keep-warm, pause, backoff): read the pool
//! (ETag), edit its metadata, `PATCH` with `If-Match`, read again on 412.
//! Within the request's budget, waiting out a busy Batch like every other call.

use super::api::PoolApi;
use super::budget::{Budget, Cut};
use super::converge::{ConvergeError, Converger, Run};
use super::lease::{self, Lease, LeaseEdit, WARM_LEASE};
use super::marks::{self, Backoff, Paused};
use super::want::Want;
use crate::batch::{BatchError, PoolId};
use std::time::Duration;

/// How a lease change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaseWrite {
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

/// A change to the pool's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolEdit {
    Lease(LeaseEdit),
    /// Keep the pool's current targets for `minutes` (a lease held by
    /// `warm`, sized to the targets when it is written).
    KeepWarm {
        minutes: u32,
    },
    SetBackoff(Backoff),
    ClearBackoff,
    Pause(Paused),
    Unpause,
}

/// Optimistic writers give up after this many lost races in a row.
pub(crate) const MAX_LEASE_WRITE_ATTEMPTS: u32 = 40;

impl<B: PoolApi> Converger<'_, B> {
    /// Applies `edit` to the pool's lease metadata: read (ETag), edit, `PATCH`
    /// with `If-Match`; on 412 someone else wrote in between, so read again
    /// after a short random pause (which spreads a storm of writers out).
    /// A busy Batch is waited out within `budget`.
    pub(crate) async fn edit_leases(
        &self,
        pool_id: &PoolId,
        edit: &LeaseEdit,
        budget: &Budget,
    ) -> Result<LeaseWrite, ConvergeError> {
        self.edit_pool(pool_id, &PoolEdit::Lease(edit.clone()), budget)
            .await
    }

    /// Applies any [`PoolEdit`] the same way.
    pub(crate) async fn edit_pool(
        &self,
        pool_id: &PoolId,
        edit: &PoolEdit,
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
                    source: None,
                };
                return Err(run.error(e, &want, "writing the leases of"));
            };
            let now = self.clock.now_utc();
            let next = match edit {
                PoolEdit::Lease(edit) => lease::apply(&pool.metadata, edit, now),
                PoolEdit::KeepWarm { minutes } => lease::apply(
                    &pool.metadata,
                    &LeaseEdit::Hold(Lease {
                        id: WARM_LEASE.parse().expect("a valid lease id"),
                        dedicated: pool.target_dedicated_nodes,
                        low_priority: pool.target_low_priority_nodes,
                        expires: now + Duration::from_secs(u64::from(*minutes) * 60),
                    }),
                    now,
                ),
                PoolEdit::SetBackoff(backoff) => {
                    marks::set(&pool.metadata, marks::BACKOFF, Some(backoff))
                }
                PoolEdit::ClearBackoff => {
                    marks::set::<Backoff>(&pool.metadata, marks::BACKOFF, None)
                }
                PoolEdit::Pause(paused) => marks::set(&pool.metadata, marks::PAUSED, Some(paused)),
                PoolEdit::Unpause => marks::set::<Paused>(&pool.metadata, marks::PAUSED, None),
            };
            let Some(next) = next else {
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
}
