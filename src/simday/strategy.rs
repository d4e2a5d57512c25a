//! The ways to size a pool that the day compares.
//!
//! A strategy acts at three points: once before the day ([`Strategy::prepare`]: enable a
//! formula, set a floor), and around each pipeline's Custom activity
//! ([`Strategy::before_task`], [`Strategy::after_task`]: what the pipeline's Azure
//! Function activities do). A new strategy (keep-warm, say) is one more implementation
//! and one more line in [`all`]; the replay and the metrics do not change.

use crate::resizer::budget::STATUS_PATIENCE;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

use super::adf::BatchCalls;
use super::config::{DayConfig, Run};
use super::flight::Flight;
use crate::batch::models::{MetadataItem, Node, Pool, ResizePool};
use crate::batch::{BatchClient, BatchError, PoolId};
use crate::clock::Clock;
use crate::resizer::looks::Looks;
use crate::resizer::{
    Converger, Lease, LeaseEdit, LeaseId, LeaseRule, Outcome, PollPolicy, PoolApi, Want,
};

/// What a strategy can use: the pool, Batch (counted), the clock.
pub(crate) struct Ctx {
    pub pool: PoolId,
    pub batch: BatchClient,
    pub calls: BatchCalls,
    pub clock: Clock,
    pub config: DayConfig,
    /// Batch calls made by the strategy itself (not ADF's own job and task calls).
    pub strategy_calls: AtomicU64,
    /// Shared by every pipeline, as one handler instance shares its looks.
    pub looks: Looks,
    pub flight: Flight,
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
}

#[async_trait]
pub(crate) trait Strategy: Send + Sync {
    /// The table's row name.
    fn name(&self) -> &str;
    /// One line for the docs: what it does.
    fn description(&self) -> String;
    /// Before the day starts (the pool exists, empty and steady).
    async fn prepare(&self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }
    /// A pipeline starts: what runs before its Custom activity.
    async fn before_task(&self, _ctx: &Ctx, _run: &Run) -> Result<(), String> {
        Ok(())
    }
    /// Its task ended: what runs after the Custom activity.
    async fn after_task(&self, _ctx: &Ctx, _run: &Run) -> Result<(), String> {
        Ok(())
    }
    /// Whether [`Strategy::after_task`] does anything. If not, the replay does not
    /// follow the task to its end as ADF would: those polls change nothing in Batch,
    /// and a schedule that never opens would cost thousands of them.
    fn acts_after_task(&self) -> bool {
        false
    }
}

