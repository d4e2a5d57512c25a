//! Local-time windows: `SCHEDULE_WINDOWS` read in `SCHEDULE_TIME_ZONE`, with
//! daylight saving done here, not by the host. Pure: no I/O, no clock.
//!
//! ```text
//! SCHEDULE_WINDOWS = Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=2 lowPriority=1
//! ```
//!
//! Windows are separated by `;` (or new lines). Each is
//! `DAYS START-END [dedicated=N] [lowPriority=N]`:
//!
//! - `DAYS`: English day names, three letters or full, any case (`Mon`,
//!   `monday`), in a comma list of days and ranges (`Mon,Wed,Fri`,
//!   `Mon-Fri,Sun`); a range may wrap (`Fri-Mon`); `daily` is every day.
//!   They name the day the window **opens**.
//! - `START-END`: 24-hour local times `HH:MM`. `END` may be `24:00` (the end
//!   of the day); an `END` at or before `START` closes on the next day
//!   (`Fri 22:00-02:00` closes Saturday 02:00). `00:00-24:00` is a whole day.
//! - `dedicated=N`, `lowPriority=N`: the ready nodes this window holds;
//!   defaults `SCHEDULE_DEDICATED_NODES` / `SCHEDULE_LOW_PRIORITY_NODES`.
//!
//! What a window covers, daylight saving included: the one stretch of real
//! time that holds every instant at which the local clock reads inside it.
//! So
//! - a start or end the clocks skip (02:30 on a spring-forward night) is the
//!   instant of the jump (03:00 local): `Sun 02:30-03:30` is open 03:00-03:30
//!   that day, and a window wholly inside the skipped hour does not open;
//! - a start the clocks repeat (02:30 on a fall-back night) is its first
//!   occurrence, an end the clocks repeat its last: the window runs through
//!   the repeated hour instead of closing and opening again (`Sun 02:30-03:30`
//!   is open two real hours that night).
//!
//! Windows that overlap or touch make one open stretch: it opens with the
//! first and closes with the last, and while several are open the largest
//! count of each kind is held (as with leases).

use super::{DAY_NAMES, ScheduleNow, WindowState};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use std::fmt;
use time::OffsetDateTime;

/// Days looked at on each side of "now". Windows repeat every week, so a
/// stretch that reaches past 8 days either way never ends (e.g. `daily
/// 00:00-24:00`): its start or end is reported as unknown (`None`).
const SCAN_DAYS: i32 = 9;
const HORIZON: time::Duration = time::Duration::days(8);
const MINUTES_PER_DAY: u16 = 24 * 60;

/// `SCHEDULE_WINDOWS` as parsed, in its time zone.
#[derive(Debug, Clone)]
pub(crate) struct Windows {
    zone: TimeZone,
    zone_name: String,
    windows: Vec<LocalWindow>,
}

/// One window of `SCHEDULE_WINDOWS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalWindow {
    /// Bit `d` set: opens on weekday `d` (Sunday = 0).
    days: u8,
    /// Minutes after local midnight, 0..1440.
    start: u16,
    /// Minutes after local midnight, 1..=1440; at or before `start`: next day.
    end: u16,
    /// Ready nodes held while open.
    pub dedicated: u32,
    pub low_priority: u32,
    /// Whether the counts were written in the window (else the defaults).
    pub dedicated_given: bool,
    pub low_priority_given: bool,
}

/// What is wrong with `SCHEDULE_WINDOWS`, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WindowsError(pub String);

/// A time zone by IANA name (`Europe/Brussels`, `America/New_York`, `UTC`),
/// from the tz database compiled into the binary.
pub(crate) fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        let hint = if name.contains(' ') {
            " (Windows names such as 'W. Europe Standard Time' are not IANA names: use e.g. Europe/Berlin)"
        } else {
            ""
        };
        format!(
            "'{name}' is not an IANA time zone name such as Europe/Brussels, America/New_York or UTC{hint}"
        )
    })
}

