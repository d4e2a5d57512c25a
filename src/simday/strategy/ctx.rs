//! What a strategy works with: the pool, Batch (its calls counted), the clock, the
//! days, and the Function App whose cold starts its HTTP activities pay. One per
//! replay, shared by its pipelines and its timer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use time::OffsetDateTime;

use crate::batch::{BatchClient, PoolId};
use crate::clock::Clock;
use crate::resizer::looks::Looks;
use crate::simday::adf::BatchCalls;
use crate::simday::config::DayConfig;
use crate::simday::flight::Flight;

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
    pub(super) async fn call(&self, ctx: &Ctx, cold_seconds: f64) {
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
    pub(super) fn touch(&self, ctx: &Ctx) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(ctx.clock.now_utc());
        }
    }
}
