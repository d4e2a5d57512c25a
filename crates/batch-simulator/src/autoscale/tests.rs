//! The formulas users run: the seed article's two, the Batch documentation's examples,
//! and the two recorded `evaluateautoscale` answers.

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

/// Monday 2 February 2026.
const MONDAY: OffsetDateTime = datetime!(2026-02-02 00:00 UTC);

fn at(h: u8, m: u8) -> OffsetDateTime {
    MONDAY + time::Duration::hours(h.into()) + time::Duration::minutes(m.into())
}

/// A history of one metric's values, one sample every 30 s, the last taken just over a
/// minute before `now` (so all are visible).
fn history(now: OffsetDateTime, metric: Metric, values: &[f64]) -> History {
    let mut h = History::default();
    let n = values.len() as i64;
    for (i, v) in values.iter().enumerate() {
        let mut s = Sample::new(now - time::Duration::seconds(60 + 30 * (n - 1 - i as i64)));
        s.set(metric, *v);
        h.record(s);
    }
    h
}

fn inputs(now: OffsetDateTime, h: &History) -> Inputs<'_> {
    Inputs {
        now,
        current_dedicated: 0,
        current_low_priority: 0,
        target_dedicated: 0,
        target_low_priority: 0,
        task_slots_per_node: 1,
        history: h,
        seed: 1,
    }
}

fn run(src: &str, inputs: &Inputs<'_>) -> Evaluation {
    evaluate(&parse(src).expect("parses"), inputs)
}

/// The seed article's formula "Option 2: Autoscaling based on the number of pending tasks".
pub(super) const SEED_PENDING: &str = "$LastSampledPendingTasks = $PendingTasks.GetSample(1);
$needcompute = min($LastSampledPendingTasks,1);
$TargetDedicated = $needcompute ? 1 : 0;
$NodeDeallocationOption = taskcompletion;";

/// The seed article's "Option 1: Autoscaling with a fixed schedule", as printed: it
/// computes the window but never assigns a target.
pub(super) const SEED_SCHEDULE: &str = "$Now=time();
$WorkHours=$Now.hour>=6 && $Now.hour<7;
$IsWeekday=$Now.weekday>=1 && $Now.weekday<=5;
$IsWorkingWeekdayHour=$WorkHours && $IsWeekday;
$NodeDeallocationOption = taskcompletion;";

#[test]
fn seed_pending_formula_wants_a_node_while_a_task_is_pending() {
    let now = at(10, 5);
    let h = history(now, Metric::PendingTasks, &[0.0, 0.0, 2.0]);
    let e = run(SEED_PENDING, &inputs(now, &h));
    assert_eq!(e.error, None);
    assert_eq!((e.target_dedicated, e.target_low_priority), (1, 0));
    assert_eq!(e.node_deallocation_option, "taskcompletion");
    assert_eq!(
        e.results,
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;$LastSampledPendingTasks=[2];$needcompute=1"
    );
    let idle = history(now, Metric::PendingTasks, &[2.0, 0.0]);
    let mut i = inputs(now, &idle);
    i.target_dedicated = 1;
    assert_eq!(run(SEED_PENDING, &i).target_dedicated, 0);
}

#[test]
fn seed_pending_formula_sees_only_samples_a_minute_old() {
    // The task arrived 40 s ago: its sample exists but is not visible yet.
    let now = at(10, 5);
    let mut h = history(now, Metric::PendingTasks, &[0.0, 0.0]);
    let mut fresh = Sample::new(now - time::Duration::seconds(30));
    fresh.set(Metric::PendingTasks, 1.0);
    h.record(fresh);
    assert_eq!(run(SEED_PENDING, &inputs(now, &h)).target_dedicated, 0);
}

#[test]
fn seed_pending_formula_fails_without_any_sample() {
    let h = History::default();
    let e = run(SEED_PENDING, &inputs(at(0, 0), &h));
    let err = e.error.expect("no samples");
    assert_eq!((err.pos.line, err.pos.col), (1, 28));
    assert!(err.message.contains("no samples"), "{err}");
}

