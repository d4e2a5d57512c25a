use super::*;
use time::macros::datetime;

fn s(expr: &str) -> Schedule {
    Schedule::parse(expr).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn next_and_previous_occurrences() {
    // (expression, now, previous at or before now, next after now)
    let table = [
        // The classic window edges: Monday to Friday 06:00 / 07:00.
        (
            "0 0 6 * * 1-5",
            datetime!(2025-03-05 12:00:00 UTC), // Wednesday
            datetime!(2025-03-05 06:00:00 UTC),
            datetime!(2025-03-06 06:00:00 UTC),
        ),
        (
            "0 0 6 * * 1-5",
            datetime!(2025-03-08 12:00:00 UTC), // Saturday
            datetime!(2025-03-07 06:00:00 UTC),
            datetime!(2025-03-10 06:00:00 UTC),
        ),
        (
            "0 0 6 * * mon-fri",
            datetime!(2025-03-10 05:59:59.9 UTC), // Monday, just before
            datetime!(2025-03-07 06:00:00 UTC),
            datetime!(2025-03-10 06:00:00 UTC),
        ),
        // Exactly on an occurrence: previous is now, next is the one after.
        (
            "0 0 7 * * 1-5",
            datetime!(2025-03-10 07:00:00.4 UTC),
            datetime!(2025-03-10 07:00:00 UTC),
            datetime!(2025-03-11 07:00:00 UTC),
        ),
        (
            "*/15 * * * * *",
            datetime!(2025-01-01 00:00:14 UTC),
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2025-01-01 00:00:15 UTC),
        ),
        (
            "0 */15 * * * *",
            datetime!(2024-12-31 23:59:00 UTC),
            datetime!(2024-12-31 23:45:00 UTC),
            datetime!(2025-01-01 00:00:00 UTC),
        ),
        (
            "0 30 9 * Jan Mon",
            datetime!(2025-02-15 00:00:00 UTC),
            datetime!(2025-01-27 09:30:00 UTC),
            datetime!(2026-01-05 09:30:00 UTC),
        ),
        // Lists, ranges with steps, and the five-field form (second 0).
        (
            "5,10-20/5 0 12 * * *",
            datetime!(2025-06-01 12:00:12 UTC),
            datetime!(2025-06-01 12:00:10 UTC),
            datetime!(2025-06-01 12:00:15 UTC),
        ),
        (
            "30 8 * * *",
            datetime!(2025-06-01 08:30:00 UTC),
            datetime!(2025-06-01 08:30:00 UTC),
            datetime!(2025-06-02 08:30:00 UTC),
        ),
        // Leap day; day of month AND day of week both restricted (NCrontab ANDs).
        (
            "0 0 0 29 2 *",
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2024-02-29 00:00:00 UTC),
            datetime!(2028-02-29 00:00:00 UTC),
        ),
        (
            "0 0 0 13 * FRI",
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2024-12-13 00:00:00 UTC),
            datetime!(2025-06-13 00:00:00 UTC),
        ),
        (
            "0 0 0 31 * *",
            datetime!(2025-04-15 00:00:00 UTC),
            datetime!(2025-03-31 00:00:00 UTC),
            datetime!(2025-05-31 00:00:00 UTC),
        ),
        // Sunday is 0; a/n runs from a to the end of the field.
        (
            "0 0 22 * * 0",
            datetime!(2025-03-09 23:00:00 UTC),
            datetime!(2025-03-09 22:00:00 UTC),
            datetime!(2025-03-16 22:00:00 UTC),
        ),
        (
            "0 0 20/2 * * *",
            datetime!(2025-03-09 21:00:00 UTC),
            datetime!(2025-03-09 20:00:00 UTC),
            datetime!(2025-03-09 22:00:00 UTC),
        ),
        // UTC has no DST: the last Sunday of March is an ordinary day.
        (
            "0 30 2 * * *",
            datetime!(2025-03-30 03:00:00 UTC),
            datetime!(2025-03-30 02:30:00 UTC),
            datetime!(2025-03-31 02:30:00 UTC),
        ),
    ];
    for (expr, now, previous, next) in table {
        let schedule = s(expr);
        assert_eq!(
            schedule.previous_at_or_before(now),
            Some(previous),
            "previous of '{expr}' at {now}"
        );
        assert_eq!(
            schedule.next_after(now),
            Some(next),
            "next of '{expr}' at {now}"
        );
    }
}

#[test]
fn other_offsets_are_read_as_utc() {
    let now = datetime!(2025-03-05 08:00:00 +02:00); // 06:00 UTC
    assert_eq!(
        s("0 0 6 * * *").previous_at_or_before(now),
        Some(datetime!(2025-03-05 06:00:00 UTC))
    );
}

