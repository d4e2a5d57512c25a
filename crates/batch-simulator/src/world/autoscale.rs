//! Autoscale: when formulas are evaluated, what they read, what their results do.
//!
//! ```text
//! create pool       Sample every 30 s from then on (the metrics formulas read)
//! enableautoscale   evaluate at once, then AutoScale every evaluation interval
//! AutoScale         evaluate; no error and other targets: resize (start_resize, as a
//!                   manual resize would, with $NodeDeallocationOption)
//! evaluateautoscale evaluate a formula against the pool now, change nothing
//! disableautoscale  the scheduled evaluations are dropped; the targets stay
//! ```
//!
//! The language itself is [`crate::autoscale`]; this file only connects it to the pool.

use std::time::Duration;

use axum::http::StatusCode;

use super::agenda::{Action, Agenda};
use super::pools::{Resize, for_change, start_resize};
use crate::autoscale::samples::SAMPLE_PERIOD_SECS;
use crate::autoscale::{self, ErrorKind, Formula, FormulaError, Inputs, Metric, Sample};
use crate::clock::parse_iso_duration;
use crate::errors::ErrorReply;
use crate::model::job::TaskState;
use crate::model::node::{Dealloc, NodeState};
use crate::model::pool::{AllocFault, AllocationState, AutoScaleRun, Pool};
use crate::model::{Jobs, Pools};
use crate::wire::{ErrorWire, NameValue};

/// Evaluation interval when none is given.
pub(crate) const DEFAULT_INTERVAL: &str = "PT15M";

/// `autoScaleEvaluationInterval`: 5 minutes to 168 hours, else 400 as Batch words it.
pub(crate) fn check_interval(interval: &str) -> Result<Duration, ErrorReply> {
    let invalid = || {
        ErrorReply::invalid_property(
            "autoScaleEvaluationInterval",
            interval,
            "The specified auto scale evaluation interval is outside the valid range of 5 minutes to 168 hours.",
        )
    };
    let d = parse_iso_duration(interval).ok_or_else(invalid)?;
    if d < Duration::from_secs(300) || d > Duration::from_secs(168 * 3600) {
        return Err(invalid());
    }
    Ok(d)
}

/// A formula Batch would accept: at most 8192 characters, no syntax error.
pub(crate) fn check_formula(formula: &str) -> Result<Formula, ErrorReply> {
    if formula.chars().count() > autoscale::MAX_FORMULA_CHARS {
        return Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "AutoScaleFormulaTooLong",
            "The specified auto-scaling formula exceeds lengths limit.",
        ));
    }
    autoscale::parse(formula).map_err(|e| {
        ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "AutoScalingFormulaSyntaxError",
            "The specified auto-scaling formula has a syntax error.",
        )
        .with_value("Message", e.to_string())
    })
}

/// The first sample of a new pool, 30 s after its creation.
pub(crate) fn start_sampling(agenda: &mut Agenda, pool: &str) {
    agenda.schedule(
        time::Duration::seconds(SAMPLE_PERIOD_SECS),
        Action::Sample {
            pool: pool.to_string(),
        },
    );
}

