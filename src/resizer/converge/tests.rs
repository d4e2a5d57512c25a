//! The converge loop against a scripted pool on paused tokio time: how many
//! Batch calls it makes, when it gives up waiting, how it treats refusals.

use super::*;
use crate::batch::error::AuthMode;
use crate::batch::models::{AllocationState, MetadataItem, Node, NodeState, Pool};
use crate::clock::Clock;
use crate::resizer::PollPolicy;
use crate::resizer::fixtures::{down, up as want};
use crate::resizer::looks::Looks;
use azure_core::http::StatusCode;
use std::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A pool that allocates nodes 60 s after a resize and readies them 180 s later;
/// with `start_task_secs`, the last that many seconds are `waitingforstarttask`.
struct FakePool {
    state: Mutex<FakeState>,
}

struct FakeState {
    target: u32,
    resized_at: Option<Instant>,
    calls: Vec<&'static str>,
    refuse_next_resize: bool,
    fail_reads: bool,
    /// Bumped by every accepted resize: the pool's ETag, as `If-Match` checks it.
    version: u32,
    start_task_secs: u64,
    /// The next this-many calls answer 429 with `Retry-After: retry_after_secs`.
    throttle_next: u32,
    retry_after_secs: u64,
    /// The next this-many resizes answer 429 (`Retry-After: 2`).
    throttle_resizes: u32,
    /// Every call takes this long before it answers (a slow Batch).
    slow: Duration,
}

fn service_error(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> BatchError {
    BatchError::Service {
        status: status.into(),
        code: code.into(),
        message: message.into(),
        request_id: None,
        retry_after: retry_after.map(Duration::from_secs),
        url: "https://acct.region.batch.azure.com/pools/p".into(),
        auth: AuthMode::ManagedIdentity,
    }
}

impl FakeState {
    /// Records the call; answers 429 while a throttle burst lasts.
    fn call(&mut self, name: &'static str) -> Result<(), BatchError> {
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            self.calls.push("429");
            return Err(service_error(
                429,
                "TooManyRequests",
                "throttled",
                Some(self.retry_after_secs),
            ));
        }
        self.calls.push(name);
        Ok(())
    }
}

impl FakePool {
    fn new(target: u32) -> Self {
        Self {
            state: Mutex::new(FakeState {
                target,
                resized_at: None,
                calls: vec![],
                refuse_next_resize: false,
                fail_reads: false,
                version: 1,
                start_task_secs: 0,
                throttle_next: 0,
                retry_after_secs: 0,
                throttle_resizes: 0,
                slow: Duration::ZERO,
            }),
        }
    }

    /// An empty pool whose next `calls` calls answer 429 with
    /// `Retry-After: retry_after_secs`.
    fn throttled(calls: u32, retry_after_secs: u64) -> Self {
        Self::new(0).with(|s| {
            s.throttle_next = calls;
            s.retry_after_secs = retry_after_secs;
        })
    }

    /// Scripts this pool's behaviour before the loop starts.
    fn with(self, script: impl FnOnce(&mut FakeState)) -> Self {
        script(&mut self.state.lock().unwrap());
        self
    }

    fn calls(&self) -> Vec<&'static str> {
        self.state.lock().unwrap().calls.clone()
    }

    fn phase(state: &FakeState) -> (AllocationState, u32, bool) {
        match state.resized_at {
            None => (AllocationState::Steady, state.target, true),
            Some(at) => {
                let age = at.elapsed();
                let steady = age >= Duration::from_secs(60);
                let current = if steady { state.target } else { 0 };
                let allocation = if steady {
                    AllocationState::Steady
                } else {
                    AllocationState::Resizing
                };
                (allocation, current, age >= Duration::from_secs(240))
            }
        }
    }
}

impl FakePool {
    async fn lag(&self) {
        let slow = self.state.lock().unwrap().slow;
        if !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
    }
}

impl PoolApi for FakePool {
    async fn get_pool(&self, pool_id: &PoolId) -> Result<Pool, BatchError> {
        self.lag().await;
        let mut state = self.state.lock().unwrap();
        state.call("get")?;
        if state.fail_reads {
            return Err(service_error(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request.",
                None,
            ));
        }
        let (allocation, current, _) = Self::phase(&state);
        Ok(Pool::test(pool_id.as_str())
            .etag(&format!("0x{}", state.version))
            .allocation(allocation)
            .target(state.target)
            .current(current)
            .pool())
    }

