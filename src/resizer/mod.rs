//! The resizer: decisions and the wait loop. No HTTP framework in here; it
//! talks to Batch through the [`api::PoolApi`] trait.
//!
//! - [`want`]: what a trigger asks for.
//! - [`snapshot`]: what one observation of the pool shows.
//! - [`decide`](mod@decide): the pure function from (observation, want, history) to the next step.
//! - [`lease`]: leases in pool metadata, so pipelines sharing a pool do not strand each other.
//! - [`forecast`]: when the next pipeline will come, from the pool's own rhythm (pure).
//! - [`looks`]: looks at a pool shared by every caller waiting on it, so Batch load stays flat.
//! - [`rhythm`]: when a pool's scale-ups arrive and how long its nodes boot, in its metadata.
//! - [`converge`]: the loop that observes, decides, acts and sleeps on the clock,
//!   with its parts in their own files: [`converger`] (the converger, a call's
//!   run and report, its bounded calls and pauses: what the parts share),
//!   [`api`] (the Batch calls it makes), [`observe`] (what a look reads),
//!   [`poll`] (how often to look, pure), [`budget`] (a request's time),
//!   [`lease_write`] (metadata writes). Imports run one way: every part
//!   imports the converger, none imports the loop.

pub(crate) mod api;
pub(crate) mod budget;
pub(crate) mod converge;
pub(crate) mod converger;
pub(crate) mod decide;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod forecast;
pub(crate) mod keep_warm;
pub mod lease;
pub(crate) mod lease_write;
pub(crate) mod looks;
pub(crate) mod marks;
pub(crate) mod observe;
pub(crate) mod poll;
pub(crate) mod rhythm;
pub(crate) mod snapshot;
pub(crate) mod want;

pub(crate) use api::PoolApi;
pub(crate) use converger::{Action, ConvergeError, Converger, Outcome, Report};
pub(crate) use decide::{Failure, FailureCode, Step, WaitReason, decide};
pub(crate) use lease::{Lease, LeaseEdit, LeaseId};
pub(crate) use lease_write::{LeaseWrite, PoolEdit};
pub use poll::PollPolicy;
pub(crate) use snapshot::{Observed, Snapshot};
pub use want::Operation;
pub(crate) use want::{LeaseRule, Want};
