//! One strategy's days: a simulator of its own, the pipelines at their times, the
//! strategy's timer, the log read over the measured days.
//!
//! The day runs on tokio's *paused* clock, in a runtime of its own: when every task
//! waits (for a timer, a boot, the next pipeline), time jumps to the next thing due. So
//! a day of 24 hours takes seconds, and the same seed gives the same day, whatever the
//! machine's load. Batch calls still travel over HTTPS to the simulator, as in `dev`,
//! and take no simulated time ([`super::flight`]): a real call's ~0.1 s is noise next
//! to a node's minutes of boot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use azure_core::http::{Transport, Url};
use base64::Engine;
use batch_simulator::{Simulator, SimulatorConfig, Timing};
use reqwest::Method;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::adf::BatchCalls;
use super::config::{DayConfig, DayPlan, Run};
use super::flight::Flight;
use super::metrics::{Metrics, measure};
use super::strategy::{Ctx, FunctionApp, Strategy};
use crate::batch::{BatchAuth, BatchClient, BatchClientOptions, PoolId};
use crate::clock::Clock;
use crate::https::https_client;

/// The pool every strategy's day uses.
pub(crate) const POOL: &str = "adf-pool";
/// The job ADF's Custom activities add their tasks to.
pub(crate) const JOB: &str = "adf";
/// The simulator starts this long before the day: the floor's node is up and the
/// formulas have history by the day's first minute.
pub(crate) const WARM_UP: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
#[error("{strategy}: {message}")]
pub struct ReplayError {
    pub strategy: String,
    pub message: String,
}

