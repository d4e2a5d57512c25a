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
//! one [`ResizerMode`](resizer::ResizerMode) of the same [`Resizer`](resizer::Resizer), its pre-warm in [`Strategy::on_timer`],
//! whose cadence [`Strategy::timer`] sets; "pool-resizer auto keep-warm" (a grace picked
//! from the gaps the pool has shown, `keepWarmMinutes=auto`) is another, and the two
//! together a fifth.
//!
//! One job per file: [`ctx`] what a strategy works with, [`resizer`] pool-resizer's
//! modes (driving Batch through [`counted`]), [`formula`] the autoscale formulas that
//! follow the tasks, [`schedule`] the fixed schedules, [`floor`] the one-node baseline.

mod counted;
mod ctx;
mod floor;
mod formula;
mod resizer;
mod schedule;

use std::time::Duration;

use async_trait::async_trait;

use super::config::{DayConfig, Run};

pub(crate) use ctx::{Ctx, FunctionApp};
// The replay's tests drive one mode with a polling policy of their own.
#[cfg(test)]
pub(crate) use resizer::{Resizer, ResizerMode};

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
    let mut every: Vec<Box<dyn Strategy>> = Vec::new();
    every.extend(resizer::modes().into_iter().map(boxed));
    every.extend(formula::task_driven(config).into_iter().map(boxed));
    every.extend(schedule::formulas(config).into_iter().map(boxed));
    every.push(Box::new(floor::Floor));
    every
        .into_iter()
        .filter(|s| config.strategies.is_empty() || config.strategies.iter().any(|w| w == s.name()))
        .collect()
}

fn boxed(strategy: impl Strategy + 'static) -> Box<dyn Strategy> {
    Box::new(strategy)
}

/// The names [`all`] knows.
pub(crate) fn names() -> Vec<String> {
    all(&DayConfig::default())
        .iter()
        .map(|s| s.name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    /// The table's order is part of the output (rows, chart colours, the docs' tables):
    /// each file contributes its rows, and this pins how they line up.
    #[test]
    fn the_table_lists_pool_resizer_then_the_formulas_then_the_schedules_then_the_floor() {
        assert_eq!(
            super::names(),
            [
                "pool-resizer",
                "pool-resizer keep-warm",
                "pool-resizer auto keep-warm",
                "pool-resizer forecast",
                "pool-resizer forecast + auto keep-warm",
                "pending-tasks formula",
                "active-tasks formula",
                "Microsoft pending-tasks example",
                "schedule formula 06-07",
                "schedule formula 08-18",
                "1-node floor",
            ]
        );
    }
}
