//! A pool's rhythm, remembered: when scale-ups arrive and how long its nodes
//! took to become ready (issue 21, item 1), for timing the looks of a wait
//! ([`super::poll`]) and, later, for forecasting arrivals.
//!
//! Kept where the leases are, in the pool's own `metadata`, one entry, so
//! every instance reads the same history and a restart loses nothing:
//!
//! ```text
//! name:  pool-resizer-rhythm
//! value: {"a":[[29925000,1,0],[29925075,2,0]],"b":[212,205],"t":1795500212}
//! ```
//!
//! `a`: arrivals, oldest first, each `[unix minute, dedicated, low-priority]`;
//! `d` (when there are any): callers' scale-downs, oldest first, unix
//! minutes, the gaps keep-warm `auto` learns from (`super::keep_warm`);
//! `b`: boots, oldest first, seconds from a node's allocation to its being
//! ready; `t`: when the newest recorded boot ended (unix seconds, Batch's
//! clock), so a node is recorded once whoever sees it, on whichever
//! instance. Short keys and numbers only: Batch refuses
//! oversized metadata with `MetadataTooLarge` and documents no limit, so the
//! entry is bounded ([`MAX_ARRIVALS`], [`MAX_BOOTS`], [`MAX_DEPARTURES`],
//! [`MAX_BYTES`]), and a
//! write Batch refuses anyway is retried with the history [`compact`]ed, then
//! without it: the history never fails the write it rides on.
//!
//! **What counts as an arrival.** A caller's scale-up, once: a leased one
//! when its lease is first taken (riding on that lease `PATCH`, so no extra
//! Batch call), a plain one in the write after its answer is decided. Not a
//! renewal of a live lease, not a status poll, and never the service's own
//! scale-ups: the schedule's (its lease id is the service's), and the
//! pre-warm a forecast will start. That is the hook: [`Origin`] on the want
//! and [`counts_as_arrival`] on a lease id; a forecast must not feed itself.
//!
//! **What counts as a boot.** A ready node not recorded yet (ready after
//! `t`), timed by Batch's own stamps: `allocationTime` to its start task's
//! `endTime`, or without a start task to its `lastBootTime` (the simulator
//! turns such a node idle at that instant; Azure a few seconds later), so a
//! sample depends neither on how often anyone looked nor on the tasks the
//! node ran since. A node whose boot took longer than the provision deadline
//! (a reboot, a reimage) is no sample. Seen and recorded by any scale-up
//! that lists nodes, the service's own included: a boot is a boot.
//!
//! Everything here is pure; the writes go through [`super::lease_write`].

use super::lease::{LeaseId, OVERFLOW_LEASE, RESERVED_LEASE_IDS};
use crate::batch::models::MetadataItem;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// The metadata entry's name.
pub(crate) const RHYTHM: &str = "pool-resizer-rhythm";
/// Batch's code for metadata above its (undocumented) limit.
pub(crate) const TOO_LARGE: &str = "MetadataTooLarge";
/// Arrivals kept: about a week of a dozen runs a day.
pub(crate) const MAX_ARRIVALS: usize = 96;
/// Boots kept: enough to know a pool's spread, few enough to follow a change.
pub(crate) const MAX_BOOTS: usize = 24;
/// Scale-downs kept: one for each arrival kept.
pub(crate) const MAX_DEPARTURES: usize = 96;
/// The entry's value at most (bytes): about 2.5 KB when every list is full.
pub(crate) const MAX_BYTES: usize = 3072;

/// Who asked for a scale-up: only callers' scale-ups are the pool's rhythm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Origin {
    /// A pipeline, the CLI, anyone calling the API.
    #[default]
    Caller,
    /// The service itself (the schedule's timer; later, a forecast's
    /// pre-warm): its scale-ups are not arrivals.
    Service,
}

/// Whether taking lease `id` for the first time is a caller arriving: every
/// id but the service's own (`schedule`, `warm`, and any the service adds
/// later for its pre-warm); `overflow` takes in callers' leases.
pub(crate) fn counts_as_arrival(id: &LeaseId) -> bool {
    id.as_str() == OVERFLOW_LEASE || !RESERVED_LEASE_IDS.contains(&id.as_str())
}

/// One arrival: when (unix minute) and what it asked.
pub(crate) type Arrival = (i64, u32, u32);

/// The history as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rhythm {
    #[serde(rename = "a", default)]
    pub arrivals: Vec<Arrival>,
    /// Seconds from allocation to ready.
    #[serde(rename = "b", default)]
    pub boots: Vec<u32>,
    /// When the newest recorded boot ended (unix seconds, Batch's clock).
    #[serde(rename = "t", default)]
    pub boots_until: i64,
    /// Callers' scale-downs (unix minutes), for keep-warm `auto`.
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    pub departures: Vec<i64>,
}

/// What one scale-up (or a caller's scale-down) adds to the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Note {
    pub arrival: Option<Arrival>,
    /// A caller's scale-down (unix minute).
    pub departure: Option<i64>,
    /// (when the node became ready, unix seconds; its boot, seconds).
    pub boots: Vec<(i64, u32)>,
}

