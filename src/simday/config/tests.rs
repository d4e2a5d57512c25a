use super::*;

#[test]
fn the_default_day_is_twelve_runs_in_working_hours_drawn_from_the_seed() {
    let plan = DayConfig::default().plan().unwrap();
    assert_eq!(plan.runs.len(), 12);
    assert_eq!(plan.start.weekday(), time::Weekday::Monday);
    assert_eq!(plan.measured_start, plan.start);
    for r in &plan.runs {
        assert!((8..18).contains(&r.arrival.hour()), "{r:?}");
        assert!((480..=720).contains(&r.task_seconds), "{r:?}");
        assert_eq!((r.nodes, r.day, r.measured), (1, 0, true));
        assert!((3.0..=10.0).contains(&r.overheads.submission), "{r:?}");
    }
    assert_eq!(plan.runs, DayConfig::default().plan().unwrap().runs);
    let other = DayConfig {
        seed: 8,
        ..DayConfig::default()
    };
    assert_ne!(plan.runs, other.plan().unwrap().runs);
}

#[test]
fn the_boot_times_are_the_simulators_own() {
    let c = DayConfig::default();
    let t = batch_simulator::Timing::default();
    assert_eq!(
        (
            c.allocate_seconds,
            c.creating_seconds,
            c.starting_seconds,
            c.leaving_seconds
        ),
        (
            [t.allocate.0, t.allocate.1],
            [t.creating.0, t.creating.1],
            [t.starting.0, t.starting.1],
            [t.leaving.0, t.leaving.1]
        )
    );
}

#[test]
fn days_in_a_row_measure_only_the_last_ones() {
    let c = DayConfig {
        learning_days: 2,
        measured_days: 2,
        ..DayConfig::default()
    };
    let plan = c.plan().unwrap();
    assert_eq!(plan.runs.len(), 48);
    assert_eq!(plan.measured_runs().len(), 24);
    assert_eq!((plan.measured_start - plan.start).whole_days(), 2);
    assert_eq!((plan.end - plan.start).whole_days(), 4);
    assert_eq!(plan.measured_minutes(), 2.0 * 1440.0);
    assert_eq!(plan.runs[0].id, "d1-run-01");
    assert!(plan.runs.iter().all(|r| r.measured == (r.day >= 2)));
    // Random days differ from one day to the next.
    let times = |d: u32| -> Vec<time::Time> {
        plan.runs
            .iter()
            .filter(|r| r.day == d)
            .map(|r| r.arrival.time())
            .collect()
    };
    assert_ne!(times(0), times(1));
    // Day 0 draws what a single day with the same seed draws.
    let single = DayConfig::default().plan().unwrap();
    let first: Vec<(time::Time, u32)> = plan
        .runs
        .iter()
        .filter(|r| r.day == 0)
        .map(|r| (r.arrival.time(), r.task_seconds))
        .collect();
    let alone: Vec<(time::Time, u32)> = single
        .runs
        .iter()
        .map(|r| (r.arrival.time(), r.task_seconds))
        .collect();
    assert_eq!(first, alone);
}

#[test]
fn recurring_days_keep_their_times_give_or_take_the_jitter() {
    let c = DayConfig {
        measured_days: 3,
        recurring: true,
        trigger_delay_seconds: [0.0, 60.0],
        upstream_jitter_seconds: 180.0,
        ..DayConfig::default()
    };
    let plan = c.plan().unwrap();
    let day = |d: u32| -> Vec<f64> {
        plan.runs
            .iter()
            .filter(|r| r.day == d)
            .map(|r| {
                let t = r.arrival.time();
                f64::from(t.hour()) * 3600.0 + f64::from(t.minute()) * 60.0 + f64::from(t.second())
            })
            .collect()
    };
    let (a, b) = (day(0), day(2));
    assert_eq!(a.len(), 12);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 2.0 * 180.0 + 60.0, "{x} {y}");
    }
    assert_ne!(a, b, "jitter moves them");
}

#[test]
fn bursts_clump_and_pipelines_ask_for_several_nodes() {
    let c = DayConfig {
        runs: 12,
        bursts: 3,
        burst_minutes: 10.0,
        nodes_per_run: [2, 4],
        ..DayConfig::default()
    };
    let plan = c.plan().unwrap();
    // Sorted arrivals fall in at most three clumps of ten minutes.
    let mut clumps = 1;
    for w in plan.runs.windows(2) {
        if (w[1].arrival - w[0].arrival).whole_minutes() > 10 {
            clumps += 1;
        }
    }
    assert!(clumps <= 3, "{clumps}");
    assert!(plan.runs.iter().all(|r| (2..=4).contains(&r.nodes)));
    let r = &plan.runs[0];
    assert_eq!(r.task_ids().len() as u32, r.nodes);
    assert!(r.task_ids()[0].ends_with("-t1"));
}

#[test]
fn explicit_arrivals_and_bad_values() {
    let c: DayConfig =
        serde_json::from_str(r#"{"arrivals": ["10:30", "09:15:20"], "taskMinutes": [5, 5]}"#)
            .unwrap();
    let plan = c.plan().unwrap();
    let times: Vec<String> = plan
        .runs
        .iter()
        .map(|r| r.arrival.time().to_string())
        .collect();
    assert_eq!(times, vec!["9:15:20.0", "10:30:00.0"]);
    assert_eq!(plan.runs[0].task_seconds, 300);
    assert!(serde_json::from_str::<DayConfig>(r#"{"runz": 3}"#).is_err());
    let late = DayConfig {
        start: "08:00".into(),
        length_minutes: 60,
        arrivals: vec!["09:30".into()],
        ..DayConfig::default()
    };
    assert!(late.plan().is_err());
    let too_many = DayConfig {
        nodes_per_run: [2, 12],
        ..DayConfig::default()
    };
    assert!(too_many.plan().is_err());
}
