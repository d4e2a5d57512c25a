//! The ways to size a pool that the days compare.
//!
//! A strategy acts at four points: once before the first day ([`Strategy::prepare`]:
//! enable a formula, set a floor), around each pipeline's Custom activity
//! ([`Strategy::before_task`], [`Strategy::after_task`]: what the pipeline's Azure
//! Function activities do), and on a timer of its own ([`Strategy::timer`],
//! [`Strategy::on_timer`]: an Azure Functions timer trigger, such as pool-resizer's
//! reconcile). A new strategy is one more implementation and one more line in [`all`];
//! the replay and the metrics do not change.
//!
//! Days run back to back on one simulator: the pool, its metadata (pool-resizer's leases
//! and marks, and whatever else it records there) and the autoscale history carry over
//! from one day to the next, as in Azure. So a strategy that learns from the days before
//! sees the learning days through the pool itself; [`Ctx::day`] says which day it is.
//!
//! "pool-resizer forecast" (pre-warming on a timer from the pool's recorded rhythm) is
//! one [`ResizerMode`] of the same [`Resizer`], its pre-warm in [`Strategy::on_timer`],
//! whose cadence [`Strategy::timer`] sets; "pool-resizer auto keep-warm" (a grace picked
//! from the gaps the pool has shown, `keepWarmMinutes=auto`) is another, and the two
//! together a fifth.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;

use super::adf::BatchCalls;
use super::config::{DayConfig, Run};
use super::flight::Flight;
use crate::batch::models::{MetadataItem, Node, Pool, ResizePool};
use crate::batch::{BatchClient, BatchError, PoolId};
use crate::clock::Clock;
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::looks::Looks;
use crate::resizer::want::{DEFAULT_PROVISION_DEADLINE, DEFAULT_REPAIR_ATTEMPTS};
use crate::resizer::{Converger, LeaseId, Operation, Outcome, PollPolicy, PoolApi, Want};
use crate::service::{
    Fired, LeaseRequest, Limits, ScaleRequest, ScheduledWork, Service, StatusRequest,
};

/// What a strategy can use: the pool, Batch (counted), the clock, the days.
pub(crate) struct Ctx {
    pub pool: PoolId,
    pub batch: BatchClient,
    pub calls: BatchCalls,
    pub clock: Clock,
    pub config: DayConfig,
    /// Where each day starts, in order (learning days first).
    pub days: Vec<OffsetDateTime>,
    /// Batch calls made by the strategy itself (not ADF's own job and task calls).
    pub strategy_calls: AtomicU64,
    /// Shared by every pipeline, as one handler instance shares its looks.
    pub looks: Looks,
    pub flight: Flight,
    /// When the Function App last served an HTTP call (its cold starts).
    pub function_app: FunctionApp,
}

impl Ctx {
    /// A call the strategy makes, counted.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(), String> {
        self.strategy_calls.fetch_add(1, Ordering::Relaxed);
        self.calls
            .call(method, path, Some(&body))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Which day it is now (0: the first), and whether it is measured.
    #[allow(dead_code, reason = "for strategies that learn; none reads it yet")]
    pub(crate) fn day(&self) -> (u32, bool) {
        let now = self.clock.now_utc();
        let day = self.days.iter().filter(|start| **start <= now).count();
        let day = u32::try_from(day.saturating_sub(1)).unwrap_or(0);
        (day, day >= self.config.learning_days)
    }

    /// Sleep `seconds` of simulated time.
    pub(crate) async fn pause(&self, seconds: f64) {
        if seconds > 0.0 {
            self.clock.sleep(Duration::from_secs_f64(seconds)).await;
        }
    }
}

/// The Function App's HTTP functions, as far as their cold starts go: a call after
/// `functionIdleMinutes` without one pays the run's drawn cold start. Timer functions
/// do not warm them (Flex Consumption scales HTTP functions as a group of their own).
#[derive(Default)]
pub(crate) struct FunctionApp {
    last: Mutex<Option<OffsetDateTime>>,
}

