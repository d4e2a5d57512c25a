//! The resizer: decisions and the wait loop. No HTTP framework in here; it
//! talks to Batch through the [`api::PoolApi`] trait.
//!
//! - [`want`]: what a trigger asks for.
//! - [`snapshot`]: what one observation of the pool shows.
//! - [`decide`](mod@decide): the pure function from (observation, want, history) to the next step.
//! - [`lease`]: leases in pool metadata, so pipelines sharing a pool do not strand each other.
//! - [`looks`]: looks at a pool shared by every caller waiting on it, so Batch load stays flat.
//! - [`converge`]: the loop that observes, decides, acts and sleeps on the clock,
//!   with its parts in their own files: [`api`] (the Batch calls it makes),
//!   [`observe`] (what a look reads), [`poll`] (how often to look, pure),
//!   [`budget`] (a request's time, bounded calls), [`lease_write`].

pub mod api;
pub mod budget;
pub mod converge;
pub mod decide;
pub mod lease;
pub mod lease_write;
pub mod looks;
pub mod marks;
pub mod observe;
pub mod poll;
pub mod snapshot;
pub mod want;

pub use api::PoolApi;
pub use budget::Budget;
pub use converge::{Action, ConvergeError, Converger, Outcome, Report};
pub use decide::{Failure, FailureCode, History, Step, WaitReason, decide};
pub use lease::{Lease, LeaseEdit, LeaseId};
pub use lease_write::{LeaseWrite, PoolEdit};
pub use poll::PollPolicy;
pub use snapshot::{NodeTally, Observed, Snapshot};
pub use want::{LeaseRule, Operation, Want};
