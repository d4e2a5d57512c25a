use super::*;
use time::macros::datetime;

fn windows(text: &str, zone: &str) -> Windows {
    Windows::parse(text, time_zone(zone).unwrap(), (1, 0)).unwrap_or_else(|e| panic!("{e}"))
}

fn open(w: &Windows, t: OffsetDateTime) -> bool {
    w.at(t).state.open
}

/// Asserts `w` is open exactly on `[from, to)` around that stretch (a
/// minute either side), and that the stretch reports those edges.
fn open_exactly(w: &Windows, from: OffsetDateTime, to: OffsetDateTime) {
    let minute = time::Duration::MINUTE;
    let second = time::Duration::SECOND;
    let case = format!("'{w}' in {}", w.zone_name());
    assert!(!open(w, from - second), "{case}: closed just before {from}");
    assert!(
        !open(w, from - minute),
        "{case}: closed a minute before {from}"
    );
    assert!(open(w, from), "{case}: opens at {from}");
    assert!(open(w, to - second), "{case}: still open just before {to}");
    assert!(!open(w, to), "{case}: closes at {to}");
    let inside = w.at(from);
    assert_eq!(inside.state.last_up, Some(from), "{case}");
    assert_eq!(inside.state.next_down, Some(to), "{case}");
    let before = w.at(from - minute);
    assert_eq!(before.state.next_up, Some(from), "{case}");
    let after = w.at(to);
    assert_eq!(after.state.last_down, Some(to), "{case}");
}

#[test]
fn the_grammar() {
    let w = windows(
        "Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=2 lowPriority=1\n\
         sunday,Wed 7:30-08:00 LOW-PRIORITY=3;;  fri-mon 22:00-02:00 dedicated=0;daily 00:00-24:00;",
        "UTC",
    );
    assert_eq!(
        w.to_string(),
        "Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=2 lowPriority=1; \
         Wed,Sun 07:30-08:00 lowPriority=3; Mon,Fri-Sun 22:00-02:00 dedicated=0; daily 00:00-24:00"
    );
    let counts: Vec<(u32, u32)> = w
        .windows()
        .iter()
        .map(|w| (w.dedicated, w.low_priority))
        .collect();
    assert_eq!(counts, [(1, 0), (2, 1), (1, 3), (0, 0), (1, 0)]);
    assert_eq!(
        windows("Mon, Wed 06:00-07:00", "europe/brussels").zone_name(),
        "Europe/Brussels"
    );
}

#[test]
fn bad_windows_say_what_is_wrong() {
    for (text, needle) in [
        (" ; ", "no window in it"),
        ("Mon-Fri", "window 1 'Mon-Fri': no time range"),
        ("06:00-07:00", "no days before the time range"),
        (
            "Mon-Fri 06:00-07:00, Sat 09:00-10:00",
            "separate windows with ';'",
        ),
        (
            "Mon-Fri 06:00-07:00 Sat 09:00-10:00",
            "'Sat' is not an option",
        ),
        ("Mo 06:00-07:00", "'Mo' is not a day"),
        ("Mon,,Tue 06:00-07:00", "empty day"),
        ("Mon 6-7", "'6' is not a time HH:MM"),
        ("Mon 06:00", "'06:00' is not a time range"),
        ("Mon 06:00 - 07:00", "'06:00' is not a time range"),
        ("Mon 25:00-26:00", "'25:00' is not a time"),
        ("Mon 06:60-07:00", "'06:60' is not a time"),
        ("Mon 06:0-07:00", "'06:0' is not a time"),
        ("Mon 24:00-02:00", "cannot open at 24:00"),
        ("Mon 06:00-06:00", "opens and closes at the same time"),
        ("Mon 06:00-07:00 nodes=2", "unknown option 'nodes'"),
        (
            "Mon 06:00-07:00 dedicated=-1",
            "dedicated=-1: the count must be",
        ),
        ("Mon 06:00-07:00 dedicated=1 dedicated=2", "given twice"),
        ("Mon 06:00-07:00; Tue 08:00", "window 2 'Tue 08:00'"),
    ] {
        let err = Windows::parse(text, TimeZone::UTC, (1, 0))
            .expect_err(text)
            .to_string();
        assert!(err.contains(needle), "'{text}': {err}");
    }
    for zone in ["Europe/Brusels", "W. Europe Standard Time", "+02:00", ""] {
        assert!(time_zone(zone).is_err(), "{zone}");
    }
    assert!(
        time_zone("W. Europe Standard Time")
            .unwrap_err()
            .contains("Windows names")
    );
    for zone in [
        "UTC",
        "Etc/UTC",
        "Europe/Brussels",
        "America/New_York",
        "Asia/Kolkata",
    ] {
        assert!(time_zone(zone).is_ok(), "{zone}");
    }
}