impl FunctionApp {
    /// Before an HTTP call: wait out a cold start if the app has gone cold.
    async fn call(&self, ctx: &Ctx, cold_seconds: f64) {
        let now = ctx.clock.now_utc();
        let idle = time::Duration::minutes(ctx.config.function_idle_minutes.into());
        let cold = self
            .last
            .lock()
            .map(|last| last.is_none_or(|at| now - at > idle))
            .unwrap_or(false);
        if cold {
            ctx.pause(cold_seconds).await;
        }
        self.touch(ctx);
    }

    /// An HTTP call was served now.
    fn touch(&self, ctx: &Ctx) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(ctx.clock.now_utc());
        }
    }
}

#[async_trait]
pub(crate) trait Strategy: Send + Sync {
    /// The table's row name.
    fn name(&self) -> &str;
    /// One line for the docs: what it does.
    fn description(&self) -> String;
    /// Before the first day starts (the pool exists, empty and steady).
    async fn prepare(&self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }
    /// Whether the pipeline has activities of this strategy around its Custom activity:
    /// then ADF's transitions between them apply, and ADF follows the task to its end
    /// to run [`Strategy::after_task`]. If not, the pipeline is its Custom activity
    /// alone, and the replay does not follow the task (those polls change nothing in
    /// Batch, and a schedule that never opens would cost thousands of them).
    fn has_activities(&self) -> bool {
        false
    }
    /// A pipeline starts: what runs before its Custom activity.
    async fn before_task(&self, _ctx: &Ctx, _run: &Run) -> Result<(), String> {
        Ok(())
    }
    /// Its tasks ended: what runs after the Custom activity.
    async fn after_task(&self, _ctx: &Ctx, _run: &Run) -> Result<(), String> {
        Ok(())
    }
    /// A timer trigger of its own, firing on the clock's multiples of this period.
    fn timer(&self) -> Option<Duration> {
        None
    }
    /// One firing of that timer.
    async fn on_timer(&self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }
}

/// Every strategy, in table order; `config.strategies` (names) picks some, empty picks all.
pub(crate) fn all(config: &DayConfig) -> Vec<Box<dyn Strategy>> {
    let interval = config.formula_interval_minutes;
    let cap = config.max_nodes;
    let every: Vec<Box<dyn Strategy>> = vec![
        Box::new(Resizer {
            mode: ResizerMode::Plain,
            policy: PollPolicy::default(),
        }),
        Box::new(Resizer {
            mode: ResizerMode::KeepWarm(KeepWarm::Minutes(KEEP_WARM_MINUTES)),
            policy: PollPolicy::default(),
        }),
        Box::new(Resizer {
            mode: ResizerMode::KeepWarm(KeepWarm::Auto),
            policy: PollPolicy::default(),
        }),
        Box::new(Resizer {
            mode: ResizerMode::Forecast(KeepWarm::OFF),
            policy: PollPolicy::default(),
        }),
        Box::new(Resizer {
            mode: ResizerMode::Forecast(KeepWarm::Auto),
            policy: PollPolicy::default(),
        }),
        Box::new(Formula {
            name: "pending-tasks formula".into(),
            what: "the seed article's formula: one node while the last $PendingTasks sample is not 0, taskcompletion".into(),
            formula: SEED_PENDING.into(),
            interval,
        }),
        Box::new(Formula {
            name: "active-tasks formula".into(),
            what: format!("a node per waiting task: $TargetDedicatedNodes = min({cap}, last $ActiveTasks sample), taskcompletion (the pattern of Microsoft's examples)"),
            formula: active_tasks(cap),
            interval,
        }),
        Box::new(Formula {
            name: "Microsoft pending-tasks example".into(),
            what: format!("Microsoft's \"task-based adjustment\" example as printed (max of the last $PendingTasks sample and its 15-minute average, halving when none; cap 20 set to {cap}), taskcompletion"),
            formula: microsoft_pending(cap),
            interval,
        }),
        Box::new(Formula {
            name: "schedule formula 06-07".into(),
            what: "the seed article's fixed schedule: one node Mon-Fri 06:00-07:00 UTC, taskcompletion".into(),
            formula: seed_schedule(6, 7),
            interval,
        }),
        Box::new(Formula {
            name: "schedule formula 08-18".into(),
            what: "the same schedule widened to the pipelines' working hours, 08:00-18:00".into(),
            formula: seed_schedule(8, 18),
            interval,
        }),
        Box::new(Floor),
    ];
    every
        .into_iter()
        .filter(|s| config.strategies.is_empty() || config.strategies.iter().any(|w| w == s.name()))
        .collect()
}

