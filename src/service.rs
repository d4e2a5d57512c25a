//! One service for every face: the HTTP handlers, the timers and the CLI ask
//! it to scale a pool, look at one, or hold and release a lease, and it
//! answers with one neutral [`Answer`] that each face renders its own way
//! (an HTTP status and JSON body, invocation log lines, an exit code).
//!
//! What lives here, once: the node caps (`MAX_*_NODES`), how a request
//! becomes a [`Want`] (the lease rule of a shrink), the lease write before a
//! wait and the one budget both share, the cap on concurrent waits, and how
//! a resumed status URL settles the lease its first call meant to leave.
//! The faces only parse input and render answers.

use crate::batch::PoolId;
use crate::batch::error::cause_chain;
use crate::report::{ErrorView, Requested};
use crate::resizer::budget::{Budget, STATUS_PATIENCE};
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::lease::{FORECAST_LEASE, live_leases};
use crate::resizer::marks::{BACKOFF_CODES, Backoff, Paused};
use crate::resizer::{
    ConvergeError, Converger, FailureCode, Lease, LeaseEdit, LeaseId, LeaseRule, LeaseWrite,
    Observed, Operation, Outcome, PoolApi, PoolEdit, Report, WaitReason, Want,
};
use std::time::Duration;

/// The most nodes any request may ask for, so a leaked key or script cannot
/// run up a bill (`MAX_DEDICATED_NODES`, `MAX_LOW_PRIORITY_NODES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_dedicated: u32,
    pub max_low_priority: u32,
}

/// A count above its cap: which, how many, the cap and the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {asked}, above the limit of {max} ({setting})")]
pub(crate) struct OverLimit {
    pub what: &'static str,
    pub asked: u32,
    pub max: u32,
    pub setting: &'static str,
}

impl Limits {
    /// What the leases' need is capped by: (dedicated, low-priority).
    pub(crate) fn caps(&self) -> (u32, u32) {
        (self.max_dedicated, self.max_low_priority)
    }

    /// Checks both counts; `names` say how the face calls them
    /// (`dedicatedNodes` over HTTP, `--dedicated` on the command line).
    pub(crate) fn check(
        &self,
        dedicated: u32,
        low_priority: u32,
        names: (&'static str, &'static str),
    ) -> Result<(), OverLimit> {
        if dedicated > self.max_dedicated {
            return Err(OverLimit {
                what: names.0,
                asked: dedicated,
                max: self.max_dedicated,
                setting: "MAX_DEDICATED_NODES",
            });
        }
        if low_priority > self.max_low_priority {
            return Err(OverLimit {
                what: names.1,
                asked: low_priority,
                max: self.max_low_priority,
                setting: "MAX_LOW_PRIORITY_NODES",
            });
        }
        Ok(())
    }
}

/// How long a pre-warm's firing waits: enough to look again and resize
/// after a lost race (a 412 on the ETag its lease write just moved), far
/// short of a boot; the nodes need nobody waiting on them.
pub(crate) const PREWARM_WAIT: Duration = Duration::from_secs(30);

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

/// What the service did, for a face to render.
#[derive(Debug)]
pub(crate) struct Answer {
    pub want: Want,
    pub result: Result<Report, ConvergeError>,
    /// Pool metadata this call meant to write but had no budget (or no
    /// Batch) left for: the next call or poll writes it. Never waited for.
    pub not_written: Vec<Unwritten>,
}

/// A metadata write left to the next call (see [`Answer::not_written`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwritten {
    /// The backoff a quota/allocation failure starts, or a success clears.
    Backoff,
    /// A resumed operation's lease: held (scale-up) or released (scale-down).
    Lease,
}

impl Unwritten {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Unwritten::Backoff => "backoff",
            Unwritten::Lease => "lease",
        }
    }
}