/// Handles [`Action::Sample`]: the pool's metrics now, and the next sample; none once
/// the pool is gone.
pub(crate) fn sample(agenda: &mut Agenda, pools: &mut Pools, jobs: &Jobs, pool: &str) {
    let Some(p) = pools.get_mut(pool) else { return };
    let now = agenda.now();
    let since = p
        .metrics
        .last_at()
        .unwrap_or(now - time::Duration::seconds(SAMPLE_PERIOD_SECS));
    let mut s = Sample::new(now);
    let (mut active, mut running, mut succeeded, mut failed) = (0.0, 0.0, 0.0, 0.0);
    for j in jobs.values().filter(|j| j.pool_id == pool) {
        for t in &j.tasks {
            match t.state {
                TaskState::Active => active += 1.0,
                TaskState::Running => running += 1.0,
                TaskState::Completed => {
                    if t.end_time.is_some_and(|e| e > since && e <= now) {
                        if t.failed() {
                            failed += 1.0;
                        } else {
                            succeeded += 1.0;
                        }
                    }
                }
            }
        }
    }
    let nodes = p.nodes.len() as f64;
    let usable = p
        .nodes
        .iter()
        .filter(|n| matches!(n.state, NodeState::Idle | NodeState::Running) && !n.is_leaving())
        .count() as f64;
    let busy = p
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Running)
        .count() as f64;
    s.set(Metric::ActiveTasks, active);
    s.set(Metric::RunningTasks, running);
    s.set(Metric::PendingTasks, active + running);
    s.set(Metric::SucceededTasks, succeeded);
    s.set(Metric::FailedTasks, failed);
    s.set(Metric::SampleNodeCount, nodes);
    s.set(Metric::UsableNodeCount, usable);
    s.set(
        Metric::CpuPercent,
        if nodes > 0.0 {
            100.0 * busy / nodes
        } else {
            0.0
        },
    );
    s.set(Metric::WallClockSeconds, nodes * SAMPLE_PERIOD_SECS as f64);
    p.metrics.record(s);
    agenda.schedule(
        time::Duration::seconds(SAMPLE_PERIOD_SECS),
        Action::Sample {
            pool: pool.to_string(),
        },
    );
}

/// Run `formula` against the pool as it is now.
fn run(agenda: &Agenda, p: &Pool, formula: &Formula) -> (autoscale::Evaluation, AutoScaleRun) {
    let now = agenda.now();
    let inputs = Inputs {
        now,
        current_dedicated: p.current(true),
        current_low_priority: p.current(false),
        target_dedicated: p.target_dedicated,
        target_low_priority: p.target_low_priority,
        task_slots_per_node: p.task_slots_per_node,
        history: &p.metrics,
        seed: agenda.seed() ^ (now.unix_timestamp() as u64),
    };
    let e = autoscale::evaluate(formula, &inputs);
    let record = AutoScaleRun {
        timestamp: now,
        results: e.results.clone(),
        error: e.error.as_ref().map(run_error),
    };
    (e, record)
}

/// `autoScaleRun.error` as recorded: a fixed code and message, the detail in `values`.
fn run_error(e: &FormulaError) -> ErrorWire {
    let (code, message) = match e.kind {
        ErrorKind::Syntax => (
            "AutoScalingFormulaSyntaxError",
            "The specified auto-scaling formula has a syntax error",
        ),
        ErrorKind::Evaluation => (
            "AutoScalingFormulaEvaluationError",
            "The specified auto-scaling formula has evaluation error",
        ),
    };
    ErrorWire {
        code: code.into(),
        message: message.into(),
        values: vec![NameValue {
            name: "Message".into(),
            value: e.to_string(),
        }],
    }
}

/// Evaluate the pool's own formula now, record the run, and resize when the targets
/// changed. An armed allocation fault is consumed by the resize it causes.
pub(crate) fn evaluate_now(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: &str,
    fault: impl FnOnce() -> Option<AllocFault>,
) {
    let Some(p) = pools.get_mut(pool) else { return };
    let Some(formula) = p.auto_scale_formula.as_deref().map(autoscale::parse) else {
        return;
    };
    let (e, record) = match formula {
        Ok(f) => run(agenda, p, &f),
        Err(err) => (
            autoscale::Evaluation {
                target_dedicated: p.target_dedicated,
                target_low_priority: p.target_low_priority,
                node_deallocation_option: "requeue".into(),
                results: String::new(),
                error: Some(err.clone()),
            },
            AutoScaleRun {
                timestamp: agenda.now(),
                results: String::new(),
                error: Some(run_error(&err)),
            },
        ),
    };
    p.auto_scale_run = Some(record);
    if e.error.is_some()
        || p.deleting
        || p.allocation_state == AllocationState::Stopping
        || (e.target_dedicated, e.target_low_priority)
            == (p.target_dedicated, p.target_low_priority)
    {
        return;
    }
    let to = Resize {
        dedicated: e.target_dedicated,
        low_priority: e.target_low_priority,
        timeout: (p.resize_timeout.clone(), p.resize_timeout_dur),
        dealloc: Dealloc::parse(&e.node_deallocation_option).unwrap_or(Dealloc::Requeue),
        touch: false,
    };
    start_resize(agenda, pools, jobs, pool, to, fault());
}

