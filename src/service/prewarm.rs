//! A forecast's pre-warm: the service's own scale-up, held by the
//! `forecast` lease until it lapses.

use super::{Served, Service};
use crate::batch::PoolId;
use crate::resizer::lease::FORECAST_LEASE;
use crate::resizer::{Lease, LeaseEdit, LeaseId, PoolApi, PoolEdit, Want};
use std::time::Duration;

/// How long a pre-warm's firing waits: enough to look again and resize
/// after a lost race (a 412 on the ETag its lease write just moved), far
/// short of a boot; the nodes need nobody waiting on them.
pub(crate) const PREWARM_WAIT: Duration = Duration::from_secs(30);

impl<B: PoolApi> Service<'_, B> {
    /// A forecast's pre-warm: the `forecast` floor lease held until
    /// `hold_until` (it lapses by itself when no pipeline comes), then one
    /// step toward the expected nodes within `wait`. The service's own
    /// scale-up: never an arrival in the pool's rhythm, never a shrink; caps,
    /// a pause and a backoff apply as to any scale-up.
    pub(crate) async fn prewarm(
        &self,
        pool_id: &PoolId,
        (dedicated, low_priority): (u32, u32),
        hold_until: time::OffsetDateTime,
        wait: Duration,
    ) -> Served {
        let (dedicated, low_priority) = (
            dedicated.min(self.limits.max_dedicated),
            low_priority.min(self.limits.max_low_priority),
        );
        let id: LeaseId = FORECAST_LEASE.parse().expect("a valid lease id");
        let lease = LeaseEdit::Hold(Lease {
            id: id.clone(),
            dedicated,
            low_priority,
            expires: hold_until,
            idle: None,
        });
        // Judged as a leased scale-up: ready when the pipelines' leases and
        // this spare are all held by ready nodes, so a node another
        // pipeline's task fills does not count as the pre-warm.
        let want = Want {
            provision_deadline: self.provision_deadline,
            caps: self.limits.caps(),
            origin: crate::resizer::rhythm::Origin::Service,
            lease: Some(id),
            ..Want::scale_up(pool_id.clone(), dedicated, low_priority)
        };
        let budget = self.converger.budget(wait);
        self.run(want, vec![PoolEdit::Lease(lease)], &budget).await
    }
}