impl Answer {
    /// Accepted, but nothing could be observed or written yet (handler
    /// busy, stopping, or Batch throttling the lease write): the status URL
    /// carries the operation on.
    fn accepted(
        want: Want,
        reason: WaitReason,
        waited: Duration,
        retry_after: Option<Duration>,
    ) -> Self {
        Answer {
            want,
            result: Ok(Report {
                outcome: Outcome::Pending(reason),
                last: None,
                actions: Vec::new(),
                waited,
                batch_calls: 0,
                retry_after,
            }),
            not_written: Vec::new(),
        }
    }

    /// The error view of a Batch call that failed for good, and a log line
    /// with its whole cause chain (the top error alone often says only
    /// "request failed").
    pub(crate) fn error_view(error: &ConvergeError) -> ErrorView {
        let view = crate::report::batch_error_view(error);
        tracing::warn!(
            code = view.code,
            cause = crate::telemetry::escape(&cause_chain(error)).into_owned(),
            "Batch call failed"
        );
        view
    }
}

/// What the schedule asks of one firing, as the timer face judged the
/// window: the want, the schedule's own lease edit (`None`: the firing only
/// looks), and how long it may wait.
#[derive(Debug, Clone)]
pub(crate) struct ScheduledWork {
    pub want: Want,
    pub lease: Option<LeaseEdit>,
    pub wait: Duration,
}

/// What one firing did, for the timer face to log.
#[derive(Debug)]
pub(crate) enum Fired {
    /// The schedule's lease was not written, so the pool was left as it is.
    LeaseNotWritten(LeaseFailure),
    /// The schedule's lease handled, then the wait.
    Ran(Box<Ran>),
}

/// A firing that ran: the lease written (if there was one), the wait's
/// outcome, and the lapsed service leases it let go (a keep-warm grace, a
/// pre-warm nobody came for), if any.
#[derive(Debug)]
pub(crate) struct Ran {
    pub want: Want,
    pub lease: Option<(LeaseEdit, LeaseWrite)>,
    pub result: Result<Report, ConvergeError>,
    /// The lapsed leases let go (`warm`, `forecast`) and the shrink after.
    pub warmth: Option<(Vec<LeaseId>, Result<Report, ConvergeError>)>,
}