/// The names [`all`] knows.
pub(crate) fn names() -> Vec<String> {
    all(&DayConfig::default())
        .iter()
        .map(|s| s.name().to_string())
        .collect()
}

/// The seed article's "Option 2", verbatim (`$TargetDedicated` is the old name of
/// `$TargetDedicatedNodes`).
pub(crate) const SEED_PENDING: &str = "$LastSampledPendingTasks = $PendingTasks.GetSample(1);
$needcompute = min($LastSampledPendingTasks,1);
$TargetDedicated = $needcompute ? 1 : 0;
$NodeDeallocationOption = taskcompletion;";

/// A node per task waiting for one, up to `cap`, shrinking with `taskcompletion`: the
/// pattern of Microsoft's autoscale examples ("Create a formula to automatically scale
/// compute nodes in a Batch pool": `$ActiveTasks`, `max(0, ...)`, a cap with `min`,
/// `$NodeDeallocationOption = taskcompletion`) on the last sample.
pub(crate) fn active_tasks(cap: u32) -> String {
    format!(
        "$tasks = max(0, $ActiveTasks.GetSample(1));
$TargetDedicatedNodes = min({cap}, $tasks);
$NodeDeallocationOption = taskcompletion;"
    )
}

/// Microsoft's "Example 2: Task-based adjustment" ("Create a formula to automatically
/// scale compute nodes in a Batch pool"), as the page prints it, comments included; only
/// its cap of 20 is set to `cap`, so every strategy has the same.
pub(crate) fn microsoft_pending(cap: u32) -> String {
    format!(
        "// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at {cap}, if target VM value is more than that, set it
// to {cap}. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, {cap}));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;"
    )
}

/// The seed article's "Option 1". As printed it never assigns a target (the article
/// says it held one node 06:00-07:00, so a line was lost); the assignment its text
/// describes is added, with the window's hours as parameters.
pub(crate) fn seed_schedule(from: u8, to: u8) -> String {
    format!(
        "$Now=time();
$WorkHours=$Now.hour>={from} && $Now.hour<{to};
$IsWeekday=$Now.weekday>=1 && $Now.weekday<=5;
$IsWorkingWeekdayHour=$WorkHours && $IsWeekday;
$TargetDedicatedNodes=$IsWorkingWeekdayHour ? 1 : 0;
$NodeDeallocationOption = taskcompletion;"
    )
}

/// An autoscale formula, enabled once before the first day.
pub(crate) struct Formula {
    pub name: String,
    pub what: String,
    pub formula: String,
    pub interval: u32,
}

#[async_trait]
impl Strategy for Formula {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> String {
        format!("{} (evaluated every {} min)", self.what, self.interval)
    }

    async fn prepare(&self, ctx: &Ctx) -> Result<(), String> {
        let body = json!({
            "autoScaleFormula": self.formula,
            "autoScaleEvaluationInterval": format!("PT{}M", self.interval),
        });
        ctx.call(
            Method::POST,
            &format!("/pools/{}/enableautoscale", ctx.pool),
            body,
        )
        .await
    }
}

/// One node, all day.
pub(crate) struct Floor;

