//! Metadata writes (leases, keep-warm, pause, backoff, the pool's rhythm):
//! read the pool (ETag), edit its metadata, `PATCH` with `If-Match`, read
//! again on 412. Within the request's budget, waiting out a busy Batch like
//! every other call. A caller's first hold of a lease also records its
//! arrival in the pool's rhythm, in the same `PATCH`; a `MetadataTooLarge`
//! refusal is retried with that history cut, never failed for it.

use super::api::PoolApi;
use super::budget::{Budget, Cut};
use super::converger::{ConvergeError, Converger, Run};
use super::keep_warm::{self, KeepWarm};
use super::lease::{self, Lease, LeaseEdit, WARM_LEASE};
use super::marks::{self, Backoff, Paused};
use super::rhythm::{self, Note};
use super::want::Want;
use crate::batch::models::{MetadataItem, Pool, PoolState};
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
    /// Keep the nodes a scale-down releases warm (a lease held by `warm`,
    /// sized when it is written), for minutes fixed or picked by `auto`
    /// from the pool's rhythm as it is then.
    KeepWarm(KeepWarm),
    SetBackoff(Backoff),
    ClearBackoff,
    Pause(Paused),
    Unpause,
    /// Add to the pool's rhythm (arrivals, boots).
    Rhythm(Note),
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
        self.edit_pool_from(pool_id, None, edit, budget).await.0
    }

    /// [`Self::edit_pool`], starting from `seen` (a pool this call just
    /// read, with its ETag) instead of reading it first: one call when
    /// nobody wrote since, a read and a retry when someone did. Also says
    /// how many Batch calls it made.
    pub(crate) async fn edit_pool_from(
        &self,
        pool_id: &PoolId,
        seen: Option<Pool>,
        edit: &PoolEdit,
        budget: &Budget,
    ) -> (Result<LeaseWrite, ConvergeError>, u32) {
        let mut calls = 0;
        let result = self
            .edit_pool_counted(pool_id, seen, edit, budget, &mut calls)
            .await;
        (result, calls)
    }

    async fn edit_pool_counted(
        &self,
        pool_id: &PoolId,
        seen: Option<Pool>,
        edit: &PoolEdit,
        budget: &Budget,
        calls: &mut u32,
    ) -> Result<LeaseWrite, ConvergeError> {
        let want = Want::look(pool_id.clone());
        let mut run = Run::new(budget);
        let written = self.write_loop(pool_id, seen, edit, &mut run, calls).await;
        written.map_err(|(e, doing)| run.error(e, &want, doing))
    }

    /// Read, edit, write until written, unchanged or given up; a failure
    /// says what it was doing, for [`Run::error`].
    async fn write_loop(
        &self,
        pool_id: &PoolId,
        mut seen: Option<Pool>,
        edit: &PoolEdit,
        run: &mut Run<'_>,
        calls: &mut u32,
    ) -> Result<LeaseWrite, Refused> {
        let budget = run.budget;
        let mut attempts = 0;
        // How far the rhythm is cut after `MetadataTooLarge` (`rhythm::compact`).
        let mut trim = 0;
        while attempts < MAX_LEASE_WRITE_ATTEMPTS {
            let read = match seen.take() {
                Some(pool) => Ok(pool),
                None => {
                    run.calls += 1;
                    *calls = run.calls;
                    self.bounded(self.batch.get_pool(pool_id), budget).await
                }
            };
            let pool = match read {
                Ok(pool) => {
                    run.drops = 0;
                    pool
                }
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                Err(cut) => match self.edit_after_cut(cut, run, READING).await? {
                    Some(answer) => return Ok(answer),
                    None => continue,
                },
            };
            if pool.state == Some(PoolState::Deleting) {
                return Ok(LeaseWrite::Skipped);
            }
            let etag = pool
                .e_tag
                .clone()
                .ok_or_else(|| (no_etag(pool_id), WRITING))?;
            let Some(next) = edited(&pool, edit, self.clock.now_utc()) else {
                return Ok(LeaseWrite::Unchanged);
            };
            let next = match trim {
                0 => next,
                // No history left to cut: the write itself is too large.
                _ => rhythm::compact(&next, trim).ok_or_else(|| (too_large(pool_id), WRITING))?,
            };
            attempts += 1;
            run.calls += 1;
            *calls = run.calls;
            let replace = self
                .batch
                .replace_pool_metadata(pool_id, &next, Some(&etag));
            match self.bounded(replace, budget).await {
                Ok(()) => return Ok(self.written(pool_id, attempts)),
                Err(Cut::Failed(e)) if e.code() == Some(rhythm::TOO_LARGE) => {
                    // Batch documents no limit: cut the history and try again.
                    tracing::info!(pool = %pool_id, cut = trim, "pool metadata too large; cutting its rhythm");
                    trim += 1;
                }
                Err(Cut::Failed(e)) if e.is_precondition_failed() || e.is_conflict() => {
                    tracing::debug!(pool = %pool_id, attempts, "lease write lost a race; reading again");
                    self.clock.sleep(race_pause(attempts)).await;
                }
                Err(Cut::Failed(e)) if e.is_not_found() => return Ok(LeaseWrite::Skipped),
                // After a busy answer the write may or may not have landed: read and see.
                Err(cut) => {
                    if let Some(answer) = self.edit_after_cut(cut, run, WRITING).await? {
                        return Ok(answer);
                    }
                }
            }
        }
        let e = BatchError::Contended {
            url: pool_id.to_string(),
            attempts,
        };
        Err((e, WRITING))
    }

    /// A write landed. A look shared from before it shows the metadata it
    /// replaced: whoever waits on the pool next (this caller's own wait
    /// included) looks again.
    fn written(&self, pool_id: &PoolId, attempts: u32) -> LeaseWrite {
        if let Some(looks) = self.looks {
            looks.forget(pool_id);
        }
        LeaseWrite::Written { attempts }
    }

    /// After a call that failed, found Batch busy or was cut short: `Err` to
    /// fail, `Some` to answer with (Batch stayed busy for the whole budget,
    /// the handler stops), `None` to read again once Batch was waited out.
    async fn edit_after_cut(
        &self,
        cut: Cut,
        run: &mut Run<'_>,
        doing: &'static str,
    ) -> Result<Option<LeaseWrite>, Refused> {
        match cut {
            Cut::Failed(e) => Err((e, doing)),
            Cut::Busy {
                retry_after,
                why,
                dropped,
            } => {
                if let Some(e) = run.busy(why.clone(), retry_after, dropped) {
                    return Err((e, doing));
                }
                if self
                    .wait_out(retry_after, self.policy.first, run.budget)
                    .await
                {
                    return Ok(None);
                }
                Ok(Some(LeaseWrite::NotWritten { why, retry_after }))
            }
            Cut::Stopping => Ok(Some(LeaseWrite::NotWritten {
                why: "the handler is shutting down".into(),
                retry_after: None,
            })),
        }
    }
}

