//! The autoscale formulas the days compare with pool-resizer: the seed article's, and
//! the pattern and example of Microsoft's autoscale page, each enabled once before the
//! first day and left to Batch. The fixed schedules are formulas too, in
//! [`super::schedule`].

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

use super::{Ctx, Strategy};
use crate::simday::config::DayConfig;

/// The formulas that follow the tasks, in table order, evaluated every
/// `formulaIntervalMinutes` and capped at `maxNodes` as every strategy is.
pub(crate) fn task_driven(config: &DayConfig) -> Vec<Formula> {
    let interval = config.formula_interval_minutes;
    let cap = config.max_nodes;
    vec![
        Formula {
            name: "pending-tasks formula".into(),
            what: "the seed article's formula: one node while the last $PendingTasks sample is not 0, taskcompletion".into(),
            formula: SEED_PENDING.into(),
            interval,
        },
        Formula {
            name: "active-tasks formula".into(),
            what: format!("a node per waiting task: $TargetDedicatedNodes = min({cap}, last $ActiveTasks sample), taskcompletion (the pattern of Microsoft's examples)"),
            formula: active_tasks(cap),
            interval,
        },
        Formula {
            name: "Microsoft pending-tasks example".into(),
            what: format!("Microsoft's \"task-based adjustment\" example as printed (max of the last $PendingTasks sample and its 15-minute average, halving when none; cap 20 set to {cap}), taskcompletion"),
            formula: microsoft_pending(cap),
            interval,
        },
    ]
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
