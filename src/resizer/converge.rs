//! The converge loop: observe -> decide -> act -> sleep, until the want is met,
//! it fails, or the wait budget ends.
//!
//! Running out of budget is not failure: the caller gets `Pending` and answers
//! 202 with a status URL; the status check runs the same observe + decide
//! (without acting), so any instance can answer and a restart loses nothing.
//! Acting is idempotent by construction: every action is chosen from a fresh
//! observation, and a 409 from Batch (someone else changed the pool between
//! our GET and our POST) is simply a reason to look again.
//!
//! Batch trouble comes in two kinds, and they end differently:
//! - **busy** (429/503 throttling, a 5xx hiccup, no answer in time): wait as
//!   `Retry-After` asks and look again, for as long as the budget lasts;
//!   then `Pending` with [`WaitReason::BatchBusy`]. No single call's
//!   allowance ends the wait while budget is left.
//! - **failed** (refused connection, DNS, TLS, refused credentials, an
//!   unexpected 4xx): a [`ConvergeError`] at once, naming the cause.
//!
//! Every call of one request shares one [`Budget`]: the wait plus a small
//! [`CALL_MARGIN`] for the Batch call in flight, so answers leave in time.
//!
//! The loop's helpers each have a file: [`super::api`] (the Batch calls),
//! [`super::poll`] (how often to look), [`super::budget`] (bounded calls and
//! pauses), [`super::observe`] (what a look reads), [`super::lease_write`].

use super::api::PoolApi;
#[cfg(doc)]
use super::budget::CALL_MARGIN;
#[cfg(test)]
use super::budget::STATUS_PATIENCE;
use super::budget::{Budget, Cut};
use super::converger::Run;
pub(crate) use super::converger::{Action, ConvergeError, Converger, Outcome, Report};
use super::decide::{History, ResizeTo, Step, WaitReason, decide};
use super::lease_write::PoolEdit;
use super::observe::{etag_of, judges_readiness};
use super::poll::{BootLooks, Decided, is_near, ready_window, since_modified};
use super::rhythm::{Note, Origin};
use super::snapshot::{NodeTally, Observed};
use super::want::Want;
use crate::batch::models::ResizePool;
use crate::batch::{BatchError, PoolId};
use std::time::Duration;

/// What the converge loop does next after a cut call.
enum Next {
    LookAgain,
    /// Answer with what was seen: pending.
    Answer,
    Fail(BatchError),
}

