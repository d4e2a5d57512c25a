//! When will the next pipeline come? A pool's own rhythm, read from the
//! scale-ups it has seen, so nodes can be ready before a pipeline asks.
//!
//! Most ADF pipelines run on schedule triggers, at the same time of day,
//! every working day. The forecast is deliberately simple and explainable,
//! in the spirit of AWS predictive scaling (learn from the last 14 days,
//! judge a forecast before trusting it) and of *Serverless in the Wild*
//! (USENIX ATC '20: per-application histograms of when calls come):
//! - a **slot** is a time of day around which arrivals came on several of
//!   the last [`Params::days`] days of the same kind (weekdays with
//!   weekdays, weekends with weekends), within [`Params::tolerance`];
//! - a slot **predicts** today when it was seen on at least
//!   [`Params::min_days`] of those days and on at least
//!   [`Params::min_share`] of the days of that kind that had any arrival;
//! - the expected time is the slot's *earliest* arrival (nodes ready for
//!   the early ones), held until a grace after its *latest*; its nodes what
//!   its arrivals asked together on a day (the median over its days: two
//!   schedule triggers a few minutes apart need two nodes, two random runs
//!   that met once do not);
//! - an arrival belongs to the slot nearest to it: the run of the slot
//!   before, a few minutes early or late, neither props up this slot nor
//!   counts as this slot having been served;
//! - a slot that was predicted before and missed more often than a
//!   pipeline came is not warmed (random runs that three days happened to
//!   share are predicted once, missed, and dropped).
//!
//! The same function judges itself: [`backtest`] replays each past day
//! with only what was known before it, and counts hits, misses (nodes
//! warmed for nobody, and what they cost) and arrivals nobody predicted.
//! That is what forecast-only mode reports before anyone trusts it.
//!
//! Everything here is pure: no clock, no Batch, no I/O.

use crate::batch::models::MetadataItem;
use std::time::Duration;
use time::{OffsetDateTime, Weekday};

/// A boot before the pool has shown any: about what an Ubuntu node with a
/// short start task takes on Batch (allocation, creating, starting).
pub(crate) const BOOT_BEFORE_HISTORY: Duration = Duration::from_secs(6 * 60);

/// What a pool's metadata says of its next arrival, at `now`: everything a
/// firing needs to log, judge and act, read once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    /// Arrivals remembered in the pool's rhythm.
    pub remembered: usize,
    /// The median of the pool's recorded boots, or [`BOOT_BEFORE_HISTORY`].
    /// A median, not a high percentile: the pre-warm aims at the slot's
    /// *earliest* arrival, which is already the margin (most arrivals come
    /// later); stacking a slow boot on top of it held nodes idle for minutes
    /// and bought a few seconds (the study: p90 boot 26 s mean wait at 1.18x
    /// plain's bill, the median 35 s at 1.12x).
    pub boot: Duration,
    /// How early a pre-warm must start: a boot plus the time to the next
    /// firing, which could otherwise be too late.
    pub lead: Duration,
    pub backtest: Backtest,
    /// The pre-warm due now, if any.
    pub due: Option<PreWarm>,
    /// The pool already holds a live pre-warm lease.
    pub held: bool,
}

/// Reads the pool's rhythm from its metadata and judges `now`, for a firing
/// every `cadence` with pre-warms held `grace` past the arrival.
pub(crate) fn read(
    metadata: &[MetadataItem],
    now: OffsetDateTime,
    cadence: Duration,
    grace: Duration,
) -> Reading {
    let rhythm = super::rhythm::read(metadata);
    let history: Vec<Arrival> = rhythm
        .arrivals
        .iter()
        .filter_map(|&(minute, dedicated, low_priority)| {
            Some(Arrival {
                at: OffsetDateTime::from_unix_timestamp(minute.checked_mul(60)?).ok()?,
                dedicated,
                low_priority,
            })
        })
        .collect();
    let boot = percentile_boot(&rhythm.boots, 0.5).unwrap_or(BOOT_BEFORE_HISTORY);
    let lead = boot + cadence;
    let params = Params::default();
    let held = super::lease::live_leases(metadata, now)
        .iter()
        .any(|lease| lease.id.as_str() == super::lease::FORECAST_LEASE);
    Reading {
        remembered: history.len(),
        boot,
        lead,
        backtest: backtest(&history, now, lead, grace, &params),
        due: due(&history, now, lead, grace, &params),
        held,
    }
}

