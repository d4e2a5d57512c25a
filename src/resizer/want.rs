//! What a caller wants of a pool, whatever the trigger (HTTP, timer, CLI).

use super::lease::{Counts, LeaseId, UNCAPPED};
use super::rhythm::Origin;
use crate::batch::PoolId;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// Which way a call may move the pool.
pub enum Operation {
    /// At least this many nodes ready to take a task. Never shrinks.
    ScaleUp,
    /// At most this many nodes (a floor, usually 0), released with
    /// `taskcompletion` so running tasks finish. Never grows.
    ScaleDown,
}

impl Operation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operation::ScaleUp => "scale-up",
            Operation::ScaleDown => "scale-down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Want {
    pub(crate) pool_id: PoolId,
    pub(crate) operation: Operation,
    pub(crate) dedicated: u32,
    pub(crate) low_priority: u32,
    /// How a shrink treats other pipelines' leases. Scale-up never shrinks,
    /// so it ignores this.
    pub(crate) leases: LeaseRule,
    /// Scale-up: how many times this call may replace nodes whose start
    /// task failed or that went unusable (0: fail at once, as before).
    pub(crate) repair_attempts: u32,
    /// Scale-up: a node not ready this long after Batch allocated it is a
    /// failure, not a wait (`PROVISION_DEADLINE_MINUTES`).
    pub(crate) provision_deadline: std::time::Duration,
    /// Scale-up: when Spot (low-priority) nodes cannot be had, dedicated
    /// ones make up the difference, up to this many dedicated nodes in all.
    /// `None`: no fallback.
    pub(crate) spot_fallback: Option<u32>,
    /// Scale-up: the lease this call holds. The pool then grows to what
    /// every live lease needs together, and the call is ready once the
    /// ready nodes hold the leases ahead of it in line and its own nodes'
    /// worth of task slots are free (see [`super::lease`]).
    pub(crate) lease: Option<LeaseId>,
    /// `MAX_DEDICATED_NODES`, `MAX_LOW_PRIORITY_NODES`: what the leases'
    /// need is capped by. [`UNCAPPED`] when the face sets none.
    pub(crate) caps: Counts,
    /// Scale-up: who asks. Only callers' scale-ups are arrivals in the
    /// pool's rhythm; the service's own (the schedule's, a pre-warm's)
    /// never are.
    pub(crate) origin: Origin,
}

/// `PROVISION_DEADLINE_MINUTES` when unset: a healthy node is ready in
/// 3-8 minutes; twice the worst of that is not a slow boot but a stuck one.
pub(crate) const DEFAULT_PROVISION_DEADLINE: std::time::Duration =
    std::time::Duration::from_secs(15 * 60);

/// Replacements a scale-up tries before it reports failed nodes.
pub(crate) const DEFAULT_REPAIR_ATTEMPTS: u32 = 1;
/// More repairs than this in one call means the nodes' image or start task
/// is broken, not the nodes: fail and say so. Every face enforces it.
pub(crate) const MAX_REPAIR_ATTEMPTS: u32 = 5;

/// Whose nodes a shrink must keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum LeaseRule {
    /// Never below what the pool's live leases need: the default for every
    /// shrink, from every trigger, so one pipeline that forgets its
    /// `leaseId` cannot strand the others.
    #[default]
    Honour,
    /// As `Honour`, with this lease counted as released: the caller is its
    /// holder and is letting it go (written or not yet).
    HonourExcept(LeaseId),
    /// `force=true`: an operator's explicit override.
    Ignore,
}

impl Want {
    /// At least this many ready nodes.
    pub(crate) fn scale_up(pool_id: PoolId, dedicated: u32, low_priority: u32) -> Self {
        Self {
            pool_id,
            operation: Operation::ScaleUp,
            dedicated,
            low_priority,
            leases: LeaseRule::Honour,
            repair_attempts: DEFAULT_REPAIR_ATTEMPTS,
            provision_deadline: DEFAULT_PROVISION_DEADLINE,
            spot_fallback: None,
            lease: None,
            caps: UNCAPPED,
            origin: Origin::Caller,
        }
    }

    /// At most this many nodes, keeping what `leases` says.
    pub(crate) fn scale_down(
        pool_id: PoolId,
        dedicated: u32,
        low_priority: u32,
        leases: LeaseRule,
    ) -> Self {
        Self {
            pool_id,
            operation: Operation::ScaleDown,
            dedicated,
            low_priority,
            leases,
            repair_attempts: 0,
            provision_deadline: DEFAULT_PROVISION_DEADLINE,
            spot_fallback: None,
            lease: None,
            caps: UNCAPPED,
            origin: Origin::Caller,
        }
    }

    /// Just a look: "scale-up to nothing" is met by any pool that exists,
    /// and still lists the nodes for the view.
    pub(crate) fn look(pool_id: PoolId) -> Self {
        Self::scale_up(pool_id, 0, 0)
    }
}