fn day(token: &str) -> Result<u8, String> {
    let lower = token.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|full| lower.len() >= 3 && (*full == lower || full[..3] == lower))
        .map(|i| i as u8)
        .ok_or_else(|| {
            format!("'{token}' is not a day (Mon, Tue, ... Sun, full names, or 'daily')")
        })
}

fn days(spec: &str) -> Result<u8, String> {
    if spec.eq_ignore_ascii_case("daily") {
        return Ok(0x7f);
    }
    let mut bits = 0u8;
    for item in spec.split(',') {
        if item.is_empty() {
            return Err(format!("empty day in '{spec}'"));
        }
        match item.split_once('-') {
            Some((a, b)) => {
                // A range may wrap around the week: Fri-Mon.
                let (mut d, last) = (day(a)?, day(b)?);
                loop {
                    bits |= 1 << d;
                    if d == last {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => bits |= 1 << day(item)?,
        }
    }
    Ok(bits)
}

/// `HH:MM` (or `H:MM`) as minutes after midnight; `24:00` only if `end`.
fn clock_time(text: &str, end: bool) -> Result<u16, String> {
    let bad = || format!("'{text}' is not a time HH:MM (00:00 to 23:59, or 24:00 for an end)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if end => Ok(MINUTES_PER_DAY),
        (24, 0) => Err(format!(
            "a window cannot open at 24:00: write 00:00 of the next day ('{text}')"
        )),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

fn count(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 10_000)
        .ok_or_else(|| format!("{key}={value}: the count must be a whole number from 0 to 10000"))
}

impl LocalWindow {
    fn parse(text: &str, defaults: (u32, u32)) -> Result<Self, String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let Some(at) = tokens
            .iter()
            .position(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        else {
            return Err("no time range: write DAYS HH:MM-HH:MM, e.g. 'Mon-Fri 06:00-07:00'".into());
        };
        let spec = tokens[..at].concat();
        if spec.is_empty() {
            return Err(
                "no days before the time range: write e.g. 'Mon-Fri 06:00-07:00' or 'daily 06:00-07:00'"
                    .into(),
            );
        }
        let days = days(&spec)?;
        let range = tokens[at];
        if range.ends_with(',') {
            return Err("separate windows with ';', not ','".into());
        }
        let Some((start, end)) = range.split_once('-') else {
            return Err(format!(
                "'{range}' is not a time range HH:MM-HH:MM (no spaces around '-')"
            ));
        };
        let (start, end) = (clock_time(start, false)?, clock_time(end, true)?);
        if start == end {
            return Err(format!(
                "'{range}' opens and closes at the same time; a whole day is 00:00-24:00"
            ));
        }
        let mut window = LocalWindow {
            days,
            start,
            end,
            dedicated: defaults.0,
            low_priority: defaults.1,
            dedicated_given: false,
            low_priority_given: false,
        };
        for option in &tokens[at + 1..] {
            let Some((key, value)) = option.split_once('=') else {
                return Err(format!(
                    "'{option}' is not an option: write dedicated=N or lowPriority=N (separate windows with ';')"
                ));
            };
            let name: String = key
                .chars()
                .filter(|c| !matches!(c, '-' | '_'))
                .collect::<String>()
                .to_ascii_lowercase();
            let (slot, given) = match name.as_str() {
                "dedicated" | "dedicatednodes" => {
                    (&mut window.dedicated, &mut window.dedicated_given)
                }
                "lowpriority" | "lowprioritynodes" => {
                    (&mut window.low_priority, &mut window.low_priority_given)
                }
                _ => {
                    return Err(format!(
                        "unknown option '{key}': a window takes dedicated=N and lowPriority=N"
                    ));
                }
            };
            if *given {
                return Err(format!("{key} is given twice"));
            }
            *slot = count(key, value)?;
            *given = true;
        }
        Ok(window)
    }

    fn opens_on(&self, date: Date) -> bool {
        self.days & (1 << date.weekday().to_sunday_zero_offset()) != 0
    }

    /// Whether it closes on the day after it opens.
    fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Display for LocalWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let short = |d: u8| {
            let name = DAY_NAMES[usize::from(d)];
            let mut s = name[..3].to_owned();
            s[..1].make_ascii_uppercase();
            s
        };
        // Runs of consecutive days (Monday first) as ranges.
        let days = if self.days == 0x7f {
            "daily".to_owned()
        } else {
            let order = [1u8, 2, 3, 4, 5, 6, 0];
            let mut parts = Vec::new();
            let mut i = 0;
            while i < order.len() {
                if self.days & (1 << order[i]) == 0 {
                    i += 1;
                    continue;
                }
                let first = i;
                while i + 1 < order.len() && self.days & (1 << order[i + 1]) != 0 {
                    i += 1;
                }
                parts.push(if i == first {
                    short(order[first])
                } else {
                    format!("{}-{}", short(order[first]), short(order[i]))
                });
                i += 1;
            }
            parts.join(",")
        };
        write!(f, "{days} {}-{}", hm(self.start), hm(self.end))?;
        if self.dedicated_given {
            write!(f, " dedicated={}", self.dedicated)?;
        }
        if self.low_priority_given {
            write!(f, " lowPriority={}", self.low_priority)?;
        }
        Ok(())
    }
}

/// One window's stay open: `[start, end)` in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: OffsetDateTime,
    end: OffsetDateTime,
    window: usize,
}

fn to_time(t: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.as_second()).ok()
}

fn to_jiff(t: OffsetDateTime) -> Timestamp {
    Timestamp::new(t.unix_timestamp(), t.nanosecond() as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Windows {
    /// Reads `SCHEDULE_WINDOWS` for the zone `zone_name` (already checked by
    /// [`time_zone`]); windows without counts get `defaults` (dedicated,
    /// low-priority).
    pub(crate) fn parse(
        text: &str,
        zone: TimeZone,
        defaults: (u32, u32),
    ) -> Result<Self, WindowsError> {
        let mut windows = Vec::new();
        let parts: Vec<&str> = text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(WindowsError(
                "no window in it: write e.g. 'Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=2'"
                    .into(),
            ));
        }
        for (i, part) in parts.iter().enumerate() {
            let window = LocalWindow::parse(part, defaults)
                .map_err(|reason| WindowsError(format!("window {} '{part}': {reason}", i + 1)))?;
            windows.push(window);
        }
        let zone_name = zone.iana_name().unwrap_or("UTC").to_owned();
        Ok(Windows {
            zone,
            zone_name,
            windows,
        })
    }

    /// The zone's canonical IANA name.
    pub(crate) fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub(crate) fn windows(&self) -> &[LocalWindow] {
        &self.windows
    }

    /// The first instant the local clock reads `dt` or later: a skipped time
    /// is the jump, a repeated one its first occurrence.
    fn opening(&self, dt: DateTime) -> Option<Timestamp> {
        match self.zone.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { after, .. } => self.jump(dt, after),
        }
    }

    /// The last instant before the local clock reads `dt`, exclusive: a
    /// skipped time is the jump, a repeated one its last occurrence.
    fn closing(&self, dt: DateTime) -> Option<Timestamp> {
        match self.zone.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { after, .. } => after.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { after, .. } => self.jump(dt, after),
        }
    }

    /// The transition that skips `dt`: read with the later offset, `dt` is
    /// an instant just before the jump, which is the zone's next transition.
    fn jump(&self, dt: DateTime, after: jiff::tz::Offset) -> Option<Timestamp> {
        let before_jump = after.to_timestamp(dt).ok()?;
        self.zone
            .following(before_jump)
            .next()
            .map(|t| t.timestamp())
    }

    fn local(date: Date, minutes: u16) -> Option<DateTime> {
        if minutes >= MINUTES_PER_DAY {
            return Some(date.tomorrow().ok()?.at(0, 0, 0, 0));
        }
        Some(date.at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0))
    }

    /// Every window's stays that open within [`SCAN_DAYS`] of `now`'s local
    /// date, by start; empty ones (wholly in a skipped hour) left out.
    fn spans(&self, now: OffsetDateTime) -> Vec<Span> {
        let today = self.zone.to_datetime(to_jiff(now)).date();
        let mut spans = Vec::new();
        for offset in -SCAN_DAYS..=SCAN_DAYS {
            let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
                continue;
            };
            for (i, window) in self.windows.iter().enumerate() {
                if !window.opens_on(date) {
                    continue;
                }
                let end_date = if window.crosses_midnight() {
                    match date.tomorrow() {
                        Ok(d) => d,
                        Err(_) => continue,
                    }
                } else {
                    date
                };
                let start = Self::local(date, window.start)
                    .and_then(|dt| self.opening(dt))
                    .and_then(to_time);
                let end = Self::local(end_date, window.end)
                    .and_then(|dt| self.closing(dt))
                    .and_then(to_time);
                if let (Some(start), Some(end)) = (start, end)
                    && start < end
                {
                    spans.push(Span {
                        start,
                        end,
                        window: i,
                    });
                }
            }
        }
        spans.sort_by_key(|s| (s.start, s.end));
        spans
    }

    /// The windows at `now`: `last_up`/`next_down` are the open stretch's
    /// start and end (the first window's opening, the last one's closing),
    /// `last_down`/`next_up` the closing and opening around it.
    pub(crate) fn at(&self, now: OffsetDateTime) -> ScheduleNow {
        let spans = self.spans(now);
        let (mut dedicated, mut low_priority, mut open) = (0, 0, Vec::new());
        for span in spans.iter().filter(|s| s.start <= now && now < s.end) {
            let window = &self.windows[span.window];
            dedicated = dedicated.max(window.dedicated);
            low_priority = low_priority.max(window.low_priority);
            let text = window.to_string();
            if !open.contains(&text) {
                open.push(text);
            }
        }
        // Overlapping or touching stays make one stretch.
        let mut stretches: Vec<(OffsetDateTime, OffsetDateTime)> = Vec::new();
        for span in &spans {
            match stretches.last_mut() {
                Some(last) if span.start <= last.1 => last.1 = last.1.max(span.end),
                _ => stretches.push((span.start, span.end)),
            }
        }
        let within = |t: OffsetDateTime| (t >= now - HORIZON && t <= now + HORIZON).then_some(t);
        let last = |ts: &mut dyn Iterator<Item = OffsetDateTime>| ts.filter(|t| *t <= now).max();
        let next = |ts: &mut dyn Iterator<Item = OffsetDateTime>| ts.filter(|t| *t > now).min();
        let state = WindowState {
            open: !open.is_empty(),
            last_up: last(&mut stretches.iter().map(|s| s.0)).and_then(within),
            last_down: last(&mut stretches.iter().map(|s| s.1)).and_then(within),
            next_up: next(&mut stretches.iter().map(|s| s.0)).and_then(within),
            next_down: next(&mut stretches.iter().map(|s| s.1)).and_then(within),
        };
        ScheduleNow {
            state,
            dedicated,
            low_priority,
            open,
        }
    }

    /// `2025-03-31T04:00:00Z (Mon 06:00 CEST)`: a time in UTC and in the zone.
    pub(crate) fn describe_instant(&self, t: OffsetDateTime) -> String {
        let zoned = to_jiff(t).to_zoned_datetime(self.zone.clone());
        format!(
            "{} ({})",
            super::format_utc(t),
            zoned.strftime("%a %H:%M %Z")
        )
    }
}

impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.windows.iter().map(ToString::to_string).collect();
        write!(f, "{}", list.join("; "))
    }
}

#[cfg(test)]
mod tests;
