//! What a face asks of the service: a scale-up or scale-down, or a look,
//! and how each becomes the [`Want`] the resizer reaches.

use crate::batch::PoolId;
use crate::report::Requested;
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::{LeaseId, LeaseRule, Operation, Want};
use std::time::Duration;

/// A scale-up or scale-down, as any face asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScaleRequest {
    pub operation: Operation,
    pub pool_id: PoolId,
    pub dedicated: u32,
    pub low_priority: u32,
    pub wait: Duration,
    /// Scale-up: hold it (for `minutes`); scale-down: release it.
    pub lease: Option<LeaseRequest>,
    /// Scale-down only: go below other pipelines' live leases.
    pub force: bool,
    /// Scale-up only: replacements of failed nodes this call may try.
    pub repair_attempts: u32,
    /// Scale-down only: keep the released nodes for the next pipeline, so
    /// long or as `auto` picks (0: release now).
    pub keep_warm: KeepWarm,
    /// Scale-up only: dedicated nodes stand in for Spot nodes Batch cannot
    /// allocate, up to `MAX_DEDICATED_NODES`.
    pub fallback_to_dedicated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRequest {
    pub id: LeaseId,
    pub minutes: u32,
    /// Scale-up only: the lease lapses once its nodes stand idle this long
    /// (`leaseIdleMinutes`); `None`: only when it expires.
    pub idle_minutes: Option<u32>,
}

impl ScaleRequest {
    /// What the resizer is asked to reach: a shrink keeps what other live
    /// leases need, its own lease counted as released, unless forced.
    pub(crate) fn want(&self) -> Want {
        match self.operation {
            Operation::ScaleUp => Want {
                repair_attempts: self.repair_attempts,
                lease: self.lease.as_ref().map(|lease| lease.id.clone()),
                ..Want::scale_up(self.pool_id.clone(), self.dedicated, self.low_priority)
            },
            Operation::ScaleDown => Want::scale_down(
                self.pool_id.clone(),
                self.dedicated,
                self.low_priority,
                match (&self.lease, self.force) {
                    (_, true) => LeaseRule::Ignore,
                    (Some(lease), false) => LeaseRule::HonourExcept(lease.id.clone()),
                    (None, false) => LeaseRule::Honour,
                },
            ),
        }
    }

    /// What the caller asked, for the answer's `requested` block.
    pub(crate) fn requested(&self) -> Requested {
        Requested {
            dedicated_nodes: Some(self.dedicated),
            low_priority_nodes: Some(self.low_priority),
            wait_seconds: Some(u32::try_from(self.wait.as_secs()).unwrap_or(u32::MAX)),
            lease_id: self.lease.as_ref().map(|l| l.id.to_string()),
            lease_minutes: match self.operation {
                Operation::ScaleUp => self.lease.as_ref().map(|l| l.minutes),
                Operation::ScaleDown => None,
            },
            lease_idle_minutes: match self.operation {
                Operation::ScaleUp => self.lease.as_ref().and_then(|l| l.idle_minutes),
                Operation::ScaleDown => None,
            },
            force: Some(self.force),
            repair_attempts: match self.operation {
                Operation::ScaleUp => Some(self.repair_attempts),
                Operation::ScaleDown => None,
            },
            keep_warm_minutes: match self.operation {
                Operation::ScaleUp => None,
                Operation::ScaleDown => Some(self.keep_warm),
            },
            fallback_to_dedicated: match self.operation {
                Operation::ScaleUp => Some(self.fallback_to_dedicated),
                Operation::ScaleDown => None,
            },
        }
    }
}

/// A look at a pool, with or without a target to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusRequest {
    pub pool_id: PoolId,
    /// `(operation, dedicated, low-priority)` to judge, `None` for a plain look.
    pub target: Option<(Operation, u32, u32)>,
    pub lease: Option<LeaseRequest>,
    /// A status URL the service issued: it may take the operation's next step.
    pub resume: bool,
    /// The scale-up being judged lets dedicated nodes stand in for Spot.
    pub fallback_to_dedicated: bool,
}

impl StatusRequest {
    pub(crate) fn want(&self) -> Want {
        match self.target {
            // A poll never repairs: a start task that keeps failing would
            // otherwise replace nodes on every poll for as long as ADF polls.
            Some((Operation::ScaleUp, dedicated, low)) => Want {
                repair_attempts: 0,
                lease: self.lease.as_ref().map(|lease| lease.id.clone()),
                ..Want::scale_up(self.pool_id.clone(), dedicated, low)
            },
            // Judged, and resumed, with the caller's own lease counted as
            // released and every other live lease kept. Never forced.
            Some((Operation::ScaleDown, dedicated, low)) => Want::scale_down(
                self.pool_id.clone(),
                dedicated,
                low,
                match &self.lease {
                    Some(lease) => LeaseRule::HonourExcept(lease.id.clone()),
                    None => LeaseRule::Honour,
                },
            ),
            None => Want::look(self.pool_id.clone()),
        }
    }

    pub(crate) fn requested(&self) -> Requested {
        Requested {
            dedicated_nodes: self.target.map(|t| t.1),
            low_priority_nodes: self.target.map(|t| t.2),
            lease_id: self.lease.as_ref().map(|l| l.id.to_string()),
            ..Requested::default()
        }
    }
}
