//! Marks the service keeps on a pool, beside its leases: an operator's
//! pause, and the backoff after Batch could not allocate what was asked.
//!
//! Like leases they live in the pool's own `metadata` (one entry each, JSON),
//! written with `If-Match`, so every instance sees the same marks and the
//! handler stays stateless. Everything here is pure; the writes go through
//! [`super::lease_write`].

use crate::batch::models::MetadataItem;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

pub(crate) const PAUSED: &str = "pool-resizer-paused";
pub(crate) const BACKOFF: &str = "pool-resizer-backoff";

/// The first backoff after an allocation failure, and the longest.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(5 * 60);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// Batch codes after which asking again at once only fails again: the
/// quota, or the region's capacity, does not change in seconds.
pub(crate) const BACKOFF_CODES: &[&str] = &[
    "AccountCoreQuotaReached",
    "AccountLowPriorityCoreQuotaReached",
    "AccountSpotCoreQuotaReached",
    "AllocationFailed",
    "AllocationTimedout",
];

/// An operator's pause: no route and no timer resizes the pool until unpaused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paused {
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub reason: Option<String>,
}

/// A failed allocation and until when scale-ups should not ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Backoff {
    /// Batch's code (`AccountCoreQuotaReached`...).
    pub code: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// This window's length: the next failure doubles it.
    pub minutes: u32,
}

impl Backoff {
    /// The window after a failure: 5 minutes, doubling with each failure
    /// that follows a previous window, to 30.
    pub(crate) fn after(
        previous: Option<&Backoff>,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Self {
        let first = (FIRST_BACKOFF.as_secs() / 60) as u32;
        let max = (MAX_BACKOFF.as_secs() / 60) as u32;
        let minutes = previous.map_or(first, |p| (p.minutes * 2).clamp(first, max));
        Backoff {
            code: code.to_owned(),
            message: message.to_owned(),
            until: (now + time::Duration::minutes(i64::from(minutes)))
                .replace_nanosecond(0)
                .unwrap_or(now),
            minutes,
        }
    }

    pub(crate) fn is_live(&self, now: OffsetDateTime) -> bool {
        self.until > now
    }
}

/// The mark `name`, if present and readable.
pub(crate) fn read<T: DeserializeOwned>(metadata: &[MetadataItem], name: &str) -> Option<T> {
    let item = metadata.iter().find(|item| item.name == name)?;
    serde_json::from_str(&item.value).ok()
}

/// The metadata with mark `name` set to `value` (`None`: removed), or
/// `None` when nothing would change.
pub(crate) fn set<T: Serialize>(
    metadata: &[MetadataItem],
    name: &str,
    value: Option<&T>,
) -> Option<Vec<MetadataItem>> {
    let mut next: Vec<MetadataItem> = metadata
        .iter()
        .filter(|item| item.name != name)
        .cloned()
        .collect();
    if let Some(value) = value {
        next.push(MetadataItem {
            name: name.to_owned(),
            value: serde_json::to_string(value).expect("marks are plain structs"),
        });
    }
    (next != metadata).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-24 06:00 UTC);

    #[test]
    fn backoff_doubles_to_thirty_minutes() {
        let first = Backoff::after(None, "AllocationFailed", "no capacity", NOW);
        assert_eq!(first.minutes, 5);
        assert_eq!(first.until, datetime!(2026-11-24 06:05 UTC));
        let minutes: Vec<u32> = std::iter::successors(Some(first), |b| {
            Some(Backoff::after(Some(b), "AllocationFailed", "", NOW))
        })
        .take(5)
        .map(|b| b.minutes)
        .collect();
        assert_eq!(minutes, [5, 10, 20, 30, 30]);
    }

    #[test]
    fn marks_are_set_read_and_removed_beside_other_metadata() {
        let other = MetadataItem {
            name: "owner".into(),
            value: "data-team".into(),
        };
        let paused = Paused {
            by: "ops".into(),
            since: NOW,
            reason: Some("maintenance".into()),
        };
        let md = set(std::slice::from_ref(&other), PAUSED, Some(&paused)).unwrap();
        assert_eq!(read::<Paused>(&md, PAUSED), Some(paused.clone()));
        assert_eq!(set(&md, PAUSED, Some(&paused)), None, "unchanged");
        let md = set::<Paused>(&md, PAUSED, None).unwrap();
        assert_eq!(md, vec![other]);
    }
}
