//! The metric history a formula reads through `GetSample` and friends.
//!
//! Batch records a pool's task and node metrics every 30 seconds, and a sample reaches
//! the formulas about a minute after it was taken (the documentation warns that samples
//! of the last minute "may not be available"). So `$PendingTasks.GetSample(1)` at 10:05
//! reads the count as it was at about 10:04, and a task added at 10:04:30 is invisible to
//! an evaluation at 10:05: that lag is part of what a formula costs, and the simulated day
//! measures it.

use std::collections::VecDeque;

use time::OffsetDateTime;

/// Seconds between two samples.
pub(crate) const SAMPLE_PERIOD_SECS: i64 = 30;
/// Seconds after it was taken that a sample becomes visible to formulas.
pub(crate) const VISIBLE_AFTER_SECS: i64 = 60;
/// Samples kept per pool: a little over a day, enough for a week-day formula's
/// `GetSample(TimeInterval_Hour * 24)` and little memory (a few hundred KiB per pool).
pub(crate) const KEEP: usize = 3000;

/// The sampled service variables, in the documentation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    CpuPercent,
    WallClockSeconds,
    MemoryBytes,
    DiskBytes,
    DiskReadBytes,
    DiskWriteBytes,
    DiskReadOps,
    DiskWriteOps,
    NetworkInBytes,
    NetworkOutBytes,
    SampleNodeCount,
    ActiveTasks,
    RunningTasks,
    PendingTasks,
    SucceededTasks,
    FailedTasks,
    PreemptedNodeCount,
    UsableNodeCount,
}

impl Metric {
    pub(crate) const ALL: [Metric; 18] = [
        Metric::CpuPercent,
        Metric::WallClockSeconds,
        Metric::MemoryBytes,
        Metric::DiskBytes,
        Metric::DiskReadBytes,
        Metric::DiskWriteBytes,
        Metric::DiskReadOps,
        Metric::DiskWriteOps,
        Metric::NetworkInBytes,
        Metric::NetworkOutBytes,
        Metric::SampleNodeCount,
        Metric::ActiveTasks,
        Metric::RunningTasks,
        Metric::PendingTasks,
        Metric::SucceededTasks,
        Metric::FailedTasks,
        Metric::PreemptedNodeCount,
        Metric::UsableNodeCount,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Metric::CpuPercent => "$CPUPercent",
            Metric::WallClockSeconds => "$WallClockSeconds",
            Metric::MemoryBytes => "$MemoryBytes",
            Metric::DiskBytes => "$DiskBytes",
            Metric::DiskReadBytes => "$DiskReadBytes",
            Metric::DiskWriteBytes => "$DiskWriteBytes",
            Metric::DiskReadOps => "$DiskReadOps",
            Metric::DiskWriteOps => "$DiskWriteOps",
            Metric::NetworkInBytes => "$NetworkInBytes",
            Metric::NetworkOutBytes => "$NetworkOutBytes",
            Metric::SampleNodeCount => "$SampleNodeCount",
            Metric::ActiveTasks => "$ActiveTasks",
            Metric::RunningTasks => "$RunningTasks",
            Metric::PendingTasks => "$PendingTasks",
            Metric::SucceededTasks => "$SucceededTasks",
            Metric::FailedTasks => "$FailedTasks",
            Metric::PreemptedNodeCount => "$PreemptedNodeCount",
            Metric::UsableNodeCount => "$UsableNodeCount",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One sample: every metric at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub at: OffsetDateTime,
    pub values: [f64; 18],
}

impl Sample {
    pub(crate) fn new(at: OffsetDateTime) -> Self {
        Sample {
            at,
            values: [0.0; 18],
        }
    }

    pub(crate) fn set(&mut self, m: Metric, v: f64) {
        self.values[m as usize] = v;
    }

    pub(crate) fn get(&self, m: Metric) -> f64 {
        self.values[m as usize]
    }
}

/// A pool's samples, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    samples: VecDeque<Sample>,
}

impl History {
    pub(crate) fn record(&mut self, s: Sample) {
        if self.samples.len() >= KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// When the latest sample was taken.
    pub(crate) fn last_at(&self) -> Option<OffsetDateTime> {
        self.samples.back().map(|s| s.at)
    }

    /// The samples a formula evaluated at `now` can see, oldest first.
    pub(crate) fn visible(&self, now: OffsetDateTime) -> impl DoubleEndedIterator<Item = &Sample> {
        let cutoff = now - time::Duration::seconds(VISIBLE_AFTER_SECS);
        self.samples.iter().filter(move |s| s.at <= cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_sample_shows_a_minute_after_it_was_taken() {
        let t0 = datetime!(2026-02-02 10:00 UTC);
        let mut h = History::default();
        let mut s = Sample::new(t0);
        s.set(Metric::PendingTasks, 3.0);
        h.record(s);
        assert_eq!(h.visible(t0 + time::Duration::seconds(59)).count(), 0);
        let seen: Vec<f64> = h
            .visible(t0 + time::Duration::seconds(60))
            .map(|s| s.get(Metric::PendingTasks))
            .collect();
        assert_eq!(seen, vec![3.0]);
        assert_eq!(
            Metric::from_name("$PendingTasks"),
            Some(Metric::PendingTasks)
        );
        assert_eq!(Metric::from_name("$pendingtasks"), None);
    }

    #[test]
    fn keeps_a_bounded_history() {
        let t0 = datetime!(2026-02-02 0:00 UTC);
        let mut h = History::default();
        for i in 0..(KEEP as i64 + 10) {
            h.record(Sample::new(t0 + time::Duration::seconds(i * 30)));
        }
        assert_eq!(h.samples.len(), KEEP);
    }
}