    async fn list_nodes(&self, _: &PoolId) -> Result<Vec<Node>, BatchError> {
        self.lag().await;
        let mut state = self.state.lock().unwrap();
        state.call("list")?;
        let (_, current, ready) = Self::phase(&state);
        let age = state.resized_at.map(|at| at.elapsed()).unwrap_or_default();
        let booted =
            state.start_task_secs > 0 && age >= Duration::from_secs(240 - state.start_task_secs);
        let node = if ready {
            Node::test(NodeState::Idle).start_task_ok()
        } else if booted {
            Node::test(NodeState::WaitingForStartTask)
        } else {
            Node::test(NodeState::Starting)
        };
        Ok((0..current)
            .map(|i| node.clone().named(&format!("n{i}")))
            .collect())
    }

    async fn resize_pool(
        &self,
        _: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        self.lag().await;
        let mut state = self.state.lock().unwrap();
        if state.throttle_resizes > 0 {
            state.throttle_resizes -= 1;
            state.calls.push("429");
            return Err(service_error(429, "TooManyRequests", "throttled", Some(2)));
        }
        state.call("resize")?;
        if std::mem::take(&mut state.refuse_next_resize) {
            return Err(service_error(
                409,
                "PoolBeingResized",
                "The specified pool is being resized.",
                None,
            ));
        }
        if if_match.is_some_and(|etag| etag != format!("0x{}", state.version)) {
            return Err(service_error(
                412,
                "ConditionNotMet",
                "The condition specified using HTTP conditional header(s) is not met.",
                None,
            ));
        }
        state.version += 1;
        state.target = body.target_dedicated_nodes;
        state.resized_at = Some(Instant::now());
        Ok(())
    }

    async fn remove_nodes(
        &self,
        _: &PoolId,
        _: &[String],
        _: Option<&str>,
    ) -> Result<(), BatchError> {
        self.state.lock().unwrap().calls.push("removenodes");
        Ok(())
    }

    async fn stop_resize(&self, _: &PoolId, _: Option<&str>) -> Result<(), BatchError> {
        self.state.lock().unwrap().calls.push("stop");
        Ok(())
    }

    async fn replace_pool_metadata(
        &self,
        _: &PoolId,
        _: &[MetadataItem],
        _: Option<&str>,
    ) -> Result<(), BatchError> {
        self.lag().await;
        self.state.lock().unwrap().calls.push("patch");
        Ok(())
    }
}

fn converger(batch: &FakePool) -> Converger<'_, FakePool> {
    Converger {
        batch,
        clock: Clock::real(),
        policy: PollPolicy::default(),
        stop: CancellationToken::new(),
        progress: None,
        looks: None,
    }
}

/// The loop's answer to a scale-up of `pool` to `dedicated` nodes within `budget`.
async fn scale_up(pool: &FakePool, dedicated: u32, budget: Duration) -> Report {
    converger(pool)
        .converge(&want(dedicated), budget)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn cold_pool_converges_with_few_calls() {
    let pool = FakePool::new(0);
    let report = scale_up(&pool, 1, Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert_eq!(report.actions.len(), 1);
    let calls = pool.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == "resize").count(),
        1,
        "resized once: {calls:?}"
    );
    // Until the pool is steady (60 s), looks grow 2 s -> 15 s and read the
    // pool (9 looks, the list only once nodes exist). Then nodes boot: a
    // look every 15 s that lists the nodes only, re-reading the pool every
    // 60 s: 13 looks, 3 of them with a GET. The Python SDK's 5-s poller
    // makes about 50 calls for the same 240 s.
    let gets = calls.iter().filter(|c| **c == "get").count();
    assert!((10..=14).contains(&gets), "{gets} GETs: {calls:?}");
    assert!(calls.len() <= 30, "{} calls: {calls:?}", calls.len());
    assert!(report.waited >= Duration::from_secs(240) && report.waited < Duration::from_secs(260));
}