/// What a window covers in real time, daylight saving included: each row is
/// a stretch the windows are open on exactly (see `open_exactly`).
#[test]
fn windows_are_open_exactly_while_the_local_clock_reads_inside_them() {
    let (brussels, new_york) = ("Europe/Brussels", "America/New_York");
    #[rustfmt::skip]
    let cases = [
        // Business hours keep their local time across a change: 06:00 in Brussels is
        // 05:00 UTC in winter and 04:00 UTC in summer. Friday before and Monday after
        // the spring change (30 March 2025), and around the autumn one (26 October).
        ("Mon-Fri 06:00-07:00", brussels, datetime!(2025-03-28 05:00 UTC), datetime!(2025-03-28 06:00 UTC)),
        ("Mon-Fri 06:00-07:00", brussels, datetime!(2025-03-31 04:00 UTC), datetime!(2025-03-31 05:00 UTC)),
        ("Mon-Fri 06:00-07:00", brussels, datetime!(2025-10-24 04:00 UTC), datetime!(2025-10-24 05:00 UTC)),
        ("Mon-Fri 06:00-07:00", brussels, datetime!(2025-10-27 05:00 UTC), datetime!(2025-10-27 06:00 UTC)),
        // Spring forward, 30 March 2025: 02:00 CET jumps to 03:00 CEST (01:00 UTC); the
        // local clock never reads 02:xx. A start in the skipped hour opens at the jump
        // (03:00 CEST) and runs to 03:30 CEST.
        ("Sun 02:30-03:30", brussels, datetime!(2025-03-30 01:00 UTC), datetime!(2025-03-30 01:30 UTC)),
        // An end in the skipped hour closes at the jump (open 30 real minutes).
        ("Sun 01:30-02:30", brussels, datetime!(2025-03-30 00:30 UTC), datetime!(2025-03-30 01:00 UTC)),
        // Across that night: 22:00 CET to 03:00 CEST is 4 real hours.
        ("Sat 22:00-03:00", brussels, datetime!(2025-03-29 21:00 UTC), datetime!(2025-03-30 01:00 UTC)),
        // Fall back, 26 October 2025: 03:00 CEST falls back to 02:00 CET (01:00 UTC);
        // the local clock reads 02:00-02:59 twice. From the first 02:30 (CEST) to 03:30
        // CET: two real hours, open through the repeated hour rather than closing and
        // opening again.
        ("Sun 02:30-03:30", brussels, datetime!(2025-10-26 00:30 UTC), datetime!(2025-10-26 02:30 UTC)),
        // An end in the repeated hour is its last occurrence (CET).
        ("Sun 01:00-02:30", brussels, datetime!(2025-10-25 23:00 UTC), datetime!(2025-10-26 01:30 UTC)),
        // Across that night: 22:00 CEST to 06:00 CET is 9 real hours.
        ("Sat 22:00-06:00", brussels, datetime!(2025-10-25 20:00 UTC), datetime!(2025-10-26 05:00 UTC)),
        // New York, around 9 March 2025 (02:00 EST jumps to 03:00 EDT, 07:00 UTC) and
        // 2 November 2025 (02:00 EDT falls back to 01:00 EST, 06:00 UTC).
        ("Mon-Fri 09:00-17:00", new_york, datetime!(2025-03-07 14:00 UTC), datetime!(2025-03-07 22:00 UTC)),
        ("Mon-Fri 09:00-17:00", new_york, datetime!(2025-03-10 13:00 UTC), datetime!(2025-03-10 21:00 UTC)),
        ("Mon-Fri 09:00-17:00", new_york, datetime!(2025-10-31 13:00 UTC), datetime!(2025-10-31 21:00 UTC)),
        ("Mon-Fri 09:00-17:00", new_york, datetime!(2025-11-03 14:00 UTC), datetime!(2025-11-03 22:00 UTC)),
        // Spring: a start in the skipped hour opens at the jump (03:00 EDT).
        ("Sun 02:15-04:00", new_york, datetime!(2025-03-09 07:00 UTC), datetime!(2025-03-09 08:00 UTC)),
        // Fall: 01:30 happens twice; the window opens at the first (EDT) and closes at
        // 02:30 EST, two real hours later; the week after, an ordinary hour.
        ("Sun 01:30-02:30", new_york, datetime!(2025-11-02 05:30 UTC), datetime!(2025-11-02 07:30 UTC)),
        ("Sun 01:30-02:30", new_york, datetime!(2025-11-09 06:30 UTC), datetime!(2025-11-09 07:30 UTC)),
        // Across midnight, a window is named by the day it opens: Friday 22:00 CET to
        // Saturday 02:00 CET.
        ("Fri 22:00-02:00", brussels, datetime!(2025-03-07 21:00 UTC), datetime!(2025-03-08 01:00 UTC)),
        // 24:00 is midnight at the day's end.
        ("Sun 22:00-24:00", "UTC", datetime!(2025-03-09 22:00 UTC), datetime!(2025-03-10 00:00 UTC)),
        // A window every night: each closes before the next opens.
        ("daily 23:00-01:00", "UTC", datetime!(2025-03-09 23:00 UTC), datetime!(2025-03-10 01:00 UTC)),
        // Touching windows make one stretch, 06:00-08:00.
        ("Mon 06:00-07:00; Mon 07:00-08:00 dedicated=2", "UTC", datetime!(2025-03-10 06:00 UTC), datetime!(2025-03-10 08:00 UTC)),
    ];
    for (text, zone, from, to) in cases {
        open_exactly(&windows(text, zone), from, to);
    }
}