/// Every strategy, in table order; `wanted` (names) picks some, empty picks all.
pub(crate) fn all(config: &DayConfig) -> Vec<Box<dyn Strategy>> {
    let interval = config.formula_interval_minutes;
    let every: Vec<Box<dyn Strategy>> = vec![
        Box::new(Resizer {
            keep_warm_minutes: 0,
            policy: PollPolicy::default(),
        }),
        Box::new(Resizer {
            keep_warm_minutes: KEEP_WARM_MINUTES,
            policy: PollPolicy::default(),
        }),
        Box::new(Formula {
            name: "pending-tasks formula".into(),
            what: "the seed article's formula: one node while the last $PendingTasks sample is not 0, taskcompletion".into(),
            formula: SEED_PENDING.into(),
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

/// An autoscale formula, enabled once before the day.
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
        "one dedicated node all day (resized once, before the day)".into()
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

/// pool-resizer as `adf/pipeline/RunOnBatchPool.json` uses it: scale-up with the run's
/// lease (its 202 followed until the node is ready), the task, scale-down releasing the
/// lease. Driven through the library's `Converger` exactly as the HTTP handler drives it.
pub(crate) struct Resizer {
    /// The scale-down's `keepWarmMinutes`: 0 releases at once.
    pub keep_warm_minutes: u32,
    /// How its waits look at the pool (the handler's default).
    pub policy: PollPolicy,
}

/// The keep-warm strategy's grace: long enough to bridge the gaps between
/// the day's back-to-back pipelines, short enough not to hold nodes idle
/// through the quiet hours.
pub(crate) const KEEP_WARM_MINUTES: u32 = 15;

/// How often the reconcile timer fires (`SCHEDULE_RECONCILE_SCHEDULE`'s
/// default): it releases warmth that has expired.
const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);

/// How often ADF's Web activity follows a 202's status URL (the handler's `Retry-After`).
const STATUS_POLL: Duration = Duration::from_secs(10);

impl Resizer {
    fn lease(run: &Run, seed: u64) -> Result<LeaseId, String> {
        LeaseId::from_str(&format!("{}-{seed}", run.id)).map_err(|e| e.to_string())
    }

    fn converger<'a>(&self, ctx: &'a Ctx, api: &'a Counted<'a>) -> Converger<'a, Counted<'a>> {
        Converger {
            batch: api,
            clock: ctx.clock,
            policy: self.policy,
            stop: tokio_util::sync::CancellationToken::new(),
            progress: None,
            looks: Some(&ctx.looks),
        }
    }
}

#[async_trait]
impl Strategy for Resizer {
    fn name(&self) -> &str {
        match self.keep_warm_minutes {
            0 => "pool-resizer",
            _ => "pool-resizer keep-warm",
        }
    }

    fn description(&self) -> String {
        match self.keep_warm_minutes {
            0 => "scale-up 1 node with the run's lease before the task, scale-down after (taskcompletion)"
                .into(),
            minutes => format!(
                "as pool-resizer, but the scale-down keeps the node warm {minutes} min for the next pipeline; the reconcile timer (every 15 min) releases expired warmth"
            ),
        }
    }

    async fn before_task(&self, ctx: &Ctx, run: &Run) -> Result<(), String> {
        let api = Counted(ctx);
        let converger = self.converger(ctx, &api);
        let id = Self::lease(run, ctx.config.seed)?;
        // As the handler judges a leased scale-up: the pool grows to what
        // every live lease needs together; ready means a free node for this run.
        let want = Want {
            lease: Some(id.clone()),
            ..Want::scale_up(ctx.pool.clone(), 1, 0)
        };
        let budget = converger.budget(Duration::from_secs(ctx.config.wait_seconds.into()));
        let lease = Lease {
            id,
            dedicated: 1,
            low_priority: 0,
            expires: ctx.clock.now_utc()
                + Duration::from_secs(u64::from(ctx.config.lease_minutes) * 60),
        };
        converger
            .edit_leases(&ctx.pool, &LeaseEdit::Hold(lease), &budget)
            .await
            .map_err(|e| e.to_string())?;
        let mut report = converger
            .converge_within(&want, &budget)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match report.outcome {
                Outcome::Converged => return Ok(()),
                Outcome::Failed(f) => return Err(f.message),
                Outcome::Pending(_) => {
                    ctx.clock.sleep(STATUS_POLL).await;
                    report = converger
                        .resume(&want, &converger.budget(STATUS_PATIENCE))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }

    fn acts_after_task(&self) -> bool {
        true
    }

    async fn after_task(&self, ctx: &Ctx, run: &Run) -> Result<(), String> {
        let api = Counted(ctx);
        let converger = self.converger(ctx, &api);
        let lease = Self::lease(run, ctx.config.seed)?;
        let want = Want::scale_down(
            ctx.pool.clone(),
            0,
            0,
            LeaseRule::HonourExcept(lease.clone()),
        );
        let budget = converger.budget(Duration::from_secs(ctx.config.wait_seconds.into()));
        converger
            .edit_leases(&ctx.pool, &LeaseEdit::Release(lease), &budget)
            .await
            .map_err(|e| e.to_string())?;
        if self.keep_warm_minutes > 0 {
            converger
                .edit_pool(
                    &ctx.pool,
                    &crate::resizer::PoolEdit::KeepWarm {
                        minutes: self.keep_warm_minutes,
                    },
                    &budget,
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        // The pipeline ends with this activity's answer; a 202 is not followed.
        converger
            .converge_within(&want, &budget)
            .await
            .map_err(|e| e.to_string())?;
        if self.keep_warm_minutes == 0 {
            return Ok(());
        }
        // The reconcile timer's first firing after the warmth expires: a
        // scale-down that keeps what live leases (a later pipeline's, or its
        // renewed warmth) still need.
        // The timer fires on the clock's quarter hours (`0 */15 * * * *`).
        let expires =
            ctx.clock.now_utc() + Duration::from_secs(u64::from(self.keep_warm_minutes) * 60);
        let period = RECONCILE_EVERY.as_secs() as i64;
        let next_firing = (expires.unix_timestamp() / period + 1) * period;
        let wait = next_firing - ctx.clock.now_utc().unix_timestamp();
        ctx.clock
            .sleep(Duration::from_secs(wait.max(0) as u64))
            .await;
        let reconcile = Want::scale_down(ctx.pool.clone(), 0, 0, LeaseRule::Honour);
        let budget = converger.budget(Duration::from_secs(ctx.config.wait_seconds.into()));
        converger
            .converge_within(&reconcile, &budget)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
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
