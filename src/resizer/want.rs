//! What a caller wants of a pool, whatever the trigger (HTTP, timer, CLI).

use crate::batch::PoolId;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// At least this many nodes ready to take a task. Never shrinks.
    ScaleUp,
    /// At most this many nodes (a floor, usually 0), released with
    /// `taskcompletion` so running tasks finish. Never grows.
    ScaleDown,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ScaleUp => "scale-up",
            Operation::ScaleDown => "scale-down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub pool_id: PoolId,
    pub operation: Operation,
    pub dedicated: u32,
    pub low_priority: u32,
    /// Scale-down only: never go below what the pool's live leases need.
    /// Set when the caller released a lease; calls without one ignore leases.
    pub honour_leases: bool,
}