/// One scale-up a pipeline made (never one the forecast made itself: a
/// forecast must not feed on its own pre-warms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub at: OffsetDateTime,
    pub dedicated: u32,
    pub low_priority: u32,
}

/// How the forecast reads a history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    /// Days of history read (AWS predictive scaling learns from 14).
    pub days: u32,
    /// Arrivals this close in time of day are one slot (trigger and
    /// upstream-activity jitter). 4 minutes: the study's triggers spread
    /// their runs over up to 5 (0-60 s late, then ±2 min), which a window
    /// of ±4 around a middle run covers; a wider window lets random runs
    /// make more chance slots, a narrower one splits real ones.
    pub tolerance: Duration,
    /// A slot must have been seen on at least this many days...
    pub min_days: u32,
    /// ...and on at least this share of the days of its kind that had any
    /// arrival at all.
    pub min_share: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            days: 14,
            tolerance: Duration::from_secs(4 * 60),
            min_days: 3,
            min_share: 0.6,
        }
    }
}

/// An arrival the history predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expected {
    /// The slot's earliest arrival, on the day predicted.
    pub at: OffsetDateTime,
    /// Its latest, on the same day: a pre-warm is held a grace past it.
    pub latest: OffsetDateTime,
    pub dedicated: u32,
    pub low_priority: u32,
    /// Days of its kind the slot was seen on, of those that had arrivals.
    pub seen_on: u32,
    pub of_days: u32,
}

impl Expected {
    /// Whether a pipeline that came at `at` is the one this slot expects:
    /// from a tolerance before its earliest (a little earlier than ever
    /// seen) until a grace after its latest. Not from the whole lead before
    /// it: the run of the slot before, a few minutes earlier, is not this
    /// one, and counting it would leave this one unwarmed.
    fn answered_by(&self, at: OffsetDateTime, grace: Duration, params: &Params) -> bool {
        let early = time::Duration::try_from(params.tolerance).unwrap_or(time::Duration::ZERO);
        let grace = time::Duration::try_from(grace).unwrap_or(time::Duration::ZERO);
        at >= self.at - early && at < self.latest + grace
    }

    /// How far `at` falls outside the slot's earliest-to-latest span.
    fn distance(&self, at: OffsetDateTime) -> time::Duration {
        if at < self.at {
            self.at - at
        } else {
            (at - self.latest).max(time::Duration::ZERO)
        }
    }
}

/// Whether the pipeline that came at `at` is the one `slot` expects: it
/// answers it, and no other of the day's slots it answers is nearer (a
/// late run of the slot before is not this slot's).
fn serves(
    day: &[Expected],
    slot: &Expected,
    at: OffsetDateTime,
    grace: Duration,
    params: &Params,
) -> bool {
    slot.answered_by(at, grace, params)
        && day
            .iter()
            .filter(|other| other.answered_by(at, grace, params))
            .all(|other| other.distance(at) >= slot.distance(at))
}

/// Weekdays and weekend days keep separate rhythms: a Monday-to-Friday
/// trigger says nothing about Saturday.
fn same_kind(a: Weekday, b: Weekday) -> bool {
    let weekend = |d: Weekday| matches!(d, Weekday::Saturday | Weekday::Sunday);
    weekend(a) == weekend(b)
}

fn seconds_of_day(t: OffsetDateTime) -> i64 {
    let (h, m, s) = t.to_offset(time::UtcOffset::UTC).time().as_hms();
    i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)
}

