//! pool-resizer itself, in each of its modes (plain, keep-warm, auto keep-warm,
//! forecast, forecast with auto keep-warm), driven through the same service the HTTP
//! handler and the timers call: what the pipeline template's activities and the
//! reconcile timer would make it do.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use super::counted::Counted;
use super::{Ctx, Strategy};
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::want::{DEFAULT_PROVISION_DEADLINE, DEFAULT_REPAIR_ATTEMPTS};
use crate::resizer::{Converger, LeaseId, Operation, Outcome, PollPolicy, Want};
use crate::service::{
    Fired, LeaseRequest, Limits, ScaleRequest, ScheduledWork, Service, StatusRequest,
};
use crate::simday::config::Run;

/// Every mode, in table order, each with the handler's default polling.
pub(crate) fn modes() -> Vec<Resizer> {
    [
        ResizerMode::Plain,
        ResizerMode::KeepWarm(KeepWarm::Minutes(KEEP_WARM_MINUTES)),
        ResizerMode::KeepWarm(KeepWarm::Auto),
        ResizerMode::Forecast(KeepWarm::OFF),
        ResizerMode::Forecast(KeepWarm::Auto),
    ]
    .into_iter()
    .map(|mode| Resizer {
        mode,
        policy: PollPolicy::default(),
    })
    .collect()
}

/// How a pool-resizer strategy holds its nodes.
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
            idle_minutes: ctx.config.lease_idle_minutes,
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
            ResizerMode::Plain => "scale-up to the run's nodes with its lease (leaseIdleMinutes 15, as the pipeline template sends) before the task, scale-down after (taskcompletion); the reconcile timer every 15 min, which also lets go of a lease whose nodes stood idle past its limit"
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