#[test]
fn local_hours_follow_daylight_saving_in_brussels() {
    let w = windows("Mon-Fri 06:00-07:00", "Europe/Brussels");
    // Closed on Friday after the window: the next is Monday's, in summer time.
    let friday = w.at(datetime!(2025-03-28 12:00 UTC));
    assert!(!friday.state.open);
    assert_eq!(friday.state.next_up, Some(datetime!(2025-03-31 04:00 UTC)));
    assert_eq!(
        w.describe_instant(datetime!(2025-03-31 04:00 UTC)),
        "2025-03-31T04:00:00Z (Mon 06:00 CEST)"
    );
}

#[test]
fn a_window_wholly_in_the_skipped_hour_does_not_open() {
    // 30 March 2025 in Brussels: the local clock jumps from 02:00 to 03:00.
    let w = windows("Sun 02:00-02:45", "Europe/Brussels");
    let night = w.at(datetime!(2025-03-30 01:00 UTC));
    assert!(!night.state.open);
    assert_eq!(
        night.state.last_down,
        Some(datetime!(2025-03-23 01:45 UTC)),
        "the week before, in winter time"
    );
    assert_eq!(
        night.state.next_up,
        Some(datetime!(2025-04-06 00:00 UTC)),
        "the week after, in summer time"
    );
    // 9 March 2025 in New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    let w = windows("Sun 02:15-03:00", "America/New_York");
    assert!(!open(&w, datetime!(2025-03-09 07:00 UTC)));
    assert!(!open(&w, datetime!(2025-03-09 06:59 UTC)));
}