#[async_trait]
impl Strategy for Floor {
    fn name(&self) -> &str {
        "1-node floor"
    }

    fn description(&self) -> String {
        "one dedicated node all day (resized once, before the first day)".into()
    }

    async fn prepare(&self, ctx: &Ctx) -> Result<(), String> {
        ctx.call(
            Method::POST,
            &format!("/pools/{}/resize", ctx.pool),
            json!({"targetDedicatedNodes": 1}),
        )
        .await
    }
}

/// How a pool-resizer strategy holds its nodes. "auto keep-warm" is to come here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResizerMode {
    /// The scale-down releases at once.
    Plain,
    /// The scale-down keeps the nodes warm (`keepWarmMinutes`: minutes, or
    /// `auto`, with the reconcile every minute so a short warmth lapses on
    /// time).
    KeepWarm(KeepWarm),
    /// `FORECAST_MODE=on` with the reconcile every minute: pre-warms ahead of
    /// the rhythm the pool has recorded (`docs/schedules.md`); its
    /// scale-downs keep warm as this says.
    Forecast(KeepWarm),
}

impl ResizerMode {
    fn keep_warm(self) -> KeepWarm {
        match self {
            ResizerMode::Plain => KeepWarm::OFF,
            ResizerMode::KeepWarm(keep) | ResizerMode::Forecast(keep) => keep,
        }
    }

    fn forecasts(self) -> bool {
        matches!(self, ResizerMode::Forecast(_))
    }
}

/// The forecast strategy's reconcile: every minute, as docs/schedules.md
/// recommends with `FORECAST_MODE=on`.
const FORECAST_RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// pool-resizer as `adf/pipeline/RunOnBatchPool.json` uses it: scale-up with the run's
/// lease (its 202 followed until the nodes are ready), the task, scale-down releasing the
/// lease; and the reconcile timer every 15 minutes. Driven through the service the HTTP
/// handler and the timers call, with the library's converger and lease code.
pub(crate) struct Resizer {
    pub mode: ResizerMode,
    /// How its waits look at the pool (the handler's default).
    pub policy: PollPolicy,
}

/// The keep-warm strategy's grace: long enough to bridge the gaps between
/// the day's back-to-back pipelines, short enough not to hold nodes idle
/// through the quiet hours.
pub(crate) const KEEP_WARM_MINUTES: u32 = 15;

/// How often the reconcile timer fires (`SCHEDULE_RECONCILE_SCHEDULE` in the
/// templates, `0 */15 * * * *`).
const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);

/// `TIMER_WAIT_SECONDS` in the templates.
const TIMER_WAIT: Duration = Duration::from_secs(540);

/// The template's scale-down asks `waitSeconds: 30`.
const SCALE_DOWN_WAIT: Duration = Duration::from_secs(30);

/// How often ADF's Web activity follows a 202's status URL (the handler's `Retry-After`).
const STATUS_POLL: Duration = Duration::from_secs(10);

impl Resizer {
    fn lease(run: &Run, seed: u64) -> Result<LeaseId, String> {
        LeaseId::from_str(&format!("{}-{seed}", run.id)).map_err(|e| e.to_string())
    }

    /// The service the handler's routes and timers call, on the replay's Batch.
    fn service<'a>(&self, ctx: &'a Ctx, api: &'a Counted<'a>) -> Service<'a, Counted<'a>> {
        Service {
            converger: Converger {
                batch: api,
                clock: ctx.clock,
                policy: self.policy,
                stop: tokio_util::sync::CancellationToken::new(),
                progress: None,
                looks: Some(&ctx.looks),
            },
            limits: Limits {
                max_dedicated: ctx.config.max_nodes,
                max_low_priority: 0,
            },
            provision_deadline: DEFAULT_PROVISION_DEADLINE,
            // The handler's cap on concurrent waits is never reached by these days.
            waits: None,
        }
    }

    fn lease_request(ctx: &Ctx, run: &Run) -> Result<LeaseRequest, String> {
        Ok(LeaseRequest {
            id: Self::lease(run, ctx.config.seed)?,
            minutes: ctx.config.lease_minutes,
        })
    }
}