#[test]
fn seed_schedule_formula_as_printed_leaves_the_targets_alone() {
    let h = History::default();
    let mut i = inputs(at(6, 30), &h);
    i.target_dedicated = 2;
    let e = run(SEED_SCHEDULE, &i);
    assert_eq!(e.error, None);
    assert_eq!(e.target_dedicated, 2);
    assert!(
        e.results.starts_with(
            "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;$IsWeekday=1;$IsWorkingWeekdayHour=1;$Now=2026-02-02T06:30:00.000Z;$WorkHours=1"
        ),
        "{}",
        e.results
    );
}

#[test]
fn seed_schedule_formula_with_its_target_holds_one_node_mon_to_fri_6_to_7() {
    let f = format!("{SEED_SCHEDULE}\n$TargetDedicatedNodes = $IsWorkingWeekdayHour ? 1 : 0;");
    let h = History::default();
    let target = |t: OffsetDateTime| run(&f, &inputs(t, &h)).target_dedicated;
    assert_eq!(target(at(5, 59)), 0);
    assert_eq!(target(at(6, 0)), 1);
    assert_eq!(target(at(6, 59)), 1);
    assert_eq!(target(at(7, 0)), 0);
    // Friday yes, Saturday and Sunday no.
    assert_eq!(target(at(6, 30) + time::Duration::days(4)), 1);
    assert_eq!(target(at(6, 30) + time::Duration::days(5)), 0);
    assert_eq!(target(at(6, 30) + time::Duration::days(6)), 0);
}

#[test]
fn docs_time_based_example() {
    let f = "$curTime = time();
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
$NodeDeallocationOption = taskcompletion;";
    let h = History::default();
    assert_eq!(run(f, &inputs(at(9, 0), &h)).target_dedicated, 20);
    assert_eq!(run(f, &inputs(at(19, 0), &h)).target_dedicated, 10);
}

#[test]
fn docs_pending_tasks_example() {
    let f = "// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at 20, if target VM value is more than that, set it
// to 20. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;";
    let now = at(12, 0);
    // 30 samples over the last 15 minutes, 28 of them visible: 93%.
    let mut values = vec![4.0; 28];
    values[27] = 2.0;
    let h = history(now, Metric::PendingTasks, &values);
    let e = run(f, &inputs(now, &h));
    assert_eq!(e.error, None, "{}", e.results);
    assert!(e.results.contains("$samples=93.33"), "{}", e.results);
    // max(last = 2, avg ~ 3.93) = 3.93 -> 3 nodes.
    assert_eq!(e.target_dedicated, 3);
    // Few samples: the last one only; none pending: half the current target.
    let short = history(now, Metric::PendingTasks, &[0.0, 0.0]);
    let mut i = inputs(now, &short);
    i.target_dedicated = 8;
    assert_eq!(run(f, &i).target_dedicated, 4);
    let over = history(now, Metric::PendingTasks, &[50.0]);
    assert_eq!(run(f, &inputs(now, &over)).target_dedicated, 20);
}

/// The pattern of Microsoft's examples on the last sample alone: a node per task
/// waiting for one, capped, shrinking only as tasks complete.
#[test]
fn active_tasks_with_taskcompletion() {
    let f = "$tasks = max(0, $ActiveTasks.GetSample(1));
$TargetDedicatedNodes = min(10, $tasks);
$NodeDeallocationOption = taskcompletion;";
    let now = at(12, 0);
    let target = |values: &[f64]| {
        let h = history(now, Metric::ActiveTasks, values);
        let e = run(f, &inputs(now, &h));
        assert_eq!(e.error, None, "{}", e.results);
        assert_eq!(e.node_deallocation_option, "taskcompletion");
        e.target_dedicated
    };
    // Only the newest visible sample counts; running tasks are not active ones.
    assert_eq!(target(&[5.0, 0.0, 3.0]), 3);
    assert_eq!(target(&[3.0, 0.0]), 0);
    assert_eq!(target(&[14.0]), 10);
}

