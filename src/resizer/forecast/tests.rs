use super::*;
use time::macros::datetime;

fn arrival(at: OffsetDateTime) -> Arrival {
    Arrival {
        at,
        dedicated: 1,
        low_priority: 0,
    }
}

/// A schedule trigger at 09:00 on weekdays, with a few minutes of
/// jitter, for `weeks` weeks before Monday 2026-12-07.
fn weekday_nine_oclock(weeks: i64) -> Vec<Arrival> {
    let monday = datetime!(2026-12-07 09:00 UTC);
    let mut history = Vec::new();
    for day in 1..=weeks * 7 {
        let at = monday - time::Duration::days(day);
        if matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        let jitter = (day * 37 % 5) - 2; // -2..=2 minutes
        history.push(arrival(at + time::Duration::minutes(jitter)));
    }
    history
}

#[test]
fn a_daily_trigger_is_expected_at_its_earliest_time() {
    let history = weekday_nine_oclock(2);
    let expected = expected_on(
        &history,
        datetime!(2026-12-07 00:00 UTC),
        &Params::default(),
    );
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(expected[0].at, datetime!(2026-12-07 08:58 UTC));
    assert_eq!(expected[0].dedicated, 1);
    assert_eq!((expected[0].seen_on, expected[0].of_days), (10, 10));
    // Not on Saturday: weekdays say nothing about weekends.
    assert!(
        expected_on(
            &history,
            datetime!(2026-12-12 00:00 UTC),
            &Params::default()
        )
        .is_empty()
    );
}

#[test]
fn random_arrivals_predict_nothing_and_too_little_history_neither() {
    // One arrival a day at a different hour each day.
    let history: Vec<Arrival> = (1..=10)
        .map(|d| {
            arrival(
                datetime!(2026-12-07 00:00 UTC) - time::Duration::days(d)
                    + time::Duration::hours(d * 2 % 24)
                    + time::Duration::minutes(d * 13 % 60),
            )
        })
        .collect();
    assert!(
        expected_on(
            &history,
            datetime!(2026-12-07 00:00 UTC),
            &Params::default()
        )
        .is_empty()
    );
    let two_days = &weekday_nine_oclock(1)[..2];
    assert!(
        expected_on(
            two_days,
            datetime!(2026-12-07 00:00 UTC),
            &Params::default()
        )
        .is_empty()
    );
}

#[test]
fn a_pre_warm_is_due_a_lead_before_and_lapses_a_grace_after() {
    let history = weekday_nine_oclock(2);
    let (lead, grace) = (Duration::from_secs(6 * 60), Duration::from_secs(15 * 60));
    let p = Params::default();
    assert_eq!(
        due(&history, datetime!(2026-12-07 08:51 UTC), lead, grace, &p),
        None
    );
    let warm = due(&history, datetime!(2026-12-07 08:52 UTC), lead, grace, &p).unwrap();
    assert_eq!(warm.expected.at, datetime!(2026-12-07 08:58 UTC));
    // Held a grace past the slot's latest arrival (09:02), not its earliest.
    assert_eq!(warm.expected.latest, datetime!(2026-12-07 09:02 UTC));
    assert_eq!(warm.hold_until, datetime!(2026-12-07 09:17 UTC));
    assert!(due(&history, datetime!(2026-12-07 09:16 UTC), lead, grace, &p).is_some());
    assert_eq!(
        due(&history, datetime!(2026-12-07 09:17 UTC), lead, grace, &p),
        None
    );
}

/// Weekday arrivals at these minutes past 09:00, for two weeks before
/// Monday 2026-12-07, on the days `on` allows.
fn weekdays_at(minutes: &[i64], on: impl Fn(i64) -> bool) -> Vec<Arrival> {
    let monday = datetime!(2026-12-07 09:00 UTC);
    let mut history = Vec::new();
    for day in 1..=14 {
        let date = monday - time::Duration::days(day);
        if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) || !on(day) {
            continue;
        }
        for m in minutes {
            history.push(arrival(date + time::Duration::minutes(*m)));
        }
    }
    history
}

#[test]
fn two_triggers_in_one_slot_warm_a_node_each_but_a_chance_meeting_does_not() {
    let p = Params::default();
    let monday = datetime!(2026-12-07 00:00 UTC);
    // Two schedule triggers three minutes apart, every day: two nodes.
    let pair = weekdays_at(&[0, 3], |_| true);
    let expected = expected_on(&pair, monday, &p);
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(expected[0].dedicated, 2);
    assert_eq!(expected[0].latest, datetime!(2026-12-07 09:03 UTC));
    // One trigger, and once a second run that happened to come then.
    let mut once = weekdays_at(&[0], |_| true);
    once.push(arrival(datetime!(2026-12-02 09:02 UTC)));
    let expected = expected_on(&once, monday, &p);
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(expected[0].dedicated, 1);
}