#[async_trait]
impl Strategy for Resizer {
    fn name(&self) -> &str {
        match self.mode {
            ResizerMode::Plain => "pool-resizer",
            ResizerMode::KeepWarm(KeepWarm::Auto) => "pool-resizer auto keep-warm",
            ResizerMode::KeepWarm(_) => "pool-resizer keep-warm",
            ResizerMode::Forecast(KeepWarm::Auto) => "pool-resizer forecast + auto keep-warm",
            ResizerMode::Forecast(_) => "pool-resizer forecast",
        }
    }

    fn description(&self) -> String {
        match self.mode {
            ResizerMode::Plain => "scale-up to the run's nodes with its lease before the task, scale-down after (taskcompletion); the reconcile timer every 15 min"
                .into(),
            ResizerMode::KeepWarm(KeepWarm::Auto) => "as pool-resizer, but each scale-down keeps its nodes warm as long as `keepWarmMinutes=auto` picks from the gaps the pool has shown (only when that bills no more than letting them go); the reconcile every minute, so warmth lapses on time"
                .into(),
            ResizerMode::KeepWarm(minutes) => format!(
                "as pool-resizer, but the scale-down keeps the nodes warm {minutes} min for the next pipeline; the reconcile timer (every 15 min) releases expired warmth"
            ),
            ResizerMode::Forecast(keep) => format!(
                "as pool-resizer, with FORECAST_MODE=on and the reconcile every minute: it pre-warms a boot ahead of the arrivals the pool's rhythm expects, under a lease that lapses {} min after the latest of them{}",
                crate::settings::DEFAULT_FORECAST_GRACE_MINUTES,
                if keep == KeepWarm::Auto { "; and each scale-down with `keepWarmMinutes=auto`" } else { "" }
            ),
        }
    }

    fn has_activities(&self) -> bool {
        true
    }

    async fn before_task(&self, ctx: &Ctx, run: &Run) -> Result<(), String> {
        let api = Counted(ctx);
        let service = self.service(ctx, &api);
        let lease = Self::lease_request(ctx, run)?;
        let request = ScaleRequest {
            operation: Operation::ScaleUp,
            pool_id: ctx.pool.clone(),
            dedicated: run.nodes,
            low_priority: 0,
            wait: Duration::from_secs(ctx.config.wait_seconds.into()),
            lease: Some(lease.clone()),
            force: false,
            repair_attempts: DEFAULT_REPAIR_ATTEMPTS,
            keep_warm: KeepWarm::OFF,
            fallback_to_dedicated: false,
        };
        let [into_condition, into_web, ..] = run.overheads.transitions;
        ctx.function_app
            .call(ctx, run.overheads.cold_start[0])
            .await;
        let answer = service.scale(&request).await.map_err(|e| e.to_string())?;
        ctx.function_app.touch(ctx);
        let report = answer.result.map_err(|e| e.to_string())?;
        match report.outcome {
            Outcome::Converged => {
                ctx.pause(into_condition).await;
                return Ok(());
            }
            Outcome::Failed(f) => return Err(f.message),
            Outcome::Pending(_) => {}
        }
        // "Still starting": the condition, then its Web activity follows the status URL.
        ctx.pause(into_condition + into_web).await;
        let status = StatusRequest {
            pool_id: ctx.pool.clone(),
            target: Some((Operation::ScaleUp, run.nodes, 0)),
            lease: Some(lease),
            resume: true,
            fallback_to_dedicated: false,
        };
        loop {
            ctx.clock.sleep(STATUS_POLL).await;
            let answer = service.status(&status).await.map_err(|e| e.to_string())?;
            ctx.function_app.touch(ctx);
            match answer.result.map_err(|e| e.to_string())?.outcome {
                Outcome::Converged => return Ok(()),
                Outcome::Failed(f) => return Err(f.message),
                Outcome::Pending(_) => {}
            }
        }
    }