#[test]
fn docs_preempted_nodes_example() {
    let f = "maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;";
    let now = at(12, 0);
    let h = history(now, Metric::PreemptedNodeCount, &[0.0, 3.0, 1.0, 0.0, 0.0]);
    let e = run(f, &inputs(now, &h));
    assert_eq!(e.error, None, "{}", e.results);
    assert_eq!((e.target_dedicated, e.target_low_priority), (0, 25));
    assert!(e.results.ends_with(";maxNumberofVMs=25"), "{}", e.results);
}

#[test]
fn docs_task_slots_example() {
    let f = "// Determine whether 70 percent of the samples have been recorded in the past
// 15 minutes; if not, use last sample
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
// Set the number of nodes to add to one-fourth the number of active tasks
// (the TaskSlotsPerNode property on this pool is set to 4, adjust
// this number for your use case)
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
// Attempt to grow the number of compute nodes to match the number of active
// tasks, with a maximum of 3
$TargetDedicatedNodes = max(0,min($targetVMs,3));
// Keep the nodes active until the tasks finish
$NodeDeallocationOption = taskcompletion;";
    let now = at(12, 0);
    let h = history(now, Metric::ActiveTasks, &[9.0]);
    let mut i = inputs(now, &h);
    i.target_dedicated = 1;
    // (9 - 4 + 3) / 4 = 2 extra: 3 nodes.
    assert_eq!(run(f, &i).target_dedicated, 3);
}

#[test]
fn docs_cpu_example_with_its_sample_ranges() {
    let f = "$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes);";
    let now = at(12, 0);
    let h = history(now, Metric::CpuPercent, &[0.9; 100]);
    let mut i = inputs(now, &h);
    i.current_dedicated = 10;
    let e = run(f, &i);
    assert_eq!(e.error, None, "{}", e.results);
    assert_eq!(e.target_dedicated, 11);
}

#[test]
fn get_sample_ranges_and_required_percentages() {
    let now = at(12, 0);
    let values: Vec<f64> = (0..20).map(f64::from).collect();
    let h = history(now, Metric::RunningTasks, &values);
    let i = inputs(now, &h);
    // Between 6 and 1 minutes ago: the samples of 60..=360 s, i.e. 11 of them.
    let e = run(
        "$s = $RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute); $n = len($s); $last = val($s, 0)",
        &i,
    );
    assert!(e.results.contains("$last=19;$n=11"), "{}", e.results);
    // A 2-hour window holds 20 of 240 samples: 8%, short of 50%.
    let e = run(
        "$s = $RunningTasks.GetSample(TimeInterval_Hour * 2, TimeInterval_Zero, 50)",
        &i,
    );
    assert!(e.error.unwrap().message.contains("8% of the samples"));
    let e = run(
        "$c = $RunningTasks.Count(); $p = $RunningTasks.GetSamplePeriod(); $b = $RunningTasks.HistoryBeginTime()",
        &i,
    );
    assert!(
        e.results
            .ends_with("$b=2026-02-02T11:49:30.000Z;$c=20;$p=00:00:30"),
        "{}",
        e.results
    );
}