/// The distance between two times of day, across midnight too.
fn circular_gap(a: i64, b: i64) -> i64 {
    let d = (a - b).rem_euclid(86_400);
    d.min(86_400 - d)
}

/// The arrivals `history` predicts on the UTC day of `day`, in time order.
/// Only history before that day counts.
pub(crate) fn expected_on(
    history: &[Arrival],
    day: OffsetDateTime,
    params: &Params,
) -> Vec<Expected> {
    let day = day.to_offset(time::UtcOffset::UTC);
    let midnight = day.replace_time(time::Time::MIDNIGHT);
    let days = past_days_like(history, day, params);
    let active_days = days.len() as u32;
    if active_days == 0 {
        return Vec::new();
    }
    let tolerance = params.tolerance.as_secs() as i64;
    // Every past arrival proposes a slot at its time of day, earliest first;
    // one within the tolerance of a slot already found is that slot's.
    let mut candidates: Vec<i64> = days
        .iter()
        .flat_map(|(_, arrivals)| arrivals.iter().map(|(s, _)| *s))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut slots: Vec<Expected> = Vec::new();
    let mut taken: Vec<i64> = Vec::new();
    for centre in candidates {
        if taken.iter().any(|t| circular_gap(*t, centre) <= tolerance) {
            continue;
        }
        let candidate = Candidate {
            centre,
            tolerance,
            taken: &taken,
        };
        let Some(slot) = candidate.slot(&days, midnight, params) else {
            continue;
        };
        slots.push(slot);
        taken.push(centre);
    }
    slots.sort_by_key(|e| e.at);
    slots
}

/// One past day of the kind predicted, with its arrivals and their times of
/// day (seconds since midnight UTC).
type PastDay = (time::Date, Vec<(i64, Arrival)>);

/// The last [`Params::days`] days before `day` of the same kind (weekdays
/// with weekdays) that had arrivals, in the order history first shows them.
fn past_days_like(history: &[Arrival], day: OffsetDateTime, params: &Params) -> Vec<PastDay> {
    let midnight = day.replace_time(time::Time::MIDNIGHT);
    let from = midnight - time::Duration::days(i64::from(params.days));
    let mut days: Vec<PastDay> = Vec::new();
    for arrival in history {
        let at = arrival.at.to_offset(time::UtcOffset::UTC);
        if at < from || at >= midnight || !same_kind(at.weekday(), day.weekday()) {
            continue;
        }
        let entry = (seconds_of_day(at), *arrival);
        match days.iter_mut().find(|(date, _)| *date == at.date()) {
            Some((_, arrivals)) => arrivals.push(entry),
            None => days.push((at.date(), vec![entry])),
        }
    }
    days
}

/// A time of day proposed as a slot, with the slots already found before it.
struct Candidate<'a> {
    centre: i64,
    tolerance: i64,
    taken: &'a [i64],
}