/// Why a lease write did not happen.
#[derive(Debug)]
pub(crate) enum LeaseFailure {
    /// Batch stayed busy (throttled, slow) for the whole wait; what it said.
    Busy(String),
    /// Batch refused or could not be reached.
    Failed(Box<ConvergeError>),
}

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
    /// Scales as asked: caps checked, the lease written first, then the wait,
    /// all within one budget.
    pub(crate) async fn scale(&self, request: &ScaleRequest) -> Result<Answer, OverLimit> {
        self.limits.check(
            request.dedicated,
            request.low_priority,
            ("dedicatedNodes", "lowPriorityNodes"),
        )?;
        let want = Want {
            provision_deadline: self.provision_deadline,
            spot_fallback: request
                .fallback_to_dedicated
                .then_some(self.limits.max_dedicated),
            caps: self.limits.caps(),
            ..request.want()
        };
        let mut edits: Vec<PoolEdit> = request
            .lease
            .iter()
            .map(|lease| {
                PoolEdit::Lease(match request.operation {
                    Operation::ScaleUp => self.hold(lease, request.dedicated, request.low_priority),
                    Operation::ScaleDown => LeaseEdit::Release(lease.id.clone()),
                })
            })
            .collect();
        // Keep-warm: the nodes this scale-down releases stay for the next
        // pipeline; a lease held by `warm` keeps them until it expires, when
        // the next scale-down or the reconcile timer lets them go.
        if request.operation == Operation::ScaleDown
            && !request.keep_warm.is_off()
            && !request.force
        {
            edits.push(PoolEdit::KeepWarm(request.keep_warm));
        }
        // One budget for the whole request: the edits, the wait and the
        // backoff write after it, so the answer leaves within the wait plus
        // the call margin whatever Batch does to any of them.
        let budget = self.converger.budget(request.wait);
        let mut answer = self.run(want, edits, &budget).await;
        if let Ok(report) = &mut answer.result
            && !self.record_backoff(&answer.want, report, &budget).await
        {
            answer.not_written.push(Unwritten::Backoff);
        }
        Ok(answer)
    }

    /// After a scale-up: an allocation failure that asking again would only
    /// repeat (quota, capacity) starts or doubles a backoff; a success
    /// clears one. Written only on those changes, and once Batch took the
    /// write (an `If-Match` on the pool just seen), the report's pool says so
    /// too: the caller learns of the backoff from the answer that caused it.
    ///
    /// On the caller's budget, never a fresh one: with none left the write
    /// is not tried (`false`: the next scale-up or poll writes it).
    pub(crate) async fn record_backoff(
        &self,
        want: &Want,
        report: &mut Report,
        budget: &Budget,
    ) -> bool {
        // A look (a scale-up to nothing) proves nothing about capacity.
        if want.operation != Operation::ScaleUp || want.dedicated + want.low_priority == 0 {
            return true;
        }
        let Some(Observed::Pool(snapshot)) = &mut report.last else {
            return true;
        };
        let previous: Option<Backoff> =
            crate::resizer::marks::read(&snapshot.pool.metadata, crate::resizer::marks::BACKOFF);
        let edit = match &report.outcome {
            Outcome::Failed(failure)
                if failure.code == FailureCode::ResizeFailed
                    && failure
                        .batch_code
                        .as_deref()
                        .is_some_and(|code| BACKOFF_CODES.contains(&code)) =>
            {
                PoolEdit::SetBackoff(Backoff::after(
                    previous.as_ref(),
                    failure.batch_code.as_deref().unwrap_or_default(),
                    &failure.message,
                    snapshot.observed_at,
                ))
            }
            Outcome::Converged if previous.is_some() => PoolEdit::ClearBackoff,
            _ => return true,
        };
        match self.converger.edit_pool(&want.pool_id, &edit, budget).await {
            Ok(LeaseWrite::Written { .. } | LeaseWrite::Unchanged) => {
                let recorded = match &edit {
                    PoolEdit::SetBackoff(backoff) => Some(backoff),
                    _ => None,
                };
                if let Some(metadata) = crate::resizer::marks::set(
                    &snapshot.pool.metadata,
                    crate::resizer::marks::BACKOFF,
                    recorded,
                ) {
                    snapshot.pool.metadata = metadata;
                }
                true
            }
            Ok(outcome) => {
                tracing::info!(pool = %want.pool_id, ?outcome, "backoff not recorded; the next scale-up tries again");
                false
            }
            Err(error) => {
                tracing::warn!(pool = %want.pool_id, error = %error, "could not record the backoff");
                false
            }
        }
    }

    /// Pauses (`Some`) or unpauses (`None`) the pool, then looks at it.
    pub(crate) async fn pause(&self, pool_id: &PoolId, paused: Option<Paused>) -> Answer {
        let want = Want::look(pool_id.clone());
        let edit = match paused {
            Some(paused) => PoolEdit::Pause(paused),
            None => PoolEdit::Unpause,
        };
        let budget = self.converger.budget(STATUS_PATIENCE);
        if let Err(error) = self.converger.edit_pool(pool_id, &edit, &budget).await {
            return Answer {
                want,
                result: Err(error),
                not_written: Vec::new(),
            };
        }
        let result = self.converger.check_within(&want, &budget).await;
        Answer {
            want,
            result,
            not_written: Vec::new(),
        }
    }

    /// Converges `want` within `budget`, after `edits` (lease changes,
    /// keep-warm) on the same budget.
    pub(crate) async fn run(&self, want: Want, edits: Vec<PoolEdit>, budget: &Budget) -> Answer {
        let permit = match self.waits {
            Some(waits) => match waits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(pool = %want.pool_id, "at the limit of concurrent waits; answered at once");
                    return Answer::accepted(want, WaitReason::HandlerBusy, Duration::ZERO, None);
                }
            },
            None => None,
        };
        for edit in &edits {
            match self.converger.edit_pool(&want.pool_id, edit, budget).await {
                Ok(LeaseWrite::NotWritten { why, retry_after }) => {
                    tracing::info!(pool = %want.pool_id, why, "lease not written yet; the status URL will");
                    let reason = if self.converger.stop.is_cancelled() {
                        WaitReason::ShuttingDown
                    } else {
                        WaitReason::BatchBusy
                    };
                    return Answer::accepted(want, reason, budget.elapsed(), retry_after);
                }
                Ok(outcome) => {
                    tracing::info!(pool = %want.pool_id, ?edit, ?outcome, "pool metadata updated");
                }
                Err(error) => {
                    return Answer {
                        want,
                        result: Err(error),
                        not_written: Vec::new(),
                    };
                }
            }
        }
        let result = self.converger.converge_within(&want, budget).await;
        drop(permit);
        Answer {
            want,
            result,
            not_written: Vec::new(),
        }
    }

    /// One timer firing, as the timer face judged the window: the
    /// schedule's lease written first, then the wait, on one budget; the
    /// backoff recorded as for any scale-up; and, since keep-warm's grace
    /// has no timer of its own, warm nodes whose grace is over let go, so
    /// none is kept past it for lack of a call. Not counted against the cap
    /// on concurrent waits: timers fire a few times an hour.
    pub(crate) async fn fire(&self, work: ScheduledWork) -> Fired {
        let ScheduledWork { want, lease, wait } = work;
        let want = Want {
            caps: self.limits.caps(),
            ..want
        };
        let budget = self.converger.budget(wait);
        let lease = match lease {
            None => None,
            Some(edit) => match self
                .converger
                .edit_leases(&want.pool_id, &edit, &budget)
                .await
            {
                Ok(LeaseWrite::NotWritten { why, .. }) => {
                    return Fired::LeaseNotWritten(LeaseFailure::Busy(why));
                }
                Err(error) => {
                    return Fired::LeaseNotWritten(LeaseFailure::Failed(Box::new(error)));
                }
                Ok(written) => Some((edit, written)),
            },
        };
        let mut result = if lease.is_some() {
            self.converger.converge_within(&want, &budget).await
        } else {
            self.converger.check_within(&want, &budget).await
        };
        if let Ok(report) = &mut result {
            self.record_backoff(&want, report, &budget).await;
        }
        // What is left of the one budget: a grace it cannot end now is
        // ended by the next firing.
        let lapsed = match &result {
            Ok(report) => report.last.as_ref().map(lapsed_floors).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let warmth = if lapsed.is_empty() {
            None
        } else {
            let released = self.release_lapsed(&want.pool_id, &lapsed, &budget).await;
            Some((lapsed, released))
        };
        Fired::Ran(Box::new(Ran {
            want,
            lease,
            result,
            warmth,
        }))
    }

    /// Drops the lapsed service leases, then shrinks the pool to what live
    /// leases (the schedule's included, while its window is open) still need.
    async fn release_lapsed(
        &self,
        pool_id: &PoolId,
        lapsed: &[LeaseId],
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        for id in lapsed {
            self.converger
                .edit_leases(pool_id, &LeaseEdit::Release(id.clone()), budget)
                .await?;
        }
        let shrink = Want {
            caps: self.limits.caps(),
            ..Want::scale_down(pool_id.clone(), 0, 0, LeaseRule::Honour)
        };
        self.converger.converge_within(&shrink, budget).await
    }

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
    ) -> Answer {
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

    /// A look, judged against a target if one is given. Only a status URL
    /// the service issued (`resume`) may act, and it then settles the lease
    /// its operation's first call meant to leave and records the backoff.
    pub(crate) async fn status(&self, request: &StatusRequest) -> Result<Answer, OverLimit> {
        if let Some((_, dedicated, low)) = request.target {
            self.limits
                .check(dedicated, low, ("dedicatedNodes", "lowPriorityNodes"))?;
        }
        let want = Want {
            provision_deadline: self.provision_deadline,
            spot_fallback: request
                .fallback_to_dedicated
                .then_some(self.limits.max_dedicated),
            caps: self.limits.caps(),
            ..request.want()
        };
        // One budget for the look, the step and the writes after it.
        let budget = self.converger.budget(STATUS_PATIENCE);
        let mut not_written = Vec::new();
        let result = if request.resume {
            let mut result = self.converger.resume(&want, &budget).await;
            if let Ok(report) = &mut result {
                if let Some(lease) = &request.lease
                    && !self.settle_lease(&want, report, lease, &budget).await
                {
                    not_written.push(Unwritten::Lease);
                }
                // A scale-up that outlived its first call ends here, on the
                // caller's poll: its outcome starts or clears the backoff
                // exactly as an inline one would.
                if !self.record_backoff(&want, report, &budget).await {
                    not_written.push(Unwritten::Backoff);
                }
            }
            result
        } else {
            self.converger.check_within(&want, &budget).await
        };
        Ok(Answer {
            want,
            result,
            not_written,
        })
    }

    /// The hold a lease request asks for, from now on the handler's clock.
    fn hold(&self, lease: &LeaseRequest, dedicated: u32, low_priority: u32) -> LeaseEdit {
        LeaseEdit::Hold(Lease {
            id: lease.id.clone(),
            dedicated,
            low_priority,
            expires: self.converger.clock.now_utc()
                + Duration::from_secs(u64::from(lease.minutes) * 60),
        })
    }

    /// A resumed operation's lease, as its first call meant to leave it: a
    /// scale-up's lease held (its call may have ended before the write, say
    /// on SIGTERM or throttling), a scale-down's released. Written only when
    /// the pool just seen disagrees, so polls cost no extra call; a failure
    /// here, or no budget left for it, is left to the next poll (`false`).
    async fn settle_lease(
        &self,
        want: &Want,
        report: &Report,
        lease: &LeaseRequest,
        budget: &Budget,
    ) -> bool {
        let Some(Observed::Pool(snapshot)) = &report.last else {
            return true;
        };
        let held = live_leases(&snapshot.pool.metadata, snapshot.observed_at)
            .iter()
            .any(|live| live.id == lease.id);
        let edit = match (want.operation, held) {
            (Operation::ScaleUp, false) => self.hold(lease, want.dedicated, want.low_priority),
            (Operation::ScaleDown, true) => LeaseEdit::Release(lease.id.clone()),
            _ => return true,
        };
        match self
            .converger
            .edit_leases(&want.pool_id, &edit, budget)
            .await
        {
            Ok(LeaseWrite::NotWritten { why, .. }) => {
                tracing::info!(pool = %want.pool_id, why, "lease not settled yet; the next poll tries again");
                false
            }
            Ok(outcome) => {
                tracing::info!(pool = %want.pool_id, ?outcome, "resumed operation's lease settled");
                true
            }
            Err(error) => {
                tracing::warn!(pool = %want.pool_id, error = %error, "could not settle the lease; the next poll tries again");
                false
            }
        }
    }
}

/// The leases the pool still carries after they expired (a pipeline that
/// never scaled down, keep-warm's grace, a pre-warm nobody came for): the
/// next firing lets their nodes go, so an expired lease bounds the bill.
fn lapsed_floors(observed: &Observed) -> Vec<LeaseId> {
    let Observed::Pool(snapshot) = observed else {
        return Vec::new();
    };
    crate::resizer::lease::expired_leases(&snapshot.pool.metadata, snapshot.observed_at)
}

#[cfg(test)]
mod tests;
