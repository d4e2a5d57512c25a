//! NCRONTAB schedules and the business-hours window they describe. Pure: no
//! I/O, no clock; "now" is always an argument.
//!
//! The Functions timer trigger reads `{second} {minute} {hour} {day} {month}
//! {day-of-week}` (six fields; a five-field expression gets `second = 0`, as
//! the host does). Each field takes `*`, a number, a range `a-b`, a list
//! `a,b,c` and a step `*/n`, `a-b/n` or `a/n` (from `a` to the field's end).
//! Months and days of the week also take English names (`JAN`, `January`,
//! `MON`, `Monday`; any case). Day of week is 0-6 with Sunday = 0.
//!
//! Semantics follow NCrontab, the library the host uses, where they differ
//! from Vixie cron: when both day-of-month and day-of-week are restricted, a
//! day must match **both** (NCrontab ANDs them; Vixie cron ORs them). Times
//! are UTC: `WEBSITE_TIME_ZONE` is not supported (see `docs/schedules.md`).
//!
//! Local-time windows with daylight saving (`SCHEDULE_WINDOWS` in
//! `SCHEDULE_TIME_ZONE`) are in [`windows`].
//!
//! Why not a crate: the `cron` crate reads seven fields (with years) and
//! numbers days of the week 1-7 from Sunday, so `1-5` would mean Sunday to
//! Thursday there; getting a schedule subtly wrong is worse than 200 lines.

pub(crate) mod windows;

use std::fmt;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// How far to look for an occurrence. 28 years holds every weekday/date
/// combination (e.g. Monday 29 February), so a schedule with no occurrence
/// in that span never fires.
const SEARCH_DAYS: i64 = 28 * 366 + 7;

/// A parsed NCRONTAB expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
}

/// What is wrong with an expression, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{expression}' is not an NCRONTAB schedule: {reason}")]
pub struct ScheduleError {
    pub(crate) expression: String,
    pub(crate) reason: String,
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAY_NAMES: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const FIELDS: [Field; 6] = [
    Field {
        name: "second",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTH_NAMES,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: DAY_NAMES,
    },
];

impl Field {
    fn value(&self, token: &str) -> Result<u32, String> {
        if let Ok(n) = token.parse::<u32>() {
            if n < self.min || n > self.max {
                return Err(format!(
                    "{} {n} is out of range {}-{}",
                    self.name, self.min, self.max
                ));
            }
            return Ok(n);
        }
        let lower = token.to_ascii_lowercase();
        if lower.len() >= 3
            && let Some(i) = self
                .names
                .iter()
                .position(|full| *full == lower || full[..3] == lower)
        {
            return Ok(self.min + i as u32);
        }
        let hint = if self.names.is_empty() {
            String::new()
        } else {
            format!(" or a name such as {}", &self.names[1][..3].to_uppercase())
        };
        Err(format!(
            "{} '{token}' is not a number from {} to {}{hint}",
            self.name, self.min, self.max
        ))
    }

    /// One comma-separated element: `*`, `n`, `a-b`, any of those with `/step`.
    fn element(&self, part: &str) -> Result<u64, String> {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    format!("{}: step '{step}' is not a positive number", self.name)
                })?;
                if step == 0 {
                    return Err(format!("{}: a step of 0 never advances", self.name));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (first, last) = if range == "*" {
            (self.min, self.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (self.value(a)?, self.value(b)?);
            if a > b {
                return Err(format!(
                    "{}: range {a}-{b} runs backwards (write it as two ranges)",
                    self.name
                ));
            }
            (a, b)
        } else if range.is_empty() {
            return Err(format!("{}: empty value in '{part}'", self.name));
        } else {
            let a = self.value(range)?;
            // `a/n` means from a to the end of the field, every n.
            (a, if step.is_some() { self.max } else { a })
        };
        let step = step.unwrap_or(1);
        let mut bits = 0u64;
        let mut v = first;
        while v <= last {
            bits |= 1 << v;
            v += step;
        }
        Ok(bits)
    }

    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0;
        for part in text.split(',') {
            bits |= self.element(part)?;
        }
        Ok(bits)
    }
}

