//! Simulated time.
//!
//! The simulator runs on a *scaled* clock: `now = start_wall + real_elapsed * time_scale`.
//! With `--time-scale 600` ten simulated minutes pass every real second, so a pool that
//! needs five minutes to bring its nodes to `idle` is ready in half a second of test time.
//!
//! Everything the service would stamp (`lastModified`, `stateTransitionTime`, ETags, ...)
//! uses this clock. Authentication (Shared Key date window, token expiry) deliberately
//! does **not**: those checks are about the caller's real clock, so they use wall time.
//!
//! This module also owns the two value formats the service derives from time:
//! timestamps with up to seven fractional digits (trailing zeros trimmed, as .NET's
//! `FFFFFFF` pattern prints them) and ETags, which are the .NET tick count of the
//! last modification in upper-case hex (`0x8DE62B79EFC6E5F`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
// Tokio's instant is the std one, except in a runtime whose time is paused
// (`pool-resizer simulate-day`): there simulated time jumps from one timer to the next,
// so a whole day replays in seconds and the same seed gives the same day.
use tokio::time::Instant;

/// A clock whose simulated time runs `scale` times faster than real time, or (frozen)
/// only moves when told to: replaying recorded traffic needs each request at the
/// recorded distance from the previous one, to the millisecond.
#[derive(Debug, Clone)]
pub(crate) struct SimClock {
    start_wall: OffsetDateTime,
    start_instant: Instant,
    scale: f64,
    frozen: bool,
    /// Simulated nanoseconds added by [`SimClock::advance`].
    skipped: Arc<AtomicU64>,
}

impl SimClock {
    /// Start a clock at the current wall time.
    pub(crate) fn new(scale: f64) -> Self {
        Self::starting_at(OffsetDateTime::now_utc(), scale)
    }

    /// Start a clock whose first reading is `start` (a replayed day starts at its midnight).
    pub(crate) fn starting_at(start: OffsetDateTime, scale: f64) -> Self {
        Self {
            start_wall: start,
            start_instant: Instant::now(),
            scale,
            frozen: false,
            skipped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A clock that stands still until advanced.
    pub(crate) fn frozen() -> Self {
        Self {
            frozen: true,
            ..Self::new(1.0)
        }
    }

    /// Move simulated time forward (on any clock).
    pub(crate) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.skipped.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Simulated "now".
    pub(crate) fn now(&self) -> OffsetDateTime {
        let real = if self.frozen {
            0.0
        } else {
            self.start_instant.elapsed().as_secs_f64()
        };
        let skipped = self.skipped.load(Ordering::SeqCst);
        self.start_wall
            + time::Duration::seconds_f64(real * self.scale)
            + time::Duration::nanoseconds(i64::try_from(skipped).unwrap_or(i64::MAX))
    }
}

/// Unix epoch expressed in .NET ticks (100 ns since 0001-01-01).
const UNIX_EPOCH_TICKS: i128 = 621_355_968_000_000_000;

/// .NET ticks of a timestamp.
pub(crate) fn ticks(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 100 + UNIX_EPOCH_TICKS
}

/// The ETag the service derives from a last-modified time: `0x` + upper-case hex ticks.
pub(crate) fn etag_for(t: OffsetDateTime) -> String {
    format!("0x{:X}", ticks(t))
}

/// `2026-02-03T18:11:55.3971038Z`: UTC, up to 7 fractional digits, trailing zeros trimmed.
pub(crate) fn format_ts(t: OffsetDateTime) -> String {
    let full = format_utc(
        t,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]"),
    );
    // The `.` stops the trimming when the fraction is all zeros, then goes too.
    format!("{}Z", full.trim_end_matches('0').trim_end_matches('.'))
}

/// RFC 1123 (`Tue, 03 Feb 2026 00:00:00 GMT`) for `Last-Modified`.
pub(crate) fn format_rfc1123(t: OffsetDateTime) -> String {
    format_utc(
        t,
        format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ),
    )
}

/// `t` in UTC, written as `format` says (which names only what every time has, so
/// formatting cannot fail).
fn format_utc(t: OffsetDateTime, format: &[BorrowedFormatItem<'_>]) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

/// Parse an RFC 1123 date as sent in `ocp-date` / `Date`.
pub(crate) fn parse_rfc1123(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc2822).ok()
}

/// Parse an ISO-8601 duration of the shape the API uses (`PT15M`, `PT7M9.497S`, `P1DT2H`).
pub(crate) fn parse_iso_duration(s: &str) -> Option<Duration> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut secs = 0f64;
    let mut any = false;
    for (part, in_time) in [(date, false), (time, true)] {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let n: f64 = num.parse().ok()?;
            num.clear();
            any = true;
            secs += seconds_of(n, c, in_time)?;
        }
        if !num.is_empty() {
            return None;
        }
    }
    if !any || !secs.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// `n` of `unit` in seconds. A letter is another unit on either side of the `T` (`P1M` is
/// a month, which the API does not use; `PT1M` a minute), so `in_time` says which side.
fn seconds_of(n: f64, unit: char, in_time: bool) -> Option<f64> {
    match (in_time, unit) {
        (false, 'D') => Some(n * 86_400.0),
        (false, 'W') => Some(n * 7.0 * 86_400.0),
        (true, 'H') => Some(n * 3600.0),
        (true, 'M') => Some(n * 60.0),
        (true, 'S') => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn etag_matches_recorded_fixture() {
        // pool-get-after-patch-metadata.json: lastModified 2026-02-03T00:00:36.7721692Z
        let t = rfc3339("2026-02-03T00:00:36.7721692Z");
        assert_eq!(etag_for(t), "0x8DE62B74284BCDC");
        assert_eq!(format_ts(t), "2026-02-03T00:00:36.7721692Z");
    }

    #[test]
    fn trims_trailing_zeros() {
        let t = rfc3339("2026-02-03T18:11:55.3971100Z");
        assert_eq!(format_ts(t), "2026-02-03T18:11:55.39711Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_iso_duration("PT15M"), Some(Duration::from_secs(900)));
        assert_eq!(
            parse_iso_duration("PT7M9.497S"),
            Some(Duration::from_secs_f64(429.497))
        );
        assert_eq!(
            parse_iso_duration("P1DT1H"),
            Some(Duration::from_secs(90_000))
        );
        assert_eq!(parse_iso_duration("15M"), None);
        assert_eq!(parse_iso_duration("PT"), None);
    }

    #[test]
    fn rfc1123_roundtrip() {
        let t = parse_rfc1123("Tue, 03 Feb 2026 00:00:00 GMT").unwrap();
        assert_eq!(format_rfc1123(t), "Tue, 03 Feb 2026 00:00:00 GMT");
    }
}