    async fn after_task(&self, ctx: &Ctx, run: &Run) -> Result<(), String> {
        let api = Counted(ctx);
        let service = self.service(ctx, &api);
        let request = ScaleRequest {
            operation: Operation::ScaleDown,
            pool_id: ctx.pool.clone(),
            dedicated: 0,
            low_priority: 0,
            wait: SCALE_DOWN_WAIT,
            lease: Some(Self::lease_request(ctx, run)?),
            force: false,
            repair_attempts: 0,
            keep_warm: self.mode.keep_warm(),
            fallback_to_dedicated: false,
        };
        ctx.function_app
            .call(ctx, run.overheads.cold_start[1])
            .await;
        // The pipeline ends with this activity's answer; a 202 is not followed.
        let answer = service.scale(&request).await.map_err(|e| e.to_string())?;
        ctx.function_app.touch(ctx);
        answer.result.map(|_| ()).map_err(|e| e.to_string())
    }

    fn timer(&self) -> Option<Duration> {
        Some(match self.mode {
            ResizerMode::Forecast(_) | ResizerMode::KeepWarm(KeepWarm::Auto) => {
                FORECAST_RECONCILE_EVERY
            }
            ResizerMode::Plain | ResizerMode::KeepWarm(_) => RECONCILE_EVERY,
        })
    }

    /// The reconcile firing outside a schedule window (the replay deploys none): it
    /// looks, and releases keep-warm warmth whose grace is over.
    async fn on_timer(&self, ctx: &Ctx) -> Result<(), String> {
        let api = Counted(ctx);
        let service = self.service(ctx, &api);
        let work = ScheduledWork {
            want: Want::look(ctx.pool.clone()),
            lease: None,
            wait: TIMER_WAIT,
        };
        let report = match service.fire(work).await {
            Fired::LeaseNotWritten(_) => return Err("the reconcile wrote no lease".into()),
            Fired::Ran(ran) => ran.result.map_err(|e| e.to_string())?,
        };
        if !self.mode.forecasts() {
            return Ok(());
        }
        // The timer face's forecast step, as FORECAST_MODE=on runs it.
        let Some(crate::resizer::Observed::Pool(snapshot)) = &report.last else {
            return Ok(());
        };
        let grace =
            Duration::from_secs(u64::from(crate::settings::DEFAULT_FORECAST_GRACE_MINUTES) * 60);
        let reading = crate::resizer::forecast::read(
            &snapshot.pool.metadata,
            ctx.clock.now_utc(),
            FORECAST_RECONCILE_EVERY,
            grace,
        );
        match reading.due {
            Some(due) if !reading.held => {
                let nodes = (due.expected.dedicated, due.expected.low_priority);
                let answer = service
                    .prewarm(
                        &ctx.pool,
                        nodes,
                        due.hold_until,
                        crate::service::PREWARM_WAIT,
                    )
                    .await;
                answer.result.map(|_| ()).map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}

/// The Batch client, counting every call the resizer makes (each taking no simulated
/// time, see [`Flight`]).
pub(crate) struct Counted<'a>(&'a Ctx);

impl Counted<'_> {
    fn count(&self) {
        self.0.strategy_calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl PoolApi for Counted<'_> {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send {
        self.count();
        self.0.flight.around(self.0.batch.get_pool(pool_id))
    }
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send {
        self.count();
        self.0.flight.around(self.0.batch.list_nodes(pool_id, None))
    }
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.resize_pool(pool_id, body, if_match))
    }
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.stop_resize(pool_id, if_match))
    }
    fn remove_nodes(
        &self,
        pool_id: &PoolId,
        node_ids: &[String],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.remove_nodes(pool_id, node_ids, if_match))
    }
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0.flight.around(
            self.0
                .batch
                .replace_pool_metadata(pool_id, metadata, if_match),
        )
    }
}
