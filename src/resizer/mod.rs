//! The resizer: decisions and the wait loop. No HTTP framework in here; it
//! talks to Batch through the [`converge::PoolApi`] trait.
//!
//! - [`want`]: what a trigger asks for.
//! - [`snapshot`]: what one observation of the pool shows.
//! - [`decide`]: the pure function from (observation, want, history) to the next step.
//! - [`lease`]: leases in pool metadata, so pipelines sharing a pool do not strand each other.
//! - [`looks`]: looks at a pool shared by every caller waiting on it, so Batch load stays flat.
//! - [`converge`]: the loop that observes, decides, acts and sleeps on the clock.

pub mod converge;
pub mod decide;
pub mod lease;
pub mod looks;
pub mod snapshot;
pub mod want;

pub use converge::{
    Action, Budget, ConvergeError, Converger, LeaseWrite, Outcome, PollPolicy, PoolApi, Report,
};
pub use decide::{Failure, FailureCode, History, Step, WaitReason, decide};
pub use lease::{Lease, LeaseEdit, LeaseId};
pub use snapshot::{NodeTally, Observed, Snapshot};
pub use want::{LeaseRule, Operation, Want};