impl Note {
    /// An arrival at `at` asking for these nodes.
    pub(crate) fn arrival(at: OffsetDateTime, dedicated: u32, low_priority: u32) -> Self {
        Note {
            arrival: Some((at.unix_timestamp().div_euclid(60), dedicated, low_priority)),
            ..Note::default()
        }
    }

    /// A caller's scale-down at `at`.
    pub(crate) fn departure(at: OffsetDateTime) -> Self {
        Note {
            departure: Some(at.unix_timestamp().div_euclid(60)),
            ..Note::default()
        }
    }

    /// The boots among `ready` (when each node became ready, its boot) not
    /// in `rhythm` yet, and no longer than `deadline`.
    pub(crate) fn boots(
        rhythm: &Rhythm,
        ready: &[(OffsetDateTime, Duration)],
        deadline: Duration,
    ) -> Vec<(i64, u32)> {
        let mut boots: Vec<(i64, u32)> = ready
            .iter()
            .filter(|(at, boot)| at.unix_timestamp() > rhythm.boots_until && *boot <= deadline)
            .map(|(at, boot)| {
                (
                    at.unix_timestamp(),
                    boot.as_secs().try_into().unwrap_or(u32::MAX),
                )
            })
            .collect();
        boots.sort_unstable();
        boots
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.arrival.is_none() && self.departure.is_none() && self.boots.is_empty()
    }
}

/// The pool's history; empty when it has none or it does not read.
pub(crate) fn read(metadata: &[MetadataItem]) -> Rhythm {
    metadata
        .iter()
        .find(|item| item.name == RHYTHM)
        .and_then(|item| serde_json::from_str(&item.value).ok())
        .unwrap_or_default()
}

/// The metadata with `note` added to the history (the oldest entries beyond
/// the bounds dropped), or `None` when there is nothing to add. Every other
/// entry keeps its place and value.
pub(crate) fn record(metadata: &[MetadataItem], note: &Note) -> Option<Vec<MetadataItem>> {
    if note.is_empty() {
        return None;
    }
    let mut rhythm = read(metadata);
    // Someone may have recorded these boots since the note was taken.
    let boots: Vec<(i64, u32)> = note
        .boots
        .iter()
        .copied()
        .filter(|(at, _)| *at > rhythm.boots_until)
        .collect();
    if note.arrival.is_none() && note.departure.is_none() && boots.is_empty() {
        return None;
    }
    rhythm.arrivals.extend(note.arrival);
    rhythm.departures.extend(note.departure);
    rhythm.boots.extend(boots.iter().map(|(_, secs)| secs));
    rhythm.boots_until = boots
        .iter()
        .map(|(at, _)| *at)
        .fold(rhythm.boots_until, i64::max);
    Some(store(metadata, rhythm, 0))
}

/// The metadata with its history cut for a write Batch refused as too
/// large: `level` 1 keeps the newest half, 2 a quarter, 3 or more drops the
/// entry. `None` when there is no history left to cut.
pub(crate) fn compact(metadata: &[MetadataItem], level: u32) -> Option<Vec<MetadataItem>> {
    let at = metadata.iter().position(|item| item.name == RHYTHM)?;
    if level >= 3 {
        let mut next = metadata.to_vec();
        next.remove(at);
        return Some(next);
    }
    Some(store(metadata, read(metadata), level))
}