/// A caller letting go of a lease it holds: its departure, for keep-warm
/// `auto`'s gaps. The service's own leases are none.
fn departure(
    metadata: &[MetadataItem],
    edit: &LeaseEdit,
    now: time::OffsetDateTime,
) -> Option<Note> {
    let LeaseEdit::Release(id) = edit else {
        return None;
    };
    let held = lease::live_leases(metadata, now)
        .iter()
        .any(|live| &live.id == id);
    (held && rhythm::counts_as_arrival(id)).then(|| Note::departure(now))
}

/// A failed metadata write: the Batch error, and what was being done.
type Refused = (BatchError, &'static str);

const READING: &str = "reading the leases of";
const WRITING: &str = "writing the leases of";

/// After a lost race, a short random pause on the clock before reading
/// again, longer as the losses add up: spreads a storm of writers out.
fn race_pause(attempts: u32) -> Duration {
    let spread = 5 * u64::from(attempts.min(10));
    Duration::from_millis(rand::random_range(1..=spread))
}

/// The pool's metadata with `edit` applied at `now`; `None` when it
/// already says so.
fn edited(pool: &Pool, edit: &PoolEdit, now: time::OffsetDateTime) -> Option<Vec<MetadataItem>> {
    match edit {
        PoolEdit::Lease(edit) => {
            lease::apply(&pool.metadata, edit, now).map(|next| {
                match arrival(&pool.metadata, edit, now)
                    .or_else(|| departure(&pool.metadata, edit, now))
                {
                    Some(note) => rhythm::record(&next, &note).unwrap_or(next),
                    None => next,
                }
            })
        }
        PoolEdit::KeepWarm(keep) => {
            let rhythm = rhythm::read(&pool.metadata);
            let minutes = keep_warm::minutes(*keep, &rhythm, now.unix_timestamp().div_euclid(60));
            if minutes == 0 {
                return None;
            }
            // The nodes nothing else keeps (the leases left after this
            // scale-down's release, a pre-warm, the schedule) are the ones
            // it releases: those stay warm, with any still warm from before.
            let warm: lease::LeaseId = WARM_LEASE.parse().expect("a valid lease id");
            let kept = lease::lease_need(&pool.metadata, now, Some(&warm), lease::UNCAPPED);
            lease::apply(
                &pool.metadata,
                &LeaseEdit::Hold(Lease {
                    id: warm,
                    dedicated: pool.target_dedicated_nodes.saturating_sub(kept.0),
                    low_priority: pool.target_low_priority_nodes.saturating_sub(kept.1),
                    expires: now + Duration::from_secs(u64::from(minutes) * 60),
                    idle: None,
                }),
                now,
            )
        }
        PoolEdit::SetBackoff(backoff) => marks::set(&pool.metadata, marks::BACKOFF, Some(backoff)),
        PoolEdit::ClearBackoff => marks::set::<Backoff>(&pool.metadata, marks::BACKOFF, None),
        PoolEdit::Pause(paused) => marks::set(&pool.metadata, marks::PAUSED, Some(paused)),
        PoolEdit::Unpause => marks::set::<Paused>(&pool.metadata, marks::PAUSED, None),
        PoolEdit::Rhythm(note) => rhythm::record(&pool.metadata, note),
    }
}

/// A pool without an ETag cannot be written safely (`If-Match`).
fn no_etag(pool_id: &PoolId) -> BatchError {
    BatchError::Decode {
        url: pool_id.to_string(),
        detail: "the pool came without an ETag, so its metadata cannot be updated safely".into(),
        source: None,
    }
}

/// A caller taking a lease it does not hold yet: its arrival, for the
/// pool's rhythm. Renewals, releases and the service's own leases are none.
fn arrival(metadata: &[MetadataItem], edit: &LeaseEdit, now: time::OffsetDateTime) -> Option<Note> {
    let LeaseEdit::Hold(hold) = edit else {
        return None;
    };
    let held = lease::live_leases(metadata, now)
        .iter()
        .any(|live| live.id == hold.id);
    (!held && rhythm::counts_as_arrival(&hold.id) && hold.dedicated + hold.low_priority > 0)
        .then(|| Note::arrival(now, hold.dedicated, hold.low_priority))
}

/// A write Batch refused as too large even without any history to cut.
fn too_large(pool_id: &PoolId) -> BatchError {
    BatchError::Decode {
        url: pool_id.to_string(),
        detail: format!(
            "Batch refused the pool's metadata as too large ({}), even without pool-resizer's rhythm",
            rhythm::TOO_LARGE
        ),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pause after a lost race stays within 1 ms and 5 ms per loss,
    /// capped at ten losses: a storm of writers spreads out, none waits long.
    #[test]
    fn the_pause_after_a_lost_race_grows_with_the_losses_and_is_capped() {
        for (attempts, most) in [(1, 5), (4, 20), (10, 50), (40, 50)] {
            for _ in 0..50 {
                let pause = race_pause(attempts).as_millis();
                assert!((1..=most).contains(&pause), "{attempts}: {pause} ms");
            }
        }
    }
}