/// The next evaluation, one interval from now.
fn schedule_next(agenda: &mut Agenda, p: &Pool) {
    let interval = p
        .auto_scale_interval
        .as_deref()
        .and_then(parse_iso_duration)
        .unwrap_or(Duration::from_secs(900));
    agenda.schedule(
        time::Duration::seconds_f64(interval.as_secs_f64()),
        Action::AutoScale {
            pool: p.id.clone(),
            epoch: p.auto_scale_epoch,
        },
    );
}

/// Handles [`Action::AutoScale`]: evaluate, then schedule the next evaluation.
pub(crate) fn evaluate_due(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: &str,
    epoch: u64,
    fault: impl FnOnce() -> Option<AllocFault>,
) {
    match pools.get(pool) {
        Some(p) if p.enable_auto_scale && p.auto_scale_epoch == epoch && !p.deleting => {}
        _ => return,
    }
    evaluate_and_repeat(agenda, pools, jobs, pool, fault);
}

/// Start evaluating a pool's formula: now, then every interval (a new interval
/// restarts the schedule from now, as documented).
pub(crate) fn start(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: &str,
    fault: impl FnOnce() -> Option<AllocFault>,
) {
    if let Some(p) = pools.get_mut(pool) {
        p.auto_scale_epoch += 1;
    }
    evaluate_and_repeat(agenda, pools, jobs, pool, fault);
}

/// Evaluate now, and again an interval from now.
fn evaluate_and_repeat(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    pool: &str,
    fault: impl FnOnce() -> Option<AllocFault>,
) {
    evaluate_now(agenda, pools, jobs, pool, fault);
    if let Some(p) = pools.get(pool) {
        schedule_next(agenda, p);
    }
}

/// `POST /pools/{id}/enableautoscale`: a steady pool only; the formula may be left out
/// when one is set already, the interval defaults to 15 minutes.
pub(crate) fn enable(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    id: &str,
    formula: Option<String>,
    interval: Option<String>,
    fault: impl FnOnce() -> Option<AllocFault>,
) -> Result<(), ErrorReply> {
    if let Some(f) = &formula {
        check_formula(f)?;
    }
    if let Some(i) = &interval {
        check_interval(i)?;
    }
    let now = agenda.now();
    let p = for_change(pools, id)?;
    if p.allocation_state != AllocationState::Steady {
        return Err(ErrorReply::pool_being_resized());
    }
    if formula.is_none() && !p.enable_auto_scale {
        return Err(ErrorReply::missing_property("autoScaleFormula"));
    }
    p.enable_auto_scale = true;
    if let Some(f) = formula {
        p.auto_scale_formula = Some(f);
    }
    if let Some(i) = interval {
        p.auto_scale_interval = Some(i);
    } else if p.auto_scale_interval.is_none() {
        p.auto_scale_interval = Some(DEFAULT_INTERVAL.into());
    }
    p.last_modified = now;
    start(agenda, pools, jobs, id, fault);
    Ok(())
}

/// `POST /pools/{id}/disableautoscale`: evaluations stop, the targets stay as they are.
pub(crate) fn disable(agenda: &Agenda, pools: &mut Pools, id: &str) -> Result<(), ErrorReply> {
    let now = agenda.now();
    let p = for_change(pools, id)?;
    p.enable_auto_scale = false;
    p.auto_scale_formula = None;
    p.auto_scale_interval = None;
    p.auto_scale_run = None;
    p.auto_scale_epoch += 1;
    p.last_modified = now;
    Ok(())
}