#[test]
fn the_run_of_the_slot_before_neither_props_up_nor_serves_the_next() {
    let p = Params::default();
    // Two triggers seven minutes apart (09:00 and 09:07).
    let mut history = weekdays_at(&[0, 7], |_| true);
    let expected = expected_on(&history, datetime!(2026-12-07 00:00 UTC), &p);
    let times: Vec<_> = expected.iter().map(|e| (e.at, e.latest)).collect();
    assert_eq!(
        times,
        [
            (
                datetime!(2026-12-07 09:00 UTC),
                datetime!(2026-12-07 09:00 UTC)
            ),
            (
                datetime!(2026-12-07 09:07 UTC),
                datetime!(2026-12-07 09:07 UTC)
            ),
        ],
        "each slot keeps its own arrivals"
    );
    // Today the 09:00 run came, two minutes late; the 09:07 slot is
    // still due its own pre-warm.
    history.push(arrival(datetime!(2026-12-07 09:02 UTC)));
    let (lead, grace) = (Duration::from_secs(6 * 60), Duration::from_secs(5 * 60));
    let warm = due(&history, datetime!(2026-12-07 09:03 UTC), lead, grace, &p)
        .expect("the 09:07 slot is not served by the 09:00 run");
    assert_eq!(warm.expected.at, datetime!(2026-12-07 09:07 UTC));
}

#[test]
fn an_early_morning_slot_is_seen_across_midnight() {
    // Around midnight: two minutes before on some weekdays, after on others.
    let history: Vec<Arrival> = (1..=12)
        .map(|d| {
            let midnight = datetime!(2026-12-07 00:00 UTC) - time::Duration::days(d);
            let jitter = if d % 2 == 0 { 2 } else { -2 };
            arrival(midnight + time::Duration::minutes(jitter))
        })
        .filter(|a| !matches!(a.at.weekday(), Weekday::Saturday | Weekday::Sunday))
        .collect();
    let expected = expected_on(
        &history,
        datetime!(2026-12-08 00:00 UTC),
        &Params::default(),
    );
    assert_eq!(expected.len(), 1, "one slot, not two: {expected:?}");
    assert_eq!(expected[0].at, datetime!(2026-12-08 23:58 UTC));
}

#[test]
fn a_boots_percentile_is_its_nearest_rank() {
    assert_eq!(percentile_boot(&[], 0.9), None);
    assert_eq!(percentile_boot(&[200], 0.9), Some(Duration::from_secs(200)));
    let boots: Vec<u32> = (1..=10).map(|i| i * 10).collect();
    assert_eq!(percentile_boot(&boots, 0.9), Some(Duration::from_secs(90)));
}

#[test]
fn a_backtest_counts_hits_misses_and_the_unforeseen() {
    let mut history = weekday_nine_oclock(3);
    let p = Params::default();
    let (lead, grace) = (Duration::from_secs(6 * 60), Duration::from_secs(15 * 60));
    let judged = backtest(&history, datetime!(2026-12-07 08:00 UTC), lead, grace, &p);
    assert_eq!(judged.misses, 0, "{judged:?}");
    assert!(judged.hits >= 10, "{judged:?}");
    // The first days, before there was enough history, were unforeseen.
    assert_eq!(judged.unforeseen, p.min_days, "{judged:?}");
    assert_eq!(judged.precision(), Some(1.0));
    // Last Friday the trigger was switched off: one miss, its cost.
    history.retain(|a| a.at.date() != time::macros::date!(2026 - 12 - 04));
    let judged = backtest(&history, datetime!(2026-12-07 08:00 UTC), lead, grace, &p);
    assert_eq!(judged.misses, 1, "{judged:?}");
    // From the pre-warm (a 6-min lead before 08:58) to the lapse (a
    // 15-min grace after 09:02): 25 node-minutes.
    assert!(
        (judged.missed_node_minutes - 25.0).abs() < 1e-9,
        "{judged:?}"
    );
}

#[test]
fn a_slot_predicted_and_missed_is_not_warmed_again() {
    let p = Params::default();
    let (lead, grace) = (Duration::from_secs(6 * 60), Duration::from_secs(5 * 60));
    // Three runs that happened to come at 14:00, Tuesday to Thursday.
    let mut history: Vec<Arrival> = [1, 2, 3]
        .map(|d| arrival(datetime!(2026-11-30 14:00 UTC) + time::Duration::days(d)))
        .to_vec();
    // Monday: the slot is expected, but on Friday it was expected too and
    // nobody came, so no pre-warm.
    let monday = datetime!(2026-12-07 13:55 UTC);
    assert_eq!(expected_on(&history, monday, &p).len(), 1);
    assert_eq!(due(&history, monday, lead, grace, &p), None);
    // Had Friday's pipeline come, Monday's would be warmed.
    history.push(arrival(datetime!(2026-12-04 14:01 UTC)));
    assert!(due(&history, monday, lead, grace, &p).is_some());
}