/// Writes `rhythm` into the metadata, bounded, keeping `1/2^level` of it.
fn store(metadata: &[MetadataItem], mut rhythm: Rhythm, level: u32) -> Vec<MetadataItem> {
    let keep = |len: usize, max: usize| (len.min(max) >> level).max(1).min(len);
    let arrivals = keep(rhythm.arrivals.len(), MAX_ARRIVALS);
    rhythm.arrivals.drain(..rhythm.arrivals.len() - arrivals);
    let boots = keep(rhythm.boots.len(), MAX_BOOTS);
    rhythm.boots.drain(..rhythm.boots.len() - boots);
    let departures = keep(rhythm.departures.len(), MAX_DEPARTURES);
    rhythm
        .departures
        .drain(..rhythm.departures.len() - departures);
    let mut value = serde_json::to_string(&rhythm).expect("numbers always serialize");
    while value.len() > MAX_BYTES && !(rhythm.arrivals.is_empty() && rhythm.departures.is_empty()) {
        // Whichever list is longer gives up its oldest entry.
        if rhythm.arrivals.len() >= rhythm.departures.len() {
            rhythm.arrivals.remove(0);
        } else {
            rhythm.departures.remove(0);
        }
        value = serde_json::to_string(&rhythm).expect("numbers always serialize");
    }
    let item = MetadataItem {
        name: RHYTHM.to_owned(),
        value,
    };
    let mut next = metadata.to_vec();
    match next.iter().position(|i| i.name == RHYTHM) {
        Some(at) => next[at] = item,
        None => next.push(item),
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-24 06:00 UTC);

    fn lease_entry() -> MetadataItem {
        MetadataItem {
            name: "pool-resizer-lease:run-1".into(),
            value: r#"{"dedicated":1,"lowPriority":0,"expires":"2026-11-24T09:00:00Z"}"#.into(),
        }
    }

    #[test]
    fn arrivals_and_boots_are_kept_beside_other_metadata() {
        let md = vec![lease_entry()];
        let md = record(&md, &Note::arrival(NOW, 1, 0)).unwrap();
        let md = record(
            &md,
            &Note {
                arrival: Some((NOW.unix_timestamp() / 60 + 5, 2, 0)),
                boots: vec![(1_795_500_205, 205), (1_795_500_212, 212)],
                departure: None,
            },
        )
        .unwrap();
        assert_eq!(md[0], lease_entry(), "other entries untouched, first");
        let rhythm = read(&md);
        assert_eq!(
            rhythm.arrivals,
            [(29_925_000, 1, 0), (29_925_005, 2, 0)],
            "unix minutes"
        );
        assert_eq!(rhythm.boots, [205, 212]);
        assert_eq!(md[1].name, RHYTHM);
        assert_eq!(
            md[1].value,
            r#"{"a":[[29925000,1,0],[29925005,2,0]],"b":[205,212],"t":1795500212}"#
        );
        assert_eq!(record(&md, &Note::default()), None, "nothing to add");
        // The same boots seen again (another poll, another instance): not twice.
        let again = Note {
            arrival: None,
            boots: vec![(1_795_500_212, 212)],
            departure: None,
        };
        assert_eq!(record(&md, &again), None);
        let ready = [
            (
                OffsetDateTime::from_unix_timestamp(1_795_500_212).unwrap(),
                Duration::from_secs(212),
            ),
            (
                OffsetDateTime::from_unix_timestamp(1_795_500_300).unwrap(),
                Duration::from_secs(190),
            ),
            (
                OffsetDateTime::from_unix_timestamp(1_795_500_400).unwrap(),
                Duration::from_secs(3600),
            ),
        ];
        assert_eq!(
            Note::boots(&read(&md), &ready, Duration::from_secs(900)),
            [(1_795_500_300, 190)],
            "new, and not a reboot"
        );
    }

    #[test]
    fn the_history_stays_bounded_however_long_it_runs() {
        let mut md = vec![lease_entry()];
        for i in 0..1000 {
            let note = Note {
                arrival: Some((29_401_920 + i, 1, 0)),
                boots: vec![(i + 1, 9999)],
                departure: None,
            };
            md = record(&md, &note).unwrap();
        }
        let rhythm = read(&md);
        assert_eq!(rhythm.arrivals.len(), MAX_ARRIVALS);
        assert_eq!(
            rhythm.arrivals.last().unwrap().0,
            29_401_920 + 999,
            "the newest kept"
        );
        assert_eq!(rhythm.boots.len(), MAX_BOOTS);
        let value = &md.iter().find(|i| i.name == RHYTHM).unwrap().value;
        assert!(value.len() <= MAX_BYTES, "{}", value.len());
        assert_eq!(md.len(), 2, "one entry");
        // Wide arrivals: the byte bound drops the oldest.
        for i in 0..200 {
            let note = Note {
                arrival: Some((29_401_920 + i, u32::MAX, u32::MAX)),
                boots: vec![(10_000 + i, 99_999)],
                departure: None,
            };
            md = record(&md, &note).unwrap();
        }
        let value = &md.iter().find(|i| i.name == RHYTHM).unwrap().value;
        assert!(value.len() <= MAX_BYTES, "{}", value.len());
        assert!(read(&md).arrivals.len() < MAX_ARRIVALS);
    }

    #[test]
    fn compacting_halves_then_drops_the_history_and_nothing_else() {
        let mut md = vec![lease_entry()];
        for i in 0..40 {
            md = record(
                &md,
                &Note {
                    arrival: Some((i, 1, 0)),
                    boots: vec![(i + 1, 200)],
                    departure: None,
                },
            )
            .unwrap();
        }
        let half = compact(&md, 1).unwrap();
        assert_eq!(read(&half).arrivals.len(), 20);
        assert_eq!(read(&half).arrivals[0].0, 20, "the newest half");
        assert_eq!(read(&half).boots.len(), 12);
        assert_eq!(read(&compact(&md, 2).unwrap()).arrivals.len(), 10);
        let gone = compact(&md, 3).unwrap();
        assert_eq!(gone, vec![lease_entry()]);
        assert_eq!(compact(&gone, 1), None, "nothing left to cut");
    }

    #[test]
    fn unreadable_history_starts_over_and_service_leases_are_no_arrivals() {
        let md = vec![MetadataItem {
            name: RHYTHM.into(),
            value: "{not json".into(),
        }];
        assert_eq!(read(&md), Rhythm::default());
        let md = record(&md, &Note::arrival(NOW, 1, 0)).unwrap();
        assert_eq!(read(&md).arrivals.len(), 1);
        assert_eq!(md.len(), 1, "replaced in place");
        for (id, arrival) in [
            ("run-1", true),
            ("overflow", true),
            ("schedule", false),
            ("warm", false),
        ] {
            assert_eq!(counts_as_arrival(&id.parse().unwrap()), arrival, "{id}");
        }
    }
}
