//! How long a scale-down keeps its nodes warm for the next pipeline
//! (`keepWarmMinutes`, `KEEP_WARM_MINUTES`): a fixed number of minutes, or
//! `auto`, which picks it from the gaps the pool has shown.
//!
//! **The rule of `auto`.** A node kept warm for `g` minutes costs, per
//! release, what it idles: the gap to the next pipeline when that one comes
//! within `g` (and then it saves the boot a new node would have billed, and
//! the pipeline's wait for it), else all `g`. Letting it go costs nothing now
//! and one boot later. So over the gaps the pool has shown (from each
//! recorded scale-down to the next arrival), `auto` takes the `g` whose
//! expected extra bill against letting go is the lowest, and keeps nodes only
//! when that is below zero: it never bills more than letting go on the gaps
//! seen, and whatever wait it saves comes free. With long gaps (a sparse day)
//! that is 0; with pipelines coming back within a boot, it keeps. The
//! approach of *Serverless in the Wild* (USENIX ATC '20), which picks a
//! keep-alive from each application's histogram of idle times, with the
//! price of a boot as the yardstick.
//!
//! Pure: the history comes in, minutes go out.

use super::rhythm::Rhythm;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Keeping nodes warm longer than a day is a permanent floor by another
/// name: set one with a lease or the schedule instead.
pub(crate) const MAX_KEEP_WARM_MINUTES: u32 = 24 * 60;

/// The longest `auto` keeps nodes warm, and how far after a scale-down it
/// looks for the next arrival: past this the gap counts as long.
pub(crate) const AUTO_MAX_MINUTES: u32 = 30;

/// `auto` keeps nothing warm before the pool has shown this many gaps.
pub(crate) const AUTO_MIN_GAPS: usize = 5;

/// What a scale-down asks of keep-warm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepWarm {
    /// Keep the released nodes this many minutes (0: release them now).
    Minutes(u32),
    /// Pick the minutes from the gaps the pool has shown.
    Auto,
}

impl KeepWarm {
    /// Releasing nodes now, nothing to write.
    pub(crate) const OFF: KeepWarm = KeepWarm::Minutes(0);

    /// Whether a scale-down has a keep-warm edit to make (`auto` always
    /// has: it decides against the pool's metadata when it writes).
    pub(crate) fn is_off(self) -> bool {
        self == Self::OFF
    }
}

impl fmt::Display for KeepWarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepWarm::Minutes(minutes) => write!(f, "{minutes}"),
            KeepWarm::Auto => f.write_str("auto"),
        }
    }
}

/// Why a keep-warm value does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number of minutes from 0 to {max}, or auto, not '{raw}'")]
pub(crate) struct NotKeepWarm {
    raw: String,
    max: u32,
}

impl KeepWarm {
    /// `auto` (any case) or whole minutes up to `max`.
    pub(crate) fn parse(raw: &str, max: u32) -> Result<KeepWarm, NotKeepWarm> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("auto") {
            return Ok(KeepWarm::Auto);
        }
        match raw.parse::<u32>() {
            Ok(minutes) if minutes <= max => Ok(KeepWarm::Minutes(minutes)),
            _ => Err(NotKeepWarm {
                raw: raw.to_owned(),
                max,
            }),
        }
    }
}

impl FromStr for KeepWarm {
    type Err = NotKeepWarm;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        KeepWarm::parse(raw, MAX_KEEP_WARM_MINUTES)
    }
}

impl serde::Serialize for KeepWarm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepWarm::Minutes(minutes) => serializer.serialize_u32(*minutes),
            KeepWarm::Auto => serializer.serialize_str("auto"),
        }
    }
}

/// The gaps the pool has shown, in minutes: from each recorded scale-down to
/// the next arrival, `None` when none came within [`AUTO_MAX_MINUTES`].
/// A scale-down less than that before `now_minute` is still open and left
/// out.
pub(crate) fn gaps(rhythm: &Rhythm, now_minute: i64) -> Vec<Option<i64>> {
    let horizon = i64::from(AUTO_MAX_MINUTES);
    rhythm
        .departures
        .iter()
        .filter(|&&left| left + horizon <= now_minute)
        .map(|&left| {
            rhythm
                .arrivals
                .iter()
                .map(|&(at, _, _)| at - left)
                .filter(|gap| (0..=horizon).contains(gap))
                .min()
        })
        .collect()
}