/// Replay the days for one strategy, on a paused-clock runtime of its own.
pub(crate) fn replay(plan: &DayPlan, strategy: &dyn Strategy) -> Result<Metrics, ReplayError> {
    let fail = |message: String| ReplayError {
        strategy: strategy.name().to_string(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| fail(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(day(plan, strategy)).map_err(fail)
}

fn timing(plan: &DayPlan) -> Timing {
    let c = &plan.config;
    let pair = |r: [f64; 2]| (r[0], r[1]);
    Timing {
        allocate: pair(c.allocate_seconds),
        creating: pair(c.creating_seconds),
        starting: pair(c.starting_seconds),
        leaving: pair(c.leaving_seconds),
        ..Timing::default()
    }
}

/// The first multiple of `period` (on the clock, as an NCRONTAB `0 */15 * * * *` fires)
/// strictly after `now`.
fn next_firing(now: OffsetDateTime, period: Duration) -> OffsetDateTime {
    let p = i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1);
    let next = (now.unix_timestamp().div_euclid(p) + 1) * p;
    OffsetDateTime::from_unix_timestamp(next).unwrap_or(now)
}

async fn day(plan: &DayPlan, strategy: &dyn Strategy) -> Result<Metrics, String> {
    let sim = start_simulator(plan).await?;
    // Simulated time and the runtime's instants, read together: the map between them.
    let timeline = Timeline {
        base_sim: sim.now(),
        base_instant: Instant::now(),
    };
    let ctx = context(plan, &sim, timeline.base_sim)?;
    create_pool_and_job(&ctx.calls, plan).await?;
    // A new pool settles (its sizing to 0) within seconds.
    tokio::time::sleep(Duration::from_secs(10)).await;
    strategy.prepare(&ctx).await?;
    let days = run_days(plan, strategy, &ctx, &timeline).await;
    let events = sim.events();
    let measured = plan.measured_runs();
    let mut metrics = measure(
        &events,
        &measured,
        &days.errors,
        plan.measured_start,
        plan.end,
        days.measured_calls,
    );
    metrics.failed_activities = days.errors.len() + days.timer_failures;
    sim.shutdown().await;
    Ok(metrics)
}

/// The simulator of one replay, started [`WARM_UP`] before the first day, on the
/// plan's seed and boot times.
async fn start_simulator(plan: &DayPlan) -> Result<Simulator, String> {
    batch_simulator::start(SimulatorConfig {
        time_scale: 1.0,
        seed: plan.config.seed,
        timing: timing(plan),
        start_time: Some(plan.start - WARM_UP),
        tick: None,
        // The day's metrics read its whole log: a bounded run, kept whole.
        event_log_capacity: usize::MAX,
        ..SimulatorConfig::default()
    })
    .await
    .map_err(|e| e.to_string())
}

/// Simulated time against the runtime's instants, from one reading of both.
struct Timeline {
    base_sim: OffsetDateTime,
    base_instant: Instant,
}

impl Timeline {
    /// The runtime's instant of simulated moment `t`, to sleep until.
    fn instant_at(&self, t: OffsetDateTime) -> Instant {
        self.base_instant + Duration::try_from(t - self.base_sim).unwrap_or_default()
    }
}

/// What the strategy works with, on this simulator: pool-resizer's Batch client and
/// ADF's counted calls, both trusting the simulator's CA and flown through one
/// [`Flight`].
fn context(plan: &DayPlan, sim: &Simulator, base_sim: OffsetDateTime) -> Result<Ctx, String> {
    let info = sim.ready_info().clone();
    let roots: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(sim.ca_pem().as_bytes())
            .filter_map(Result::ok)
            .collect();
    let http = https_client(&roots, None).map_err(|e| e.to_string())?;
    let endpoint = Url::parse(&info.endpoint).map_err(|e| e.to_string())?;
    let mut options = BatchClientOptions::default();
    options.client_options.transport = Some(Transport::new(std::sync::Arc::new(http.clone())));
    let batch = BatchClient::new(
        endpoint.clone(),
        BatchAuth::SharedKey {
            account: info.account.clone(),
            key: crate::batch::shared_key::AccountKey::decode(
                &azure_core::credentials::Secret::new(info.key.clone()),
            )
            .map_err(|e| e.to_string())?,
        },
        options,
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(info.key.trim())
        .map_err(|e| e.to_string())?;
    let flight = Flight::default();
    tokio::spawn(flight.clone().spin());
    let calls = BatchCalls::new(http, endpoint, info.account.clone(), key, flight.clone());
    let days = (0..plan.config.total_days())
        .map(|d| plan.start + time::Duration::days(d.into()))
        .collect();
    Ok(Ctx {
        pool: POOL.parse::<PoolId>().map_err(|e| e.to_string())?,
        batch,
        calls,
        clock: Clock::scaled_from(1.0, base_sim),
        config: plan.config.clone(),
        days,
        strategy_calls: AtomicU64::new(0),
        looks: Default::default(),
        flight,
        function_app: FunctionApp::default(),
    })
}

/// The pool the strategies size (with the plan's start task, if any) and the job
/// ADF's Custom activities add their tasks to.
async fn create_pool_and_job(calls: &BatchCalls, plan: &DayPlan) -> Result<(), String> {
    calls
        .call(Method::POST, "/pools", Some(&pool_body(&plan.config)))
        .await
        .map_err(|e| e.to_string())?;
    calls
        .call(
            Method::POST,
            "/jobs",
            Some(&json!({"id": JOB, "poolInfo": {"poolId": POOL}})),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The pool as created: one task a node, and a start task that sleeps its drawn
/// seconds when the day has one (what a real pool's setup adds to each boot).
fn pool_body(config: &DayConfig) -> serde_json::Value {
    let start_task = config
        .start_task_seconds
        .map(|seconds| json!({"commandLine": format!("/bin/bash -c \"sleep {seconds}\""), "waitForSuccess": true}));
    let mut pool = json!({
        "id": POOL,
        "vmSize": "Standard_A1_v2",
        "taskSlotsPerNode": 1,
    });
    if let Some(start_task) = start_task {
        pool["startTask"] = start_task;
    }
    pool
}

/// What the days left for the metrics beyond the simulator's log.
struct DaysRun {
    /// The pipelines that failed, by run id, and why.
    errors: BTreeMap<String, String>,
    /// Timer firings that failed.
    timer_failures: usize,
    /// Batch calls the strategy made from the measured days' start.
    measured_calls: u64,
}

/// Every pipeline at its arrival, and the strategy's timer, until the plan's end.
async fn run_days(
    plan: &DayPlan,
    strategy: &dyn Strategy,
    ctx: &Ctx,
    timeline: &Timeline,
) -> DaysRun {
    let errors = std::sync::Mutex::new(BTreeMap::new());
    let timer_failures = AtomicU64::new(0);
    let pipelines = plan.runs.iter().map(|run| {
        let errors = &errors;
        async move {
            tokio::time::sleep_until(timeline.instant_at(run.arrival)).await;
            if let Err(e) = pipeline(ctx, strategy, run).await
                && let Ok(mut errors) = errors.lock()
            {
                errors.insert(run.id.clone(), e);
            }
        }
    });
    let timer = strategy_timer(strategy, ctx, timeline, &timer_failures);
    // Batch calls are counted from the measured days' start.
    let calls_before = AtomicU64::new(0);
    let mark = async {
        tokio::time::sleep_until(timeline.instant_at(plan.measured_start)).await;
        calls_before.store(
            ctx.strategy_calls.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        std::future::pending::<()>().await
    };
    let whole_day = async {
        futures::future::join_all(pipelines).await;
        tokio::time::sleep_until(timeline.instant_at(plan.end)).await;
    };
    // Pipelines still waiting at the end (a schedule that never opens) are cut off.
    let _ = tokio::time::timeout_at(
        timeline.instant_at(plan.end),
        futures::future::join3(whole_day, timer, mark),
    )
    .await;
    DaysRun {
        errors: errors.into_inner().unwrap_or_default(),
        timer_failures: timer_failures.load(Ordering::Relaxed) as usize,
        measured_calls: ctx.strategy_calls.load(Ordering::Relaxed)
            - calls_before.load(Ordering::Relaxed),
    }
}

/// The strategy's own timer, firing on the clock's multiples of its period until the
/// replay ends (never, if it has none); each failed firing counted in `failures`.
async fn strategy_timer(
    strategy: &dyn Strategy,
    ctx: &Ctx,
    timeline: &Timeline,
    failures: &AtomicU64,
) {
    let Some(period) = strategy.timer() else {
        return std::future::pending::<()>().await;
    };
    loop {
        let at = next_firing(ctx.clock.now_utc(), period);
        tokio::time::sleep_until(timeline.instant_at(at)).await;
        if let Err(e) = strategy.on_timer(ctx).await {
            tracing::debug!(strategy = strategy.name(), error = %e, "timer firing failed");
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One pipeline: the strategy's activities, the Custom activity (its tasks, polled by ADF
/// until they complete), the strategy's closing activity; with ADF's own delays between
/// them.
async fn pipeline(ctx: &Ctx, strategy: &dyn Strategy, run: &Run) -> Result<(), String> {
    strategy
        .before_task(ctx, run)
        .await
        .map_err(|e| format!("before the task: {e}"))?;
    let activities = strategy.has_activities();
    if activities {
        ctx.pause(run.overheads.transitions[2]).await;
    }
    ctx.pause(run.overheads.submission).await;
    let command = format!("/bin/bash -c \"sleep {}\"", run.task_seconds);
    let tasks = run.task_ids();
    for task in &tasks {
        ctx.calls
            .call(
                Method::POST,
                &format!("/jobs/{JOB}/tasks"),
                Some(&json!({"id": task, "commandLine": command})),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    if !activities || ctx.config.skip_scale_down {
        return Ok(());
    }
    let poll = Duration::from_secs(ctx.config.adf_poll_seconds.into());
    let mut left = tasks;
    while !left.is_empty() {
        ctx.clock.sleep(poll).await;
        let mut still = Vec::new();
        for task in left {
            let state = ctx
                .calls
                .call(
                    Method::GET,
                    &format!("/jobs/{JOB}/tasks/{task}?$select=state"),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            if state["state"] != "completed" {
                still.push(task);
            }
        }
        left = still;
    }
    ctx.pause(run.overheads.transitions[3]).await;
    strategy
        .after_task(ctx, run)
        .await
        .map_err(|e| format!("after the task: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resizer::PollPolicy;
    use crate::simday::strategy::Resizer;

    #[test]
    fn the_pool_has_a_start_task_only_when_the_day_has_one() {
        let config = |start_task_seconds| DayConfig {
            start_task_seconds,
            ..DayConfig::default()
        };
        assert_eq!(pool_body(&config(None)).get("startTask"), None);
        assert_eq!(
            pool_body(&config(Some(45)))["startTask"]["commandLine"],
            "/bin/bash -c \"sleep 45\""
        );
    }

    /// Issue 21, item 4, on the paused clock: a pool without a start task,
    /// whose nodes boot in about the same time each day (what a pool's image
    /// and VM size make of it; the simulator draws each boot from these
    /// ranges). Eight pipelines half an hour apart, each booting a node.
    /// Once the pool has shown one boot, every answer follows its node's
    /// `idle` within 2 s, with fewer Batch calls than one look per 15 s.
    #[test]
    fn without_a_start_task_answers_follow_the_last_idle_within_two_seconds() {
        let arrivals = (0..8)
            .map(|i| format!("{:02}:{:02}", 8 + (5 + 30 * i) / 60, (5 + 30 * i) % 60))
            .collect();
        let plan = DayConfig {
            start: "08:00".into(),
            length_minutes: 300,
            arrivals,
            task_minutes: [5.0, 5.0],
            start_task_seconds: None,
            // ADF's own overheads would add to the lag measured here.
            activity_transition_seconds: [0.0, 0.0],
            task_submission_seconds: [0.0, 0.0],
            function_cold_start_seconds: [0.0, 0.0],
            creating_seconds: [20.0, 22.0],
            starting_seconds: [120.0, 123.0],
            wait_seconds: 200,
            seed: 3,
            ..DayConfig::default()
        }
        .plan()
        .unwrap();
        let day = |timed_boot| {
            let strategy = Resizer {
                mode: super::super::strategy::ResizerMode::Plain,
                policy: PollPolicy {
                    timed_boot,
                    ..PollPolicy::default()
                },
            };
            replay(&plan, &strategy).unwrap()
        };
        let (timed, fixed) = (day(true), day(false));
        let lags = |m: &Metrics| -> Vec<f64> {
            m.runs.iter().map(|r| r.after_ready.expect("ran")).collect()
        };
        eprintln!(
            "timed looks: lags {:?}, {} calls; one look per 15 s: lags {:?}, {} calls",
            lags(&timed),
            timed.batch_calls,
            lags(&fixed),
            fixed.batch_calls
        );
        assert_eq!(timed.tasks_run, 8);
        for (i, lag) in lags(&timed).iter().enumerate().skip(1) {
            assert!(*lag <= 2.0, "run {i}: {lag} s after its node's idle");
        }
        assert!(
            lags(&fixed).iter().skip(1).any(|lag| *lag > 2.0),
            "the fixed looks miss it"
        );
        assert!(timed.batch_calls <= fixed.batch_calls);
    }
}