impl Schedule {
    /// Reads an NCRONTAB expression as the Functions host does (six fields, or five with seconds at 0).
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        let fail = |reason: String| ScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let parts: Vec<&str> = expression.split_whitespace().collect();
        let parts: Vec<&str> = match parts.len() {
            6 => parts,
            5 => std::iter::once("0").chain(parts).collect(),
            0 => return Err(fail("it is empty".into())),
            n => {
                let mut reason = format!(
                    "it has {n} fields; expected six: second minute hour day month day-of-week \
                     (e.g. '0 0 6 * * 1-5')"
                );
                if expression.trim_start().starts_with('%') {
                    reason.push_str("; a %SETTING% reference is resolved by the host, not here");
                } else if n == 1 && expression.contains(':') {
                    reason.push_str("; TimeSpan schedules (hh:mm:ss) are not supported");
                }
                return Err(fail(reason));
            }
        };
        let mut bits = [0u64; 6];
        for (i, (field, text)) in FIELDS.iter().zip(&parts).enumerate() {
            bits[i] = field.parse(text).map_err(fail)?;
        }
        let schedule = Schedule {
            text: parts.join(" "),
            seconds: bits[0],
            minutes: bits[1],
            hours: bits[2],
            days: bits[3],
            months: bits[4],
            weekdays: bits[5],
        };
        Ok(schedule)
    }

    /// The expression in six-field form.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, date: Date) -> bool {
        has(self.days, date.day().into())
            && has(self.months, u8::from(date.month()).into())
            && has(
                self.weekdays,
                date.weekday().number_days_from_sunday().into(),
            )
    }

    /// The first time of day at or after `from` on a matching day.
    fn first_time_from(&self, from: (u8, u8, u8)) -> Option<Time> {
        for h in from.0..24 {
            if !has(self.hours, h.into()) {
                continue;
            }
            let m0 = if h == from.0 { from.1 } else { 0 };
            for m in m0..60 {
                if !has(self.minutes, m.into()) {
                    continue;
                }
                let s0 = if h == from.0 && m == from.1 {
                    from.2
                } else {
                    0
                };
                if let Some(s) = (s0..60).find(|s| has(self.seconds, (*s).into())) {
                    return Time::from_hms(h, m, s).ok();
                }
            }
        }
        None
    }

    /// The last time of day at or before `until` on a matching day.
    fn last_time_until(&self, until: (u8, u8, u8)) -> Option<Time> {
        for h in (0..=until.0).rev() {
            if !has(self.hours, h.into()) {
                continue;
            }
            let m0 = if h == until.0 { until.1 } else { 59 };
            for m in (0..=m0).rev() {
                if !has(self.minutes, m.into()) {
                    continue;
                }
                let s0 = if h == until.0 && m == until.1 {
                    until.2
                } else {
                    59
                };
                if let Some(s) = (0..=s0).rev().find(|s| has(self.seconds, (*s).into())) {
                    return Time::from_hms(h, m, s).ok();
                }
            }
        }
        None
    }

    /// The first occurrence strictly after `after`.
    pub(crate) fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = truncate(after.to_offset(UtcOffset::UTC)) + Duration::SECOND;
        let mut date = start.date();
        let mut from = start.time().as_hms();
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(date)
                && let Some(t) = self.first_time_from(from)
            {
                return Some(PrimitiveDateTime::new(date, t).assume_utc());
            }
            date = date.next_day()?;
            from = (0, 0, 0);
        }
        None
    }

    /// The latest occurrence at or before `at`.
    pub(crate) fn previous_at_or_before(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = truncate(at.to_offset(UtcOffset::UTC));
        let mut date = start.date();
        let mut until = start.time().as_hms();
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(date)
                && let Some(t) = self.last_time_until(until)
            {
                return Some(PrimitiveDateTime::new(date, t).assume_utc());
            }
            date = date.previous_day()?;
            until = (23, 59, 59);
        }
        None
    }

    /// Whether the schedule fires at all (e.g. `0 0 0 30 2 *` never does).
    pub fn ever_fires(&self) -> bool {
        // Any fixed start works: the search spans every calendar pattern.
        let start = PrimitiveDateTime::new(
            Date::from_calendar_date(2000, Month::January, 1).expect("valid date"),
            Time::MIDNIGHT,
        )
        .assume_utc();
        self.next_after(start).is_some()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("0 ns is valid")
}

/// A recurring window: open from an `up` occurrence until the next `down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) up: Schedule,
    pub(crate) down: Schedule,
}

/// Where `now` falls relative to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowState {
    /// The latest up-occurrence is later than the latest down-occurrence.
    pub(crate) open: bool,
    pub(crate) last_up: Option<OffsetDateTime>,
    pub(crate) last_down: Option<OffsetDateTime>,
    pub(crate) next_up: Option<OffsetDateTime>,
    pub(crate) next_down: Option<OffsetDateTime>,
}

impl Window {
    /// The window at `now`. An up and a down at the same instant count as
    /// closed: scale-down wins a tie.
    pub(crate) fn at(&self, now: OffsetDateTime) -> WindowState {
        let last_up = self.up.previous_at_or_before(now);
        let last_down = self.down.previous_at_or_before(now);
        let open = match (last_up, last_down) {
            (Some(up), Some(down)) => up > down,
            (Some(_), None) => true,
            (None, _) => false,
        };
        WindowState {
            open,
            last_up,
            last_down,
            next_up: self.up.next_after(now),
            next_down: self.down.next_after(now),
        }
    }
}

/// Where "now" falls in the schedule, whichever form it has, and what it
/// holds: the two-schedule [`Window`] or the local-time [`windows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleNow {
    pub(crate) state: WindowState,
    /// Ready nodes to hold: the largest counts among the windows open now
    /// (the schedule's counts for the two-schedule window); 0 when closed.
    pub(crate) dedicated: u32,
    pub(crate) low_priority: u32,
    /// The windows open now, as written (normalised); empty when closed or
    /// for the two-schedule window.
    pub(crate) open: Vec<String>,
}

/// `2025-03-03T06:00:00Z`: how times appear in logs.
pub(crate) fn format_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests;