impl<B: PoolApi> Converger<'_, B> {
    /// Observe + decide once, without acting: the status check. Nodes are
    /// always listed, since people read this.
    #[cfg(test)]
    pub(crate) async fn check(&self, want: &Want) -> Result<Report, ConvergeError> {
        self.check_within(want, &self.budget(STATUS_PATIENCE)).await
    }

    /// A look (observe + decide once, without acting) on a budget already started (after a pause
    /// switch, say), so the whole request keeps to one wait.
    pub(crate) async fn check_within(
        &self,
        want: &Want,
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        self.single_pass(want, false, budget).await
    }

    /// Observe + decide once and take at most one step: what a status URL
    /// this service issued does (`resume`), so that an operation whose
    /// handler died (or whose budget ended before it could act) is picked
    /// up by the next poll.
    /// On the request's one budget, which the lease and backoff writes that
    /// follow share.
    pub(crate) async fn resume(
        &self,
        want: &Want,
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        self.single_pass(want, true, budget).await
    }

    async fn single_pass(
        &self,
        want: &Want,
        act: bool,
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        let mut run = Run::new(budget);
        loop {
            let mut calls = 0;
            let look = async {
                match self.looks {
                    Some(looks) => looks
                        .look(
                            &want.pool_id,
                            run.newest,
                            true,
                            self.observe_at_once(want, &mut calls),
                        )
                        .await
                        .map(|(observed, _)| observed),
                    None => self.observe_at_once(want, &mut calls).await,
                }
            };
            let looked = self.bounded(look, budget).await;
            run.calls += calls;
            match looked {
                Ok(observed) => {
                    run.saw(observed);
                    break;
                }
                Err(Cut::Busy {
                    retry_after,
                    why,
                    dropped,
                }) => {
                    tracing::info!(pool = %want.pool_id, why, "Batch is busy");
                    if let Some(e) = run.busy(why, retry_after, dropped) {
                        return Err(run.error(e, want, "reading the pool"));
                    }
                    if !self.wait_out(retry_after, self.policy.first, budget).await {
                        return Ok(self.finish(run, want, None).await);
                    }
                }
                Err(Cut::Stopping) => return Ok(self.finish(run, want, None).await),
                Err(Cut::Failed(e)) => return Err(run.error(e, want, "reading the pool")),
            }
        }
        let observed = run.last.as_ref().expect("just seen");
        let outcome = match decide(observed, want, History::assume_resized()) {
            Step::Done => Some(Outcome::Converged),
            Step::Fail(failure) => Some(Outcome::Failed(failure)),
            Step::Wait(_) => None,
            step @ (Step::Resize(_) | Step::StopResize | Step::RemoveNodes(_)) => {
                if act {
                    let etag = etag_of(observed);
                    match self.act(want, &step, etag.as_deref(), &mut run).await {
                        Ok(_) | Err(Cut::Stopping) => {}
                        Err(Cut::Busy {
                            retry_after, why, ..
                        }) => run.busy = Some((why, retry_after)),
                        Err(Cut::Failed(e)) => {
                            return Err(run.error(e, want, "acting on the pool"));
                        }
                    }
                }
                None
            }
        };
        let mut report = self.finish(run, want, outcome).await;
        if act && report.outcome == Outcome::Converged {
            // The poll that ends an operation records the boots it sees
            // (once: the rhythm keeps when the newest recorded one ended).
            self.record_rhythm(want, &mut report, None, budget).await;
        }
        Ok(report)
    }

    /// Drive the pool toward `want` for at most `wait` of (clock) time.
    #[cfg(test)]
    pub(crate) async fn converge(
        &self,
        want: &Want,
        wait: Duration,
    ) -> Result<Report, ConvergeError> {
        let budget = self.budget(wait);
        self.converge_within(want, &budget).await
    }

    /// The converge loop on a budget already started (after a lease
    /// write, say), so the whole request keeps to one wait. Once the answer
    /// is decided, a scale-up that resized adds to the pool's rhythm what it
    /// saw: its arrival (a caller's plain scale-up: a leased one's rode on
    /// its lease write) and the boots of nodes not recorded yet. Only the
    /// caller that resized writes, so a crowd waiting on one pool adds one
    /// write, not one each.
    pub(crate) async fn converge_within(
        &self,
        want: &Want,
        budget: &Budget,
    ) -> Result<Report, ConvergeError> {
        let arrived = self.clock.now_utc();
        let mut result = self.converge_loop(want, budget).await;
        if let Ok(report) = &mut result
            && !report.actions.is_empty()
        {
            let arrival =
                (want.origin == Origin::Caller && want.lease.is_none() && judges_readiness(want))
                    .then(|| Note::arrival(arrived, want.dedicated, want.low_priority));
            self.record_rhythm(want, report, arrival, budget).await;
        }
        result
    }

    /// Adds `arrival` and the new boots `report` saw to the pool's rhythm:
    /// one conditional `PATCH` on the pool just seen, within `budget`, after
    /// the answer is decided; nothing when there is nothing new, when Batch
    /// is busy (no load added) or the handler stops. A failure is logged,
    /// never the answer's.
    async fn record_rhythm(
        &self,
        want: &Want,
        report: &mut Report,
        arrival: Option<Note>,
        budget: &Budget,
    ) {
        if !judges_readiness(want) || self.stopping() || report.retry_after.is_some() {
            return;
        }
        if matches!(report.outcome, Outcome::Pending(WaitReason::BatchBusy)) {
            return;
        }
        let Some(Observed::Pool(snapshot)) = &report.last else {
            return;
        };
        let mut boots = snapshot.nodes.as_ref().map_or_else(Vec::new, |tally| {
            let rhythm = super::rhythm::read(&snapshot.pool.metadata);
            Note::boots(&rhythm, &tally.ready_boots, want.provision_deadline)
        });
        // Callers of this process that saw the same boots write them once.
        if let (Some(looks), Some((until, _))) = (self.looks, boots.last())
            && !looks.claim_boots(&want.pool_id, *until)
        {
            boots.clear();
        }
        let note = Note {
            arrival: arrival.and_then(|note| note.arrival),
            boots,
            departure: None,
        };
        if note.is_empty() {
            return;
        }
        let (written, calls) = self
            .edit_pool_from(
                &want.pool_id,
                Some(snapshot.pool.clone()),
                &PoolEdit::Rhythm(note),
                budget,
            )
            .await;
        report.batch_calls += calls;
        match written {
            Ok(outcome) => {
                tracing::debug!(pool = %want.pool_id, ?outcome, "pool rhythm recorded");
            }
            Err(error) => {
                tracing::info!(pool = %want.pool_id, error = %error, "pool rhythm not recorded");
            }
        }
    }

    async fn converge_loop(&self, want: &Want, budget: &Budget) -> Result<Report, ConvergeError> {
        let mut run = Run::new(budget);
        let mut interval = self.policy.first;
        // When the pool was last read (clock time since the start).
        let mut pool_read_at = Duration::ZERO;
        let _waiting = self.looks.map(|looks| looks.wait_on(&want.pool_id));
        loop {
            match self.look(want, &mut run, pool_read_at).await {
                Ok((observed, pool_read)) => {
                    if pool_read {
                        pool_read_at = budget.elapsed();
                    }
                    run.saw(observed);
                }
                Err(cut) => match self.after_cut(cut, &mut run, interval).await {
                    Next::LookAgain => continue,
                    Next::Answer => return Ok(self.finish(run, want, None).await),
                    Next::Fail(e) => return Err(run.error(e, want, "reading the pool")),
                },
            }
            let observed = run.last.as_ref().expect("just seen");
            let step = decide(observed, want, run.history);
            tracing::debug!(pool = %want.pool_id, ?step, "decided");
            if let Some(progress) = self.progress {
                progress(observed, &step);
            }
            match step {
                Step::Done => return Ok(self.finish(run, want, Some(Outcome::Converged)).await),
                Step::Fail(failure) => {
                    return Ok(self.finish(run, want, Some(Outcome::Failed(failure))).await);
                }
                Step::Wait(reason) => {
                    let (decided, near) = self.waited(reason, observed, want, &run);
                    interval = self.policy.after_decision(interval, decided);
                    // Nodes boot, and the pool's boots say when the last one
                    // should be ready: look around then, not every `max`.
                    if reason == WaitReason::NodesStarting
                        && !near
                        && self.policy.timed_boot
                        && let Some(window) = ready_window(observed, want.provision_deadline)
                    {
                        let elapsed = budget.elapsed();
                        let spent = run.boot_looks.get_or_insert(BootLooks {
                            since: elapsed,
                            looks: 0,
                        });
                        spent.looks += 1;
                        interval =
                            self.policy
                                .timed_look(window, self.clock.now_utc(), *spent, elapsed);
                    }
                }
                step @ (Step::Resize(_) | Step::StopResize | Step::RemoveNodes(_)) => {
                    let etag = etag_of(observed);
                    let decided = match self.act(want, &step, etag.as_deref(), &mut run).await {
                        Ok(true) => Decided::Acted {
                            shrink: shrinks(&step),
                        },
                        Ok(false) => Decided::Refused,
                        Err(cut) => match self.after_cut(cut, &mut run, interval).await {
                            Next::LookAgain => continue,
                            Next::Answer => return Ok(self.finish(run, want, None).await),
                            Next::Fail(e) => return Err(run.error(e, want, "acting on the pool")),
                        },
                    };
                    interval = self.policy.after_decision(interval, decided);
                }
            }
            if budget.left().is_zero()
                || self.stopping()
                || !self.pause(interval.min(budget.left())).await
            {
                return Ok(self.finish(run, want, None).await);
            }
            let near = run.last.as_ref().is_some_and(|seen| is_near(seen, want));
            interval = self.policy.grown(interval, near);
        }
    }

    /// A wait, for the poll policy, and whether the pool is near its want.
    fn waited(
        &self,
        reason: WaitReason,
        observed: &Observed,
        want: &Want,
        run: &Run<'_>,
    ) -> (Decided, bool) {
        let elapsed = run.budget.elapsed();
        // Counted from the resize this wait is for, as the SDK's poller
        // would: a wait that joined late (a caller posting again after a
        // 202) did not see the slow looks that earned the credit, but they
        // were made.
        let since_resize = match run.history.resizes_issued {
            0 => since_modified(observed, self.clock.now_utc())
                .map_or(elapsed, |since| since.max(elapsed)),
            _ => elapsed,
        };
        let near = is_near(observed, want);
        let decided = Decided::Wait {
            reason,
            near,
            // A call that resized writes the pool's rhythm once it answers:
            // counted now, so the total keeps to the same bound.
            calls: run.calls + u32::from(!run.actions.is_empty()),
            since_resize,
        };
        (decided, near)
    }

    /// What the loop does after a Batch call did not complete: wait out a
    /// busy Batch and look again while the budget allows, answer "not yet"
    /// when it does not (or the process stops), fail on what waiting will
    /// not fix (including a connection that keeps dropping).
    async fn after_cut(&self, cut: Cut, run: &mut Run<'_>, interval: Duration) -> Next {
        match cut {
            Cut::Failed(e) => Next::Fail(e),
            Cut::Stopping => Next::Answer,
            Cut::Busy {
                retry_after,
                why,
                dropped,
            } => {
                tracing::info!(why, "Batch is busy; waiting");
                if let Some(e) = run.busy(why, retry_after, dropped) {
                    return Next::Fail(e);
                }
                if self.wait_out(retry_after, interval, run.budget).await {
                    Next::LookAgain
                } else {
                    Next::Answer
                }
            }
        }
    }

    /// The report of a run: `outcome`, or pending when `None`. A pending
    /// answer shows the pool as it is *after* the last action (read again
    /// when an action came after the last look), and every answer that saw
    /// the pool shows its nodes, so the counts are numbers.
    async fn finish(&self, mut run: Run<'_>, want: &Want, outcome: Option<Outcome>) -> Report {
        if run.stale && !self.stopping() {
            let mut calls = 0;
            if let Ok(observed) = self
                .bounded(self.observe(want, &mut calls), run.budget)
                .await
            {
                run.last = Some(observed);
                run.stale = false;
            }
            run.calls += calls;
        }
        if let Some(Observed::Pool(snapshot)) = &mut run.last
            && snapshot.nodes.is_none()
            && !self.stopping()
        {
            let pool = &snapshot.pool;
            if pool.current_dedicated_nodes + pool.current_low_priority_nodes == 0 {
                snapshot.nodes = Some(NodeTally::default());
            } else {
                run.calls += 1;
                if let Ok(nodes) = self
                    .bounded(self.batch.list_nodes(&want.pool_id), run.budget)
                    .await
                {
                    snapshot.nodes = Some(NodeTally::from_nodes(&nodes));
                }
            }
        }
        let outcome = outcome.unwrap_or_else(|| {
            Outcome::Pending(match (&run.busy, &run.last) {
                (Some(_), _) | (None, None) => WaitReason::BatchBusy,
                (None, Some(observed)) => pending_reason(observed, want),
            })
        });
        let retry_after = match &outcome {
            Outcome::Pending(_) => run.busy.as_ref().and_then(|(_, after)| *after),
            _ => None,
        };
        Report {
            outcome,
            last: run.last,
            actions: run.actions,
            waited: run.budget.elapsed(),
            batch_calls: run.calls,
            retry_after,
        }
    }

    /// Takes a Resize or StopResize step, conditional on the ETag of the
    /// observation it was decided from. `Ok(false)`: Batch refused with
    /// 409/404/412 because the pool changed under us (another pipeline's
    /// lease or resize); the next look decides again.
    async fn act(
        &self,
        want: &Want,
        step: &Step,
        etag: Option<&str>,
        run: &mut Run<'_>,
    ) -> Result<bool, Cut> {
        let (result, action) = match step {
            Step::Resize(target) => (
                self.bounded(self.resize(&want.pool_id, *target, etag), run.budget)
                    .await,
                resize_action(*target, run.budget.elapsed()),
            ),
            Step::StopResize => (
                self.bounded(self.batch.stop_resize(&want.pool_id, etag), run.budget)
                    .await,
                Action::StopResize {
                    after_seconds: seconds(run.budget.elapsed()),
                },
            ),
            Step::RemoveNodes(node_ids) => (
                self.bounded(
                    self.batch.remove_nodes(&want.pool_id, node_ids, etag),
                    run.budget,
                )
                .await,
                Action::RemoveNodes {
                    node_ids: node_ids.clone(),
                    after_seconds: seconds(run.budget.elapsed()),
                },
            ),
            _ => return Ok(false),
        };
        run.calls += 1;
        match result {
            Ok(()) => {
                tracing::info!(pool = %want.pool_id, ?action, "accepted by Batch");
                match step {
                    Step::Resize(_) => run.history.resizes_issued += 1,
                    Step::RemoveNodes(_) => run.history.repairs_issued += 1,
                    _ => {}
                }
                run.actions.push(action);
                run.stale = true;
                run.newest = tokio::time::Instant::now();
                if let Some(looks) = self.looks {
                    looks.forget(&want.pool_id);
                }
                Ok(true)
            }
            Err(Cut::Failed(e))
                if e.is_conflict() || e.is_not_found() || e.is_precondition_failed() =>
            {
                tracing::info!(pool = %want.pool_id, code = e.code(), ?action, "refused by Batch; looking again");
                Ok(false)
            }
            Err(cut) => Err(cut),
        }
    }

    async fn resize(
        &self,
        pool_id: &PoolId,
        target: ResizeTo,
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        let body = ResizePool {
            target_dedicated_nodes: target.dedicated,
            target_low_priority_nodes: target.low_priority,
            resize_timeout: self.policy.resize_timeout.map(iso8601_duration),
            node_deallocation_option: target.deallocation,
        };
        self.batch.resize_pool(pool_id, &body, if_match).await
    }
}