#[test]
fn a_window_stays_open_between_the_two_times_the_clock_reads_its_start() {
    // 26 October 2025 in Brussels: 02:30 CEST (00:30 UTC), then 02:30 CET (01:30 UTC).
    let w = windows("Sun 02:30-03:30", "Europe/Brussels");
    assert!(
        open(&w, datetime!(2025-10-26 01:15 UTC)),
        "02:15 CET, between the two 02:30s"
    );
}

#[test]
fn a_night_window_belongs_to_the_day_it_opens() {
    let w = windows("Fri 22:00-02:00", "Europe/Brussels");
    assert!(
        !open(&w, datetime!(2025-03-07 00:30 UTC)),
        "Friday 01:30 is Thursday's night"
    );
}

#[test]
fn overlapping_and_touching_windows_make_one_stretch_holding_the_most() {
    let w = windows(
        "Mon-Fri 06:00-09:00; Mon-Fri 07:00-08:00 dedicated=3 lowPriority=2; \
         Mon 08:30-10:00 dedicated=0 lowPriority=4",
        "UTC",
    );
    let at = |t| {
        let now = w.at(t);
        (now.state.open, now.dedicated, now.low_priority)
    };
    assert_eq!(at(datetime!(2025-03-10 06:30 UTC)), (true, 1, 0));
    assert_eq!(at(datetime!(2025-03-10 07:30 UTC)), (true, 3, 2));
    assert_eq!(at(datetime!(2025-03-10 08:45 UTC)), (true, 1, 4));
    assert_eq!(at(datetime!(2025-03-10 09:30 UTC)), (true, 0, 4));
    assert_eq!(at(datetime!(2025-03-10 10:00 UTC)), (false, 0, 0));
    // Monday's stretch runs 06:00-10:00 whichever window is open.
    for t in [
        datetime!(2025-03-10 06:00 UTC),
        datetime!(2025-03-10 07:59 UTC),
        datetime!(2025-03-10 09:59 UTC),
    ] {
        let now = w.at(t);
        assert_eq!(now.state.last_up, Some(datetime!(2025-03-10 06:00 UTC)));
        assert_eq!(now.state.next_down, Some(datetime!(2025-03-10 10:00 UTC)));
    }
    assert_eq!(
        w.at(datetime!(2025-03-10 07:30 UTC)).open,
        [
            "Mon-Fri 06:00-09:00",
            "Mon-Fri 07:00-08:00 dedicated=3 lowPriority=2"
        ]
    );
    // Touching windows are one stretch (in the table above), holding the most.
    let w = windows("Mon 06:00-07:00; Mon 07:00-08:00 dedicated=2", "UTC");
    assert_eq!(w.at(datetime!(2025-03-10 07:00 UTC)).dedicated, 2);
}

#[test]
fn a_window_that_never_closes() {
    let w = windows("daily 00:00-24:00", "Europe/Brussels");
    for t in [
        datetime!(2025-03-30 01:00 UTC),
        datetime!(2025-10-26 01:30 UTC),
        datetime!(2025-06-01 12:00 UTC),
    ] {
        let now = w.at(t);
        assert!(now.state.open, "{t}");
        assert_eq!((now.state.last_up, now.state.next_down), (None, None));
    }
    // Every day but Sunday: closes Sunday 00:00 local, opens Monday 00:00.
    let w = windows("Mon-Sat 00:00-24:00", "Europe/Brussels");
    let now = w.at(datetime!(2025-03-26 12:00 UTC));
    assert!(now.state.open);
    assert_eq!(now.state.last_up, Some(datetime!(2025-03-23 23:00 UTC)));
    assert_eq!(now.state.next_down, Some(datetime!(2025-03-29 23:00 UTC)));
    assert_eq!(
        w.at(datetime!(2025-03-30 12:00 UTC)).state.next_up,
        Some(datetime!(2025-03-30 22:00 UTC)),
        "Monday 00:00 CEST"
    );
}