#[test]
fn names_are_case_insensitive_and_may_be_full() {
    assert_eq!(s("0 0 6 * * 1-5").weekdays, s("0 0 6 * * MON-fri").weekdays);
    assert_eq!(
        s("0 0 6 * * 1-5").weekdays,
        s("0 0 6 * * monday-Friday").weekdays
    );
    assert_eq!(s("0 0 6 * jan,Feb *").months, s("0 0 6 * 1-2 *").months);
    assert_eq!(s("0 0 6 * * Sunday").weekdays, 1);
    assert_eq!(s("0 0 6 * * 0").as_str(), "0 0 6 * * 0");
    assert_eq!(s("  0  0 6 * *  ").as_str(), "0 0 0 6 * *");
}

#[test]
fn bad_expressions_say_what_is_wrong() {
    for (expr, needle) in [
        ("", "empty"),
        ("0 0 6 * *  * *", "7 fields"),
        ("%SCALE_UP_SCHEDULE%", "%SETTING%"),
        ("00:15:00", "TimeSpan"),
        ("60 * * * * *", "second 60 is out of range 0-59"),
        ("0 0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 6 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 6 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 6 * * 7", "day of week 7 is out of range 0-6"),
        ("0 0 6 * * 5-1", "runs backwards"),
        ("0 */0 * * * *", "step of 0"),
        ("0 */x * * * *", "step 'x'"),
        (
            "0 0 6 * * MO",
            "day of week 'MO' is not a number from 0 to 6 or a name such as MON",
        ),
        ("0 0 6 * Jnu *", "month 'Jnu'"),
        ("0 0 6,,7 * * *", "empty value"),
        ("a b c d e f", "second 'a'"),
    ] {
        let err = Schedule::parse(expr).expect_err(expr).to_string();
        assert!(err.contains(needle), "'{expr}': {err}");
    }
}

#[test]
fn impossible_dates_never_fire() {
    assert!(!s("0 0 0 30 2 *").ever_fires());
    assert!(!s("0 0 0 31 4 *").ever_fires());
    assert!(
        s("0 0 0 29 2 1").ever_fires(),
        "a Monday 29 February exists"
    );
    assert!(s("0 0 6 * * 1-5").ever_fires());
    assert_eq!(
        s("0 0 0 30 2 *").next_after(datetime!(2025-01-01 0:00 UTC)),
        None
    );
}

#[test]
fn the_classic_window() {
    let window = Window {
        up: s("0 0 6 * * 1-5"),
        down: s("0 0 7 * * 1-5"),
    };
    let open = |t| window.at(t).open;
    assert!(
        open(datetime!(2025-03-05 06:00:00 UTC)),
        "opens on the up-occurrence"
    );
    assert!(open(datetime!(2025-03-05 06:59:59 UTC)));
    assert!(
        !open(datetime!(2025-03-05 07:00:00 UTC)),
        "closes on the down-occurrence"
    );
    assert!(!open(datetime!(2025-03-05 05:59:59 UTC)));
    assert!(!open(datetime!(2025-03-08 06:30:00 UTC)), "Saturday");
    assert!(!open(datetime!(2025-03-10 03:00:00 UTC)), "Monday night");
    let state = window.at(datetime!(2025-03-07 06:30:00 UTC));
    assert_eq!(state.last_up, Some(datetime!(2025-03-07 06:00:00 UTC)));
    assert_eq!(state.last_down, Some(datetime!(2025-03-06 07:00:00 UTC)));
    assert_eq!(state.next_down, Some(datetime!(2025-03-07 07:00:00 UTC)));
    assert_eq!(state.next_up, Some(datetime!(2025-03-10 06:00:00 UTC)));
}

#[test]
fn windows_across_midnight_and_ties() {
    let night = Window {
        up: s("0 0 22 * * *"),
        down: s("0 0 2 * * *"),
    };
    assert!(night.at(datetime!(2025-03-05 23:30:00 UTC)).open);
    assert!(night.at(datetime!(2025-03-06 01:59:00 UTC)).open);
    assert!(!night.at(datetime!(2025-03-06 12:00:00 UTC)).open);
    let tie = Window {
        up: s("0 0 6 * * *"),
        down: s("0 0 6 * * *"),
    };
    assert!(
        !tie.at(datetime!(2025-03-06 06:00:00 UTC)).open,
        "down wins a tie"
    );
    let never_down = Window {
        up: s("* * * * * *"),
        down: s("0 0 0 30 2 *"),
    };
    assert!(never_down.at(datetime!(2025-03-06 06:00:00 UTC)).open);
}

#[test]
fn formats_utc() {
    assert_eq!(
        format_utc(datetime!(2025-03-05 08:00:00.5 +02:00)),
        "2025-03-05T06:00:00Z"
    );
}