/// `POST /pools/{id}/evaluateautoscale`: the run a formula would make now, nothing
/// changed. Only for a pool with autoscale enabled, as the REST reference says.
pub(crate) fn dry_run(
    agenda: &Agenda,
    pools: &Pools,
    id: &str,
    formula: &str,
) -> Result<AutoScaleRun, ErrorReply> {
    let f = check_formula(formula)?;
    let p = pools.get(id).ok_or_else(ErrorReply::pool_not_found)?;
    if !p.enable_auto_scale {
        return Err(ErrorReply::new(
            StatusCode::CONFLICT,
            "AutoScalingNotEnabled",
            "The pool must have auto scaling enabled in order to evaluate a formula.",
        ));
    }
    Ok(run(agenda, p, &f).1)
}

#[cfg(test)]
mod tests {
    use crate::model::job::TaskState;
    use crate::model::node::{Dealloc, NodeState};
    use crate::model::pool::AllocationState;
    use crate::world::testing::*;

    const PENDING: &str = "$LastSampledPendingTasks = $PendingTasks.GetSample(1);
$needcompute = min($LastSampledPendingTasks,1);
$TargetDedicated = $needcompute ? 1 : 0;
$NodeDeallocationOption = taskcompletion;";

    fn minutes(m: f64) -> time::Duration {
        secs(m * 60.0)
    }

    #[test]
    fn enabling_evaluates_at_once_and_resizes_like_a_manual_resize() {
        let mut w = world_with_pool("p");
        w.enable_autoscale("p", Some("$TargetDedicatedNodes = 2".into()), None)
            .unwrap();
        let p = &w.pools["p"];
        assert_eq!(p.target_dedicated, 2);
        assert_eq!(p.allocation_state, AllocationState::Resizing);
        let run = p.auto_scale_run.clone().unwrap();
        assert_eq!(run.timestamp, w.now());
        assert_eq!(
            run.results,
            "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
        );
        w.advance_to(w.now() + secs(BOOT));
        assert_eq!(node_states(&w, "p"), vec![NodeState::Idle; 2]);
    }

    #[test]
    fn the_seed_pending_formula_follows_a_task_with_the_sample_lag() {
        let mut w = world_with_pool("p");
        w.create_job("j", "p", 0).unwrap();
        w.advance_to(w.now() + minutes(2.0));
        w.enable_autoscale("p", Some(PENDING.into()), Some("PT5M".into()))
            .unwrap();
        let enabled = w.now();
        assert_eq!(w.pools["p"].target_dedicated, 0);
        // A task arrives 4.5 minutes in: the evaluation at 5 minutes has not seen it yet.
        w.advance_to(enabled + minutes(4.5));
        w.add_task("j", "t", "sleep 600", 1).unwrap();
        w.advance_to(enabled + minutes(5.0));
        assert_eq!(w.pools["p"].target_dedicated, 0);
        // The one at 10 minutes has.
        w.advance_to(enabled + minutes(10.0));
        assert_eq!(w.pools["p"].target_dedicated, 1);
        w.advance_to(enabled + minutes(10.0) + secs(BOOT));
        assert_eq!(task_state(&w, "j", "t"), TaskState::Running);
        // The task runs 10 minutes (to about 23.5 minutes in): the evaluation at 20
        // keeps the node, the one at 25 sees a sample taken after the task ended.
        w.advance_to(enabled + minutes(20.0));
        assert_eq!(w.pools["p"].target_dedicated, 1);
        w.advance_to(enabled + minutes(24.0));
        assert_eq!(task_state(&w, "j", "t"), TaskState::Completed);
        w.advance_to(enabled + minutes(25.0) + secs(FIXED.leaving.0));
        assert_eq!(w.pools["p"].target_dedicated, 0);
        assert!(w.pools["p"].nodes.is_empty());
        assert_eq!(w.pools["p"].dealloc, Dealloc::TaskCompletion);
    }