/// Why the pool is not there yet, judged as the status check would.
/// A resize that removes nodes (it says how they leave).
fn shrinks(step: &Step) -> bool {
    matches!(
        step,
        Step::Resize(ResizeTo {
            deallocation: Some(_),
            ..
        })
    )
}

fn pending_reason(observed: &Observed, want: &Want) -> WaitReason {
    match decide(observed, want, History::assume_resized()) {
        Step::Wait(reason) => reason,
        _ => WaitReason::Resizing,
    }
}

fn resize_action(target: ResizeTo, after: Duration) -> Action {
    Action::Resize {
        target_dedicated_nodes: target.dedicated,
        target_low_priority_nodes: target.low_priority,
        node_deallocation_option: target.deallocation.map(|d| match d {
            crate::batch::models::NodeDeallocationOption::Requeue => "requeue",
            crate::batch::models::NodeDeallocationOption::Terminate => "terminate",
            crate::batch::models::NodeDeallocationOption::TaskCompletion => "taskcompletion",
            crate::batch::models::NodeDeallocationOption::RetainedData => "retaineddata",
        }),
        after_seconds: seconds(after),
    }
}

pub(crate) fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10.0).round() / 10.0
}

/// `PT15M` style, whole seconds.
fn iso8601_duration(duration: Duration) -> String {
    format!("PT{}S", duration.as_secs())
}

#[cfg(test)]
mod tests;