/// The minutes `auto` keeps nodes warm, given the gaps seen and a boot: the
/// `g` (0 to [`AUTO_MAX_MINUTES`]) with the lowest expected extra bill per
/// released node against letting it go, if that is below zero; else 0.
pub(crate) fn auto_minutes(gaps: &[Option<i64>], boot: Duration) -> u32 {
    if gaps.len() < AUTO_MIN_GAPS {
        return 0;
    }
    let boot = boot.as_secs_f64() / 60.0;
    let extra = |g: u32| -> f64 {
        let g = f64::from(g);
        gaps.iter()
            .map(|gap| match gap {
                // Used: idled the gap, saved a boot.
                Some(gap) if (*gap as f64) <= g => *gap as f64 - boot,
                // Nobody came in time: idled it all, the boot still comes.
                _ => g,
            })
            .sum::<f64>()
            / gaps.len() as f64
    };
    // The shortest of equally good: past the last gap seen, longer only
    // bills more when nobody comes.
    let (best, cost) =
        (0..=AUTO_MAX_MINUTES)
            .map(|g| (g, extra(g)))
            .fold(
                (0, 0.0),
                |(bg, bc), (g, c)| if c < bc { (g, c) } else { (bg, bc) },
            );
    if cost < 0.0 { best } else { 0 }
}

/// The minutes a scale-down keeps its nodes warm, against the pool's
/// metadata at `now_minute`.
pub(crate) fn minutes(keep: KeepWarm, rhythm: &Rhythm, now_minute: i64) -> u32 {
    match keep {
        KeepWarm::Minutes(minutes) => minutes,
        KeepWarm::Auto => {
            let boot = super::forecast::percentile_boot(&rhythm.boots, 0.5)
                .unwrap_or(super::forecast::BOOT_BEFORE_HISTORY);
            auto_minutes(&gaps(rhythm, now_minute), boot)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(5 * 60);

    #[test]
    fn auto_keeps_only_what_gaps_shorter_than_a_boot_pay_for() {
        // Sparse: nobody comes back within half an hour.
        assert_eq!(auto_minutes(&[None; 12], FIVE_MIN), 0);
        // Back within two minutes, every time: keep long enough for all.
        assert_eq!(
            auto_minutes(&[Some(1), Some(2), Some(1), Some(2), Some(2)], FIVE_MIN),
            2
        );
        // Mostly long gaps, a few short ones: keeping would bill more.
        let mostly_long = [Some(2), None, None, None, None, None, Some(25), None];
        assert_eq!(auto_minutes(&mostly_long, FIVE_MIN), 0);
        // Half come back within 2 minutes: worth 2 minutes, not the long tail.
        let half = [
            Some(1),
            Some(2),
            Some(2),
            Some(2),
            None,
            None,
            Some(20),
            None,
        ];
        assert_eq!(auto_minutes(&half, FIVE_MIN), 2);
        // Too few gaps to judge.
        assert_eq!(auto_minutes(&[Some(1); 4], FIVE_MIN), 0);
    }

    #[test]
    fn gaps_run_from_each_scale_down_to_the_next_arrival() {
        let rhythm = Rhythm {
            arrivals: vec![(100, 1, 0), (103, 1, 0), (200, 1, 0)],
            departures: vec![98, 101, 150, 190, 195],
            ..Rhythm::default()
        };
        // 98 -> 100; 101 -> 103; 150: nothing within 30; 190 and 195 are
        // still open at minute 215 (less than 30 minutes ago).
        assert_eq!(gaps(&rhythm, 215), [Some(2), Some(2), None]);
        assert_eq!(gaps(&rhythm, 222), [Some(2), Some(2), None, Some(10)]);
    }

    #[test]
    fn keep_warm_reads_minutes_or_auto() {
        assert_eq!(KeepWarm::parse("AUTO", 1440), Ok(KeepWarm::Auto));
        assert_eq!(KeepWarm::parse("15", 1440), Ok(KeepWarm::Minutes(15)));
        let refused = KeepWarm::parse("1441", 1440).unwrap_err().to_string();
        assert_eq!(
            refused,
            "must be a whole number of minutes from 0 to 1440, or auto, not '1441'"
        );
        assert!(KeepWarm::parse("-1", 1440).is_err());
        assert_eq!(KeepWarm::Auto.to_string(), "auto");
    }
}
