//! `simulate-day` on a short day: the numbers are sane, and one seed gives one day.

use pool_resizer::simday::chart;
use pool_resizer::simday::config::DayConfig;
use pool_resizer::simday::metrics::Metrics;
use pool_resizer::simday::report::DayReport;
use pool_resizer::simday::simulate;

/// An hour of a Monday morning, three pipelines (two overlapping), every strategy.
fn short_day(seed: u64) -> DayConfig {
    DayConfig {
        start: "08:00".into(),
        length_minutes: 60,
        arrivals: vec!["08:05".into(), "08:07:30".into(), "08:30".into()],
        task_minutes: [3.0, 4.0],
        seed,
        ..DayConfig::default()
    }
}

fn metrics<'a>(report: &'a DayReport, name: &str) -> &'a Metrics {
    &report
        .strategies
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .metrics
}

#[test]
fn a_short_day_is_sane_and_the_same_for_the_same_seed() {
    let report = simulate(&short_day(3)).expect("replays");
    let again = simulate(&short_day(3)).expect("replays");
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        serde_json::to_value(&again).unwrap(),
        "one seed, one day"
    );
    assert_eq!(report.strategies.len(), 6);
    let work: f64 = report
        .runs
        .iter()
        .map(|r| f64::from(r.task_seconds))
        .sum::<f64>()
        / 60.0;
    for s in &report.strategies {
        let m = &s.metrics;
        let parts = m.boot_node_minutes + m.busy_node_minutes + m.idle_node_minutes;
        assert!((m.billed_node_minutes - parts).abs() < 1e-6, "{}", s.name);
        // The formulas and the floor hold one node; pool-resizer's leases add
        // up, so the two overlapping runs (08:05, 08:07:30) get one each.
        let most = if s.name.starts_with("pool-resizer") {
            2.0
        } else {
            1.0
        };
        assert!(
            m.billed_node_minutes <= most * 60.0 + 1e-6,
            "{}: {most} node(s) at most",
            s.name
        );
        assert_eq!(m.tasks_killed_or_requeued, 0, "{}", s.name);
        assert_eq!(m.tasks_run + m.tasks_not_run, 3, "{}", s.name);
        if m.tasks_not_run == 0 {
            assert!(
                (m.busy_node_minutes - work).abs() < 0.01,
                "{}: busy {}",
                s.name,
                m.busy_node_minutes
            );
        }
        assert_eq!(m.nodes.first().map(|p| p.0), Some(0.0));
        assert_eq!(m.nodes.last().map(|p| p.0), Some(60.0));
    }

    let resizer = metrics(&report, "pool-resizer");
    let pending = metrics(&report, "pending-tasks formula");
    let floor = metrics(&report, "1-node floor");
    // The floor's node is up before the day and all through it.
    assert_eq!(floor.billed_node_minutes, 60.0);
    assert_eq!(floor.batch_calls, 1);
    // The seed's schedule opens at 06:00, not in this hour: nothing runs, nothing is billed.
    let early = metrics(&report, "schedule formula 06-07");
    assert_eq!((early.tasks_not_run, early.billed_node_minutes), (3, 0.0));
    // pool-resizer: no task waits for more than a boot, none waits on the resizer for
    // long once its node is ready, and it pays for less idle time than the others.
    let wait = resizer.time_to_task.expect("ran");
    assert!(wait.max < 8.0 * 60.0, "{wait:?}");
    assert!(resizer.after_ready.expect("ran").max < 15.0);
    assert!(resizer.idle_node_minutes < pending.idle_node_minutes);
    assert!(resizer.idle_node_minutes * 5.0 < floor.idle_node_minutes);
    assert!(resizer.batch_calls > 10 && pending.batch_calls == 1);
    // The formula waits for an evaluation that sees the task: longer than a boot alone.
    assert!(pending.time_to_task.expect("ran").mean > wait.mean);

    // The charts: the same day draws the same bytes (the committed docs/ charts change only
    // with the day), every strategy is in the legend, the time axis reads the clock.
    for (draw, title) in [
        (
            chart::day as fn(&DayReport) -> _,
            "Billed nodes over the day",
        ),
        (chart::busy_hours, "Billed nodes"),
    ] {
        let svg = draw(&report).expect("draws");
        assert_eq!(svg, draw(&again).expect("draws"), "one day, one chart");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(title), "{title}");
        for s in &report.strategies {
            assert!(
                svg.contains(&format!("{}: ", s.name)),
                "{} in the legend",
                s.name
            );
        }
        for label in ["08:10", "08:30", "nodes", "time of day (UTC)"] {
            assert!(svg.contains(&format!("\n{label}\n</text>")), "{label}");
        }
    }
}

#[test]
fn another_seed_another_day() {
    let a = simulate(&DayConfig {
        arrivals: Vec::new(),
        runs: 2,
        window: ["08:05".into(), "08:20".into()],
        strategies: vec!["pool-resizer".into()],
        ..short_day(1)
    })
    .unwrap();
    let b = simulate(&DayConfig {
        arrivals: Vec::new(),
        runs: 2,
        window: ["08:05".into(), "08:20".into()],
        strategies: vec!["pool-resizer".into()],
        ..short_day(2)
    })
    .unwrap();
    assert_eq!(a.strategies.len(), 1);
    assert_ne!(a.runs, b.runs);
}

#[test]
fn unknown_strategies_are_named() {
    let e = simulate(&DayConfig {
        strategies: vec!["keep-warm".into()],
        ..short_day(1)
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("unknown strategy 'keep-warm'"),
        "{e}"
    );
}

/// Issue 21, leases that add up: two pipelines that start together, each
/// asking pool-resizer for one node with its own lease, each get a node of
/// their own. Both tasks run at the same time; neither waits for the
/// other's task (with the largest lease winning, the second task waited a
/// whole task length on the first one's node). On the paused clock.
#[test]
fn two_concurrent_leased_pipelines_each_get_a_free_node() {
    let report = simulate(&DayConfig {
        arrivals: vec!["08:05".into(), "08:05".into()],
        task_minutes: [10.0, 10.0],
        strategies: vec!["pool-resizer".into()],
        ..short_day(5)
    })
    .expect("replays");
    let m = metrics(&report, "pool-resizer");
    assert_eq!((m.tasks_run, m.tasks_killed_or_requeued), (2, 0));
    assert_eq!(
        m.nodes.iter().map(|(_, n)| *n).max(),
        Some(2),
        "a node per lease: {:?}",
        m.nodes
    );
    let started: Vec<f64> = m.runs.iter().filter_map(|r| r.time_to_task).collect();
    let (first, second) = (started[0].min(started[1]), started[0].max(started[1]));
    // Each started once its own node was up: within one boot of the day's
    // start, and well inside the other's ten-minute task.
    assert!(second < 8.0 * 60.0, "{started:?}");
    assert!(second - first < 3.0 * 60.0, "both run at once: {started:?}");
    assert!(m.after_ready.expect("ran").max < 5.0, "{:?}", m.after_ready);
    let busy_together = m.busy_node_minutes;
    assert!((busy_together - 20.0).abs() < 0.01, "{busy_together}");
}