#[test]
fn functions_and_operators() {
    let h = History::default();
    let i = inputs(at(12, 0), &h);
    let v = |src: &str| {
        let e = run(&format!("$v = {src}"), &i);
        assert_eq!(e.error, None, "{src}: {}", e.results);
        e.results.rsplit_once("$v=").unwrap().1.to_string()
    };
    assert_eq!(v("sum(1, 2, 3) + len(1, 2) * 10"), "26");
    assert_eq!(v("avg(1, 2) - range(4, 10, 7)"), "-4.5");
    assert_eq!(v("std(2, 4, 4, 4, 5, 5, 7, 9)"), "2.138089935299395");
    assert_eq!(v("percentile(1, 50)"), "1");
    assert_eq!(v("percentile(max(1, 2) + 0, 50)"), "2");
    assert_eq!(v("norm(3, 4)"), "5");
    assert_eq!(v("round(2.5) + ceil(0.1) + floor(-0.1)"), "3");
    assert_eq!(v("lg(8) + ln(1) + log(1000)"), "6");
    assert_eq!(v("1 / 4 + 3 * -2"), "-5.75");
    assert_eq!(v("!(1 < 2) || 2 >= 2 && 3 != 3"), "0");
    assert_eq!(
        v("(time() - time(\"2026-02-02T11:00:00Z\")) / TimeInterval_Minute"),
        "60"
    );
    assert_eq!(v("time() + TimeInterval_Day * 2 > time()"), "1");
    assert_eq!(v("TimeInterval_Hour * 1.5"), "01:30:00");
    assert_eq!(v("(time() + TimeInterval_Day).weekday"), "2");
    let r = v("rand()").parse::<f64>().unwrap();
    assert!((0.0..1.0).contains(&r));
    let e = run("$a = 1; stop(); $TargetDedicatedNodes = 5", &i);
    assert_eq!((e.error, e.target_dedicated), (None, 0));
}

#[test]
fn recorded_evaluate_ok_results() {
    // autoscale-evaluate-ok.json: {"autoScaleFormula":"$TargetDedicatedNodes=3"}
    let h = History::default();
    let e = run("$TargetDedicatedNodes=3", &inputs(at(20, 30), &h));
    assert_eq!(
        e.results,
        "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    );
    assert_eq!(e.error, None);
}

#[test]
fn recorded_evaluate_formula_error() {
    // autoscale-evaluate-formula-error.json: the pool's target was 2.
    let h = History::default();
    let mut i = inputs(at(0, 1), &h);
    i.target_dedicated = 2;
    let e = run("$something_useless", &i);
    assert_eq!(
        e.results,
        "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    );
    assert_eq!(
        e.error.unwrap().to_string(),
        "Line 1, Col 1: Undefined symbol: $something_useless"
    );
}

#[test]
fn evaluation_errors_keep_the_targets_and_say_where() {
    let h = History::default();
    let mut i = inputs(at(12, 0), &h);
    i.target_dedicated = 4;
    let cases = [
        (
            "$TargetDedicatedNodes = 1;\n$x = $PendingTasks + 1",
            "Line 2, Col 20: $PendingTasks cannot be used directly: use $PendingTasks.GetSample(...)",
        ),
        (
            "$TargetDedicatedNodes = -1",
            "Line 1, Col 1: $TargetDedicatedNodes must be a non-negative number, not -1",
        ),
        (
            "$NodeDeallocationOption = 3",
            "Line 1, Col 1: $NodeDeallocationOption must be requeue, terminate, taskcompletion or retaineddata, not 3",
        ),
        (
            "$CurrentDedicatedNodes = 3",
            "Line 1, Col 1: Cannot assign to read-only variable: $CurrentDedicatedNodes",
        ),
        (
            "$x = nosuch(1)",
            "Line 1, Col 6: Undefined function: nosuch",
        ),
        ("$x = 1 / 0", "Line 1, Col 8: Division by zero"),
        (
            "$x = time() + 1",
            "Line 1, Col 13: Invalid operands for '+': timestamp and double",
        ),
    ];
    for (src, msg) in cases {
        let e = run(src, &i);
        assert_eq!(
            e.error.map(|e| e.to_string()).as_deref(),
            Some(msg),
            "{src}"
        );
        assert_eq!(e.target_dedicated, 4, "{src}");
    }
}

#[test]
fn syntax_errors_are_errors_of_their_own_kind() {
    let e = parse("$TargetDedicatedNodes = ").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(
        e.to_string(),
        "Line 1, Col 25: Unexpected end of formula; expected a value"
    );
}