    #[test]
    fn an_evaluation_error_is_recorded_and_changes_nothing() {
        let mut w = world_with_pool("p");
        w.enable_autoscale("p", Some("$TargetDedicatedNodes = 1".into()), None)
            .unwrap();
        w.advance_to(w.now() + secs(BOOT));
        w.disable_autoscale("p").unwrap();
        w.enable_autoscale("p", Some("$something_useless".into()), None)
            .unwrap();
        let p = &w.pools["p"];
        assert_eq!(p.target_dedicated, 1);
        let err = p.auto_scale_run.clone().unwrap().error.unwrap();
        assert_eq!(err.code, "AutoScalingFormulaEvaluationError");
        assert_eq!(
            err.values[0].value,
            "Line 1, Col 1: Undefined symbol: $something_useless"
        );
    }

    #[test]
    fn disabling_stops_the_evaluations_and_keeps_the_targets() {
        let mut w = world_with_pool("p");
        w.enable_autoscale(
            "p",
            Some("$TargetDedicatedNodes = time().minute >= 10 ? 1 : 0".into()),
            Some("PT5M".into()),
        )
        .unwrap();
        w.disable_autoscale("p").unwrap();
        w.advance_to(w.now() + minutes(30.0));
        assert_eq!(w.pools["p"].target_dedicated, 0);
        assert!(w.pools["p"].auto_scale_run.is_none());
    }

    #[test]
    fn a_dry_run_changes_nothing_and_needs_autoscale() {
        let mut w = world_with_pool("p");
        let e = w
            .evaluate_autoscale("p", "$TargetDedicatedNodes=3")
            .unwrap_err();
        assert_eq!(e.code, "AutoScalingNotEnabled");
        w.enable_autoscale("p", Some("$TargetDedicatedNodes = 0".into()), None)
            .unwrap();
        let run = w
            .evaluate_autoscale("p", "$TargetDedicatedNodes=3")
            .unwrap();
        assert!(run.results.starts_with("$TargetDedicatedNodes=3;"));
        assert_eq!(w.pools["p"].target_dedicated, 0);
        let e = w
            .evaluate_autoscale("p", "$TargetDedicatedNodes=")
            .unwrap_err();
        assert_eq!(
            (e.code, e.values[0].1.as_str()),
            (
                "AutoScalingFormulaSyntaxError",
                "Line 1, Col 23: Unexpected end of formula; expected a value"
            )
        );
    }

    #[test]
    fn intervals_outside_5_minutes_to_168_hours_are_refused() {
        assert!(super::check_interval("PT4M59S").is_err());
        assert!(super::check_interval("PT5M").is_ok());
        assert!(super::check_interval("P7D").is_ok());
        assert!(super::check_interval("P7DT1S").is_err());
        assert!(super::check_interval("5 minutes").is_err());
    }

    #[test]
    fn samples_count_tasks_and_nodes_every_30_seconds() {
        let mut w = world_with_job(1);
        w.add_task("j", "a", "sleep 100", 1).unwrap();
        w.add_task("j", "b", "sleep 100", 1).unwrap();
        w.advance_to(w.now() + secs(31.0));
        let h = &w.pools["p"].metrics;
        let last = h.visible(w.now() + secs(60.0)).last().unwrap();
        use crate::autoscale::Metric::*;
        assert_eq!(
            [
                ActiveTasks,
                RunningTasks,
                PendingTasks,
                UsableNodeCount,
                CpuPercent
            ]
            .map(|m| last.get(m)),
            [1.0, 1.0, 2.0, 1.0, 100.0]
        );
    }
}
