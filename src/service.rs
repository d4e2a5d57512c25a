//! One service for every face: the HTTP handlers, the timers and the CLI ask
//! it to scale a pool, look at one, or hold and release a lease, and it
//! answers with one neutral [`Served`] that each face renders its own way
//! (an HTTP status and JSON body, invocation log lines, an exit code).
//!
//! What lives here, once: the node caps (`MAX_*_NODES`), how a request
//! becomes a [`Want`](crate::resizer::Want) (the lease rule of a shrink),
//! the lease write before a wait and the one budget both share, the cap on
//! concurrent waits, and how a resumed status URL settles the lease its
//! first call meant to leave. The faces only parse input and render answers.
//!
//! One file a job, each adding its methods to [`Service`]: `scale.rs` (a
//! scale request and the wait every call shares, `run`), `status.rs` (a
//! look; a resumed status URL settling its lease), `pause.rs`, `fire.rs` (a
//! timer firing, and the lapsed leases it lets go), `prewarm.rs` (a
//! forecast's pre-warm), `backoff.rs` (recorded after any scale-up); the
//! types they share in `limits.rs` (the caps), `requests.rs` (what a face
//! asks) and `served.rs` (what the service did).

mod backoff;
mod fire;
mod limits;
mod pause;
mod prewarm;
mod requests;
mod scale;
mod served;
mod status;

pub(crate) use fire::{Fired, LapseReason, Lapsed, LeaseFailure, Ran, ScheduledWork};
pub(crate) use limits::{Limits, OverLimit};
pub(crate) use prewarm::PREWARM_WAIT;
pub(crate) use requests::{LeaseRequest, ScaleRequest, StatusRequest};
pub(crate) use served::{Served, Unwritten};

use crate::resizer::{Converger, PoolApi};
use std::time::Duration;

/// The service, for one face's use: a converger (how to reach Batch, on
/// which clock, with which stop signal and shared looks), the node caps,
/// and, for the HTTP face, the permits for concurrent waits.
pub(crate) struct Service<'a, B: PoolApi> {
    pub converger: Converger<'a, B>,
    pub limits: Limits,
    /// `PROVISION_DEADLINE_MINUTES`, for every scale-up judged here.
    pub provision_deadline: Duration,
    /// `None`: no cap (the CLI and timers wait one at a time).
    pub waits: Option<&'a std::sync::Arc<tokio::sync::Semaphore>>,
}

impl<B: PoolApi> Service<'_, B> {
    /// A caller's want under the app's bounds: its provision deadline, the
    /// node caps, and the Spot fallback only up to the dedicated cap. A
    /// scale request and a status poll that resumes one must agree.
    fn bounded(
        &self,
        want: crate::resizer::Want,
        fallback_to_dedicated: bool,
    ) -> crate::resizer::Want {
        crate::resizer::Want {
            provision_deadline: self.provision_deadline,
            spot_fallback: fallback_to_dedicated.then_some(self.limits.max_dedicated),
            caps: self.limits.caps(),
            ..want
        }
    }
}

#[cfg(test)]
mod tests;