impl Candidate<'_> {
    /// An arrival at `s` is this slot's when it is within the tolerance and
    /// no nearer to a slot already found (the run before this one, a few
    /// minutes earlier, is that slot's, not this one's).
    fn claims(&self, s: i64) -> bool {
        let gap = circular_gap(s, self.centre);
        gap <= self.tolerance && self.taken.iter().all(|t| circular_gap(s, *t) > gap)
    }

    /// The slot, if it was seen on enough of `days` to predict today.
    fn slot(
        &self,
        days: &[PastDay],
        midnight: OffsetDateTime,
        params: &Params,
    ) -> Option<Expected> {
        let active_days = days.len() as u32;
        let seen_on = days
            .iter()
            .filter(|(_, arrivals)| arrivals.iter().any(|(s, _)| self.claims(*s)))
            .count() as u32;
        if seen_on < params.min_days
            || f64::from(seen_on) < params.min_share * f64::from(active_days)
        {
            return None;
        }
        let (earliest, latest) = self.span(days);
        let at = midnight + time::Duration::seconds((self.centre + earliest).rem_euclid(86_400));
        Some(Expected {
            at,
            latest: at + time::Duration::seconds(latest - earliest),
            dedicated: self.together(days, |a| a.dedicated),
            low_priority: self.together(days, |a| a.low_priority),
            seen_on,
            of_days: active_days,
        })
    }

    /// The earliest and latest of the slot's arrivals, in seconds from its
    /// centre (negative: before it, across midnight too).
    fn span(&self, days: &[PastDay]) -> (i64, i64) {
        let offsets: Vec<i64> = days
            .iter()
            .flat_map(|(_, arrivals)| arrivals.iter())
            .filter(|(s, _)| self.claims(*s))
            .map(|(s, _)| {
                let d = (s - self.centre).rem_euclid(86_400);
                if d > 43_200 { d - 86_400 } else { d }
            })
            .collect();
        let earliest = offsets.iter().copied().min().unwrap_or(0);
        let latest = offsets.iter().copied().max().unwrap_or(0);
        (earliest, latest)
    }

    /// Two pipelines that come in the same slot each hold their own nodes
    /// (leases add up), so a slot asks for what its arrivals asked
    /// *together* on a day: the (upper) median over the days it was seen
    /// on, so two runs that met by chance once do not warm two nodes.
    fn together(&self, days: &[PastDay], nodes: fn(&Arrival) -> u32) -> u32 {
        let mut per_day: Vec<u32> = days
            .iter()
            .map(|(_, arrivals)| {
                arrivals
                    .iter()
                    .filter(|(s, _)| self.claims(*s))
                    .map(|(_, a)| nodes(a))
                    .sum::<u32>()
            })
            .filter(|&n| n > 0)
            .collect();
        per_day.sort_unstable();
        per_day.get(per_day.len() / 2).copied().unwrap_or(0)
    }
}

