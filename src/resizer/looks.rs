//! Shared looks: one observation of a pool serves every caller waiting on
//! it in this process, so Batch load does not grow with callers.
//!
//! Batch throttles per account. Without sharing, N pipelines waiting on one
//! pool make N looks per poll interval, and a burst of status polls can get
//! real pipelines throttled. With it, a look is taken at most once per
//! [`SHARE_WINDOW`] per pool (single flight: callers arriving while a look
//! is in flight wait for it and take its result), whatever N is.
//!
//! Truth is kept: a caller only takes an observation that *completed after
//! its own call began*, so every answer still rests on what Batch said
//! during that call, never on a cached past.

use super::snapshot::Observed;
use crate::batch::PoolId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Within this (real) time a completed look serves every other caller.
pub(crate) const SHARE_WINDOW: Duration = Duration::from_secs(1);

/// One pool's last look and the gate that makes looks single-flight.
#[derive(Default)]
struct PoolLooks {
    last: Option<(Instant, Observed)>,
}

/// Per process: the last look of every pool, each behind its own lock, and
/// how many callers are waiting on each pool right now.
#[derive(Default)]
pub(crate) struct Looks {
    pools: Mutex<HashMap<PoolId, Arc<tokio::sync::Mutex<PoolLooks>>>>,
    waiting: Arc<Mutex<HashMap<PoolId, usize>>>,
    /// Per pool: boots up to this instant (unix seconds) are being or have
    /// been written to its rhythm by a caller of this process, so the
    /// crowd that saw them too does not write them again.
    boots_claimed: Mutex<HashMap<PoolId, i64>>,
}

/// A caller's place among a pool's waiters; leaving drops it.
pub(crate) struct Waiting {
    waiting: Arc<Mutex<HashMap<PoolId, usize>>>,
    pool_id: PoolId,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiting = self
            .waiting
            .lock()
            .expect("never poisoned: no panics under it");
        if let Some(count) = waiting.get_mut(&self.pool_id) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.pool_id);
            }
        }
    }
}

impl Looks {
    /// Counts the caller among `pool_id`'s waiters until the guard drops.
    pub(crate) fn wait_on(&self, pool_id: &PoolId) -> Waiting {
        *self
            .waiting
            .lock()
            .expect("never poisoned: no panics under it")
            .entry(pool_id.clone())
            .or_default() += 1;
        Waiting {
            waiting: self.waiting.clone(),
            pool_id: pool_id.clone(),
        }
    }

    /// More than one caller waits on the pool: looks are worth sharing, so
    /// each should take whole looks (pool and nodes) that the others can use,
    /// rather than cheaper looks of its own that nobody else can.
    pub(crate) fn crowded(&self, pool_id: &PoolId) -> bool {
        self.waiting
            .lock()
            .expect("never poisoned: no panics under it")
            .get(pool_id)
            .is_some_and(|count| *count > 1)
    }

    fn gate(&self, pool_id: &PoolId) -> Arc<tokio::sync::Mutex<PoolLooks>> {
        let mut pools = self
            .pools
            .lock()
            .expect("never poisoned: no panics under it");
        pools.entry(pool_id.clone()).or_default().clone()
    }

    /// A look at `pool_id` that completed after `since` and within the
    /// share window, listing nodes if `needs_nodes`; else `look()` is run
    /// (one at a time per pool) and its result shared with those waiting.
    pub(crate) async fn look<E>(
        &self,
        pool_id: &PoolId,
        since: Instant,
        needs_nodes: bool,
        look: impl Future<Output = Result<Observed, E>>,
    ) -> Result<(Observed, bool), E> {
        let gate = self.gate(pool_id);
        let mut entry = gate.lock().await;
        if let Some((at, observed)) = &entry.last
            && *at >= since
            && at.elapsed() <= SHARE_WINDOW
            && (!needs_nodes || has_nodes(observed))
        {
            return Ok((observed.clone(), false));
        }
        let observed = look.await?;
        entry.last = Some((Instant::now(), observed.clone()));
        Ok((observed, true))
    }

    /// Claims the writing of `pool_id`'s boots up to `until` (unix seconds):
    /// `false` when a caller of this process already has.
    pub(crate) fn claim_boots(&self, pool_id: &PoolId, until: i64) -> bool {
        let mut claimed = self
            .boots_claimed
            .lock()
            .expect("never poisoned: no panics under it");
        let mine = claimed.get(pool_id).is_none_or(|at| *at < until);
        if mine {
            claimed.insert(pool_id.clone(), until);
        }
        mine
    }

    /// Drops the pool's last look: it predates a change this process made.
    pub(crate) fn forget(&self, pool_id: &PoolId) {
        let gate = self.gate(pool_id);
        if let Ok(mut entry) = gate.try_lock() {
            entry.last = None;
        }
    }

    /// A look another caller completed after `since`, within the share
    /// window; `None` when the caller must look itself.
    pub(crate) fn recent(
        &self,
        pool_id: &PoolId,
        since: Instant,
        needs_nodes: bool,
    ) -> Option<Observed> {
        let gate = self.gate(pool_id);
        let entry = gate.try_lock().ok()?;
        let (at, observed) = entry.last.as_ref()?;
        (*at >= since && at.elapsed() <= SHARE_WINDOW && (!needs_nodes || has_nodes(observed)))
            .then(|| observed.clone())
    }
}

fn has_nodes(observed: &Observed) -> bool {
    match observed {
        Observed::Missing => true,
        Observed::Pool(snapshot) => snapshot.nodes.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_look_and_old_looks_serve_nobody() {
        let looks = Looks::default();
        let pool: PoolId = "p".parse().unwrap();
        let calls = AtomicU32::new(0);
        let look = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, ()>(Observed::Missing)
        };
        let start = Instant::now();
        let all =
            futures::future::join_all((0..50).map(|_| looks.look(&pool, start, true, look())));
        let results = all.await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one look for fifty callers"
        );

        // A caller whose call began after that look completed looks itself.
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = Instant::now();
        looks.look(&pool, later, true, look()).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // And past the window nothing is shared.
        tokio::time::advance(SHARE_WINDOW * 2).await;
        assert!(looks.recent(&pool, start, false).is_none());
    }

    /// `P` and `p` are one Batch pool: one gate, one look, one count of waiters.
    #[tokio::test(start_paused = true)]
    async fn ids_differing_only_in_case_share_one_pools_looks() {
        let looks = Looks::default();
        let (upper, lower): (PoolId, PoolId) =
            ("ADF-POOL".parse().unwrap(), "adf-pool".parse().unwrap());
        let _first = looks.wait_on(&upper);
        let _second = looks.wait_on(&lower);
        assert!(looks.crowded(&upper) && looks.crowded(&lower));
        let start = Instant::now();
        looks
            .look(&upper, start, true, async {
                Ok::<_, ()>(Observed::Missing)
            })
            .await
            .unwrap();
        assert!(looks.recent(&lower, start, true).is_some());
    }
}