/// The CLI's live display hangs off this hook: one call per decision, the
/// last one being the step that ended the loop.
#[tokio::test(start_paused = true)]
async fn progress_hook_sees_every_decision() {
    let pool = FakePool::new(0);
    let steps = std::sync::Mutex::new(Vec::new());
    let observer = |_: &Observed, step: &Step| {
        steps.lock().unwrap().push(step.clone());
    };
    let converger = Converger {
        progress: Some(&observer),
        ..converger(&pool)
    };
    converger
        .converge(&want(1), Duration::from_secs(600))
        .await
        .unwrap();
    let steps = steps.into_inner().unwrap();
    // A look is a pool GET (maybe followed by a node list), or a node list
    // alone (nodes-only looks while the pool is steady and allocated).
    let calls = pool.calls();
    let looks = calls
        .iter()
        .enumerate()
        .filter(|(i, c)| **c == "get" || (**c == "list" && (*i == 0 || calls[i - 1] != "get")))
        .count();
    assert_eq!(
        steps.len(),
        looks,
        "one decision per look: {steps:?} {calls:?}"
    );
    assert!(matches!(steps[0], Step::Resize(_)));
    assert_eq!(steps.last(), Some(&Step::Done));
}

#[tokio::test(start_paused = true)]
async fn start_task_phase_is_watched_closely_with_node_lists_only() {
    let pool = FakePool::new(0).with(|s| s.start_task_secs = 40);
    let report = scale_up(&pool, 1, Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Converged);
    // Ready at 240 s; once the node waits for its start task (200 s), looks
    // come every `near` (1.5 s), so the answer follows within one of them.
    let near = PollPolicy::default().near;
    assert!(
        report.waited >= Duration::from_secs(240)
            && report.waited <= Duration::from_secs(240) + near,
        "{:?}",
        report.waited
    );
    // The fast looks list the nodes only (the pool is read at most every 60 s).
    let calls = pool.calls();
    let tail: Vec<_> = calls.iter().rev().take(20).collect();
    assert!(
        tail.iter().filter(|c| ***c == "get").count() <= 1,
        "{calls:?}"
    );
    // Never more calls than the SDK's 5-s poller: 240 s is 48 looks.
    assert!(calls.len() <= 48, "{} calls: {calls:?}", calls.len());
}

#[tokio::test(start_paused = true)]
async fn a_long_start_task_costs_no_more_calls_than_the_sdk_poller() {
    // 170 s of start task: fast looks soon spend what the 60 s of allocation
    // saved, then the loop looks at the SDK's cadence.
    let pool = FakePool::new(0).with(|s| s.start_task_secs = 170);
    let report = scale_up(&pool, 1, Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Converged);
    let policy = PollPolicy::default();
    assert!(
        report.waited <= Duration::from_secs(240) + policy.call_budget,
        "{:?}",
        report.waited
    );
    // The SDK's way on this pool: get_pool, the resize, the poller's GETs at
    // 0, 5 ... 60 s (13), then list_nodes at 60, 65 ... 240 s (37): 52.
    let calls = pool.calls();
    assert!(calls.len() <= 52, "{} calls: {calls:?}", calls.len());
}