/// The `share` percentile (0-1) of a pool's boots (seconds), nearest rank.
pub(crate) fn percentile_boot(boots: &[u32], share: f64) -> Option<Duration> {
    let mut sorted = boots.to_vec();
    sorted.sort_unstable();
    let rank = ((share * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted
        .get(rank - 1)
        .map(|&secs| Duration::from_secs(u64::from(secs)))
}

/// What to do now about the next expected arrival: bring nodes up when it
/// is at most `lead` away (a boot, plus the time until the next firing
/// could act), and hold them until `grace` after it, when the pre-warm's
/// lease lapses if nobody came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreWarm {
    pub expected: Expected,
    /// When the pre-warm's lease lapses.
    pub hold_until: OffsetDateTime,
}

/// The pre-warm due at `now`, if any: an expected arrival today (or just
/// after midnight) no more than `lead` ahead and not yet `grace` past, that
/// no pipeline has come for yet (a slot already served is not warmed again,
/// and does not hide the next one).
pub(crate) fn due(
    history: &[Arrival],
    now: OffsetDateTime,
    lead: Duration,
    grace: Duration,
    params: &Params,
) -> Option<PreWarm> {
    let tomorrow = now + time::Duration::days(1);
    let lead_t = time::Duration::try_from(lead).unwrap_or(time::Duration::ZERO);
    let grace_t = time::Duration::try_from(grace).unwrap_or(time::Duration::ZERO);
    [now, tomorrow]
        .into_iter()
        .map(|day| expected_on(history, day, params))
        .find_map(|day| {
            let served =
                |e: &Expected| history.iter().any(|a| serves(&day, e, a.at, grace, params));
            day.iter()
                .find(|e| {
                    e.at - lead_t <= now
                        && now < e.latest + grace_t
                        && !served(e)
                        && trusted(history, e, grace, params)
                })
                .copied()
        })
        .map(|expected| PreWarm {
            expected,
            hold_until: expected.latest + grace_t,
        })
}

/// Whether slot `e` has earned a pre-warm: on the past days of its kind
/// when the history then already predicted it, a pipeline came at least as
/// often as nobody did. A slot three days happened to share (random runs)
/// is predicted once, missed, and not warmed again; a trigger that skipped
/// a holiday still is. A slot never predicted before is trusted: it has no
/// record yet.
fn trusted(history: &[Arrival], e: &Expected, grace: Duration, params: &Params) -> bool {
    let day0 =
        e.at.to_offset(time::UtcOffset::UTC)
            .replace_time(time::Time::MIDNIGHT);
    let tol = params.tolerance.as_secs() as i64;
    let (mut hits, mut misses) = (0, 0);
    for k in 1..=i64::from(params.days) {
        let day = day0 - time::Duration::days(k);
        if !same_kind(day.weekday(), day0.weekday()) {
            continue;
        }
        let past = expected_on(history, day, params);
        let Some(p) = past
            .iter()
            .find(|p| circular_gap(seconds_of_day(p.at), seconds_of_day(e.at)) <= tol)
        else {
            continue;
        };
        if history
            .iter()
            .any(|a| serves(&past, p, a.at, grace, params))
        {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    misses <= hits
}

/// How a forecast would have done over the history it has: each past day
/// replayed with only what was known before it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Backtest {
    /// Days judged (the days of history after the first [`Params::min_days`]).
    pub days: u32,
    /// Predicted arrivals a pipeline came for (within the grace).
    pub hits: u32,
    /// Predicted arrivals nobody came for: warmed for nothing.
    pub misses: u32,
    /// Arrivals no prediction covered: they waited for a boot, as today.
    pub unforeseen: u32,
    /// Node-minutes a miss costs: its nodes from the pre-warm to the lapse.
    pub missed_node_minutes: f64,
}

impl Backtest {
    /// Hits over predictions: how often trusting it would have been right.
    pub(crate) fn precision(&self) -> Option<f64> {
        let predicted = self.hits + self.misses;
        (predicted > 0).then(|| f64::from(self.hits) / f64::from(predicted))
    }
}

/// Replays the forecast over every past day of `history` up to `now`.
pub(crate) fn backtest(
    history: &[Arrival],
    now: OffsetDateTime,
    lead: Duration,
    grace: Duration,
    params: &Params,
) -> Backtest {
    let mut result = Backtest::default();
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let Some(first) = history
        .iter()
        .map(|a| a.at.to_offset(time::UtcOffset::UTC).date())
        .min()
    else {
        return result;
    };
    let lead_minutes = lead.as_secs_f64() / 60.0;
    let mut date = first;
    while date < today {
        let day = date.midnight().assume_utc();
        // What a firing would have warmed: the slots it trusted then.
        let expected: Vec<Expected> = expected_on(history, day, params)
            .into_iter()
            .filter(|e| trusted(history, e, grace, params))
            .collect();
        let arrivals: Vec<&Arrival> = history
            .iter()
            .filter(|a| a.at.to_offset(time::UtcOffset::UTC).date() == date)
            .collect();
        if !expected.is_empty() || arrivals.iter().any(|_| true) {
            result.days += 1;
        }
        for e in &expected {
            let covered = arrivals
                .iter()
                .any(|a| serves(&expected, e, a.at, grace, params));
            if covered {
                result.hits += 1;
            } else {
                result.misses += 1;
                let nodes = f64::from(e.dedicated + e.low_priority);
                let spread = (e.latest - e.at).as_seconds_f64() / 60.0;
                result.missed_node_minutes +=
                    nodes * (lead_minutes + spread + grace.as_secs_f64() / 60.0);
            }
        }
        for a in &arrivals {
            let foreseen = expected.iter().any(|e| e.answered_by(a.at, grace, params));
            if !foreseen {
                result.unforeseen += 1;
            }
        }
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    result
}

#[cfg(test)]
mod tests;