#[tokio::test(start_paused = true)]
async fn already_ready_answers_at_once_without_acting() {
    let pool = FakePool::new(2);
    let report = scale_up(&pool, 2, Duration::from_secs(200)).await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert!(report.actions.is_empty());
    assert_eq!(pool.calls(), vec!["get", "list"]);
    assert_eq!(report.waited, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn budget_end_is_pending_not_failure_and_status_resumes() {
    let pool = FakePool::new(0);
    let report = scale_up(&pool, 1, Duration::from_secs(30)).await;
    assert!(
        matches!(report.outcome, Outcome::Pending(_)),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.waited, Duration::from_secs(30));

    tokio::time::advance(Duration::from_secs(300)).await;
    let status = converger(&pool).check(&want(1)).await.unwrap();
    assert_eq!(status.outcome, Outcome::Converged);
}

#[tokio::test(start_paused = true)]
async fn a_refused_resize_is_looked_at_again() {
    let pool = FakePool::new(0).with(|s| s.refuse_next_resize = true);
    let report = scale_up(&pool, 1, Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert_eq!(pool.calls().iter().filter(|c| **c == "resize").count(), 2);
}

#[tokio::test(start_paused = true)]
async fn zero_budget_still_acts_once_and_status_picks_up() {
    let pool = FakePool::new(0);
    let report = scale_up(&pool, 1, Duration::ZERO).await;
    assert!(matches!(report.outcome, Outcome::Pending(_)));
    // The answer shows the pool after the resize: one more look; then, the
    // answer decided, the caller's arrival goes into the pool's rhythm.
    assert_eq!(pool.calls(), vec!["get", "resize", "get", "patch"]);
    let Some(Observed::Pool(seen)) = &report.last else {
        panic!("{:?}", report.last)
    };
    assert_eq!(
        seen.pool.target_dedicated_nodes, 1,
        "the view is after the action"
    );

    // A pool whose scale-up died before acting: the status poll resizes it.
    let orphan = FakePool::new(0);
    let resumed = converger(&orphan)
        .resume(&want(1), &converger(&orphan).budget(STATUS_PATIENCE))
        .await
        .unwrap();
    assert!(matches!(resumed.outcome, Outcome::Pending(_)));
    // Status looks read the pool and its nodes side by side (latency), so
    // they list even an empty pool; the answer looks again after acting.
    assert_eq!(orphan.calls(), vec!["get", "list", "resize", "get"]);
    // A plain check never acts.
    let untouched = FakePool::new(0);
    converger(&untouched).check(&want(1)).await.unwrap();
    assert_eq!(untouched.calls(), vec!["get", "list"]);
}

#[tokio::test(start_paused = true)]
async fn auth_refusal_is_an_error_not_a_wait() {
    let pool = FakePool::new(0).with(|s| s.fail_reads = true);
    let error = converger(&pool)
        .converge(&want(1), Duration::from_secs(200))
        .await
        .unwrap_err();
    assert_eq!(error.source.status(), Some(StatusCode::Forbidden));
    assert_eq!(pool.calls(), vec!["get"]);
}

#[tokio::test(start_paused = true)]
async fn stop_signal_ends_the_wait_with_pending() {
    let pool = FakePool::new(0);
    let stop = CancellationToken::new();
    let converger = Converger {
        batch: &pool,
        clock: Clock::scaled(10.0),
        policy: PollPolicy::default(),
        stop: stop.clone(),
        progress: None,
        looks: None,
    };
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel();
    };
    let wanted = want(1);
    let (report, ()) = tokio::join!(
        converger.converge(&wanted, Duration::from_secs(200)),
        stopper
    );
    let report = report.unwrap();
    assert!(matches!(report.outcome, Outcome::Pending(_)));
    assert!(
        report.waited < Duration::from_secs(20),
        "{:?}",
        report.waited
    );
}

#[tokio::test(start_paused = true)]
async fn a_shrink_is_looked_at_no_sooner_than_the_sdk_cadence() {
    // One node, scaled down to none: steady again 60 s after the resize.
    let pool = FakePool::new(1);
    let report = converger(&pool)
        .converge(&down(0), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Converged);
    // GET and the node list (failed nodes leave first), resize, then looks
    // at 5, 12.5, 23.75, 40.6, 55.6, 70.6 s. The SDK's poller: the resize,
    // then a GET at 0, 5 ... 60 s (14 calls).
    let calls = pool.calls();
    assert_eq!(calls.iter().filter(|c| **c == "resize").count(), 1);
    assert!(calls.len() <= 9, "{} calls: {calls:?}", calls.len());
}

/// Throttling is a wait, not a failure: with budget left, the loop waits as
/// long as `Retry-After` asks and carries on; no single call's allowance
/// ends the wait.
#[tokio::test(start_paused = true)]
async fn throttling_shorter_than_the_budget_is_waited_out() {
    let pool = FakePool::throttled(3, 2);
    let report = scale_up(&pool, 1, Duration::from_secs(900)).await;
    assert_eq!(report.outcome, Outcome::Converged, "{:?}", pool.calls());
    let calls = pool.calls();
    assert_eq!(&calls[..3], ["429", "429", "429"]);
    assert_eq!(calls.iter().filter(|c| **c == "resize").count(), 1);
    // The three waits of 2 s each came before the first real look.
    assert!(
        report.waited >= Duration::from_secs(246),
        "{:?}",
        report.waited
    );
}

/// A `Retry-After` longer than the budget left: answer "not yet" at once,
/// saying Batch is busy and passing its ask on, rather than sleep past the
/// deadline or call it a failure.
#[tokio::test(start_paused = true)]
async fn throttling_longer_than_the_budget_is_pending_with_its_retry_after() {
    let pool = FakePool::throttled(1, 120);
    let report = scale_up(&pool, 1, Duration::from_secs(60)).await;
    assert_eq!(report.outcome, Outcome::Pending(WaitReason::BatchBusy));
    assert_eq!(report.last, None, "nothing was observed");
    assert_eq!(report.retry_after, Some(Duration::from_secs(120)));
    assert!(
        report.waited < Duration::from_secs(1),
        "{:?}",
        report.waited
    );
    assert_eq!(pool.calls(), ["429"]);
}

/// Throttling on the resize itself: no resize was accepted, so the loop
/// keeps trying within its budget instead of giving up.
#[tokio::test(start_paused = true)]
async fn a_throttled_resize_is_tried_again_within_the_budget() {
    let pool = FakePool::new(0).with(|s| s.throttle_resizes = 3);
    let report = scale_up(&pool, 1, Duration::from_secs(900)).await;
    assert_eq!(report.outcome, Outcome::Converged, "{:?}", pool.calls());
    let calls = pool.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == "429").count(),
        3,
        "{calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| **c == "resize").count(), 1);
    assert_eq!(report.actions.len(), 1);
}

/// However slow Batch is, the answer leaves within the wait plus
/// `CALL_MARGIN`, lease write included: the whole request shares one budget.
#[tokio::test(start_paused = true)]
async fn a_slow_batch_never_pushes_the_answer_past_the_wait_plus_the_margin() {
    use crate::resizer::budget::CALL_MARGIN;
    use crate::resizer::{Lease, LeaseEdit};
    let pool = FakePool::new(0).with(|s| s.slow = Duration::from_secs(7));
    let converger = converger(&pool);
    let wait = Duration::from_secs(20);
    let started = Instant::now();
    let budget = converger.budget(wait);
    let lease = LeaseEdit::Hold(Lease {
        id: "run-1".parse().unwrap(),
        dedicated: 1,
        low_priority: 0,
        expires: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        idle: None,
    });
    converger
        .edit_leases(&"p".parse().unwrap(), &lease, &budget)
        .await
        .unwrap();
    let report = converger.converge_within(&want(1), &budget).await.unwrap();
    assert!(
        matches!(report.outcome, Outcome::Pending(_)),
        "{:?}",
        report.outcome
    );
    assert!(
        started.elapsed() <= wait + CALL_MARGIN,
        "answered after {:?}",
        started.elapsed()
    );
    // The HTTP cap plus the margin stays inside Azure's 230 s front-end limit.
    let cap = Duration::from_secs(crate::settings::HTTP_WAIT_LIMIT_SECONDS.into());
    assert!(cap + CALL_MARGIN < Duration::from_secs(229));
}

/// N callers waiting on one pool share their looks: Batch calls stay about
/// flat as callers grow (one whole look per pool per share window).
#[tokio::test(start_paused = true)]
async fn many_waiters_on_one_pool_cost_about_what_one_does() {
    let alone = FakePool::new(0);
    scale_up(&alone, 1, Duration::from_secs(600)).await;
    let one = alone.calls().len();

    let pool = FakePool::new(0);
    let looks = Looks::default();
    let shared = Converger {
        looks: Some(&looks),
        ..converger(&pool)
    };
    const WAITERS: usize = 100;
    let wanted = want(1);
    let reports = futures::future::join_all(
        (0..WAITERS).map(|_| shared.converge(&wanted, Duration::from_secs(600))),
    )
    .await;
    assert!(
        reports
            .iter()
            .all(|r| r.as_ref().unwrap().outcome == Outcome::Converged)
    );
    let calls = pool.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == "resize").count(),
        1,
        "{calls:?}"
    );
    eprintln!(
        "{WAITERS} waiters: {} Batch calls; one alone: {one}",
        calls.len()
    );
    // Looks are whole (pool and nodes) while crowded, so up to about twice
    // one caller's count; never anything like WAITERS times it.
    assert!(
        calls.len() <= 3 * one,
        "{WAITERS} waiters made {} calls, one alone {one}",
        calls.len()
    );
}
