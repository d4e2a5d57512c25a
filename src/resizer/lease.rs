//! Leases: how several pipelines (and the schedule) share one pool.
//!
//! A lease says "until `expires`, this pool must keep at least N nodes for
//! me". It lives in the pool's own `metadata`, one entry per lease, so the
//! handler stays stateless, any number of Function instances agree, and no
//! extra storage is needed:
//!
//! ```text
//! name:  pool-resizer-lease:<leaseId>
//! value: {"dedicated":1,"lowPriority":0,"expires":"2026-11-24T09:00:00Z"}
//! ```
//!
//! Writers read the pool (ETag), edit the list, and `PATCH` it with
//! `If-Match`; a 412 means someone else wrote first, so they read again.
//! Other metadata entries are carried over untouched. Expired or unreadable
//! entries count as gone and are dropped on the next write.
//!
//! **Leases add up.** A pipeline's lease says "N nodes for my tasks", so the
//! pool needs what the pipelines' live leases ask *together* ([`lease_need`]),
//! capped by `MAX_*_NODES`: two pipelines that each asked for one node get
//! two, and neither's task waits for the other's. The service's own leases
//! are floors the pipelines run on, not more work: `schedule` (business
//! hours) and `warm` (nodes kept for the next pipeline) each count as "at
//! least N" beside that sum, so a pipeline inside the window, or inside a
//! keep-warm grace, takes the nodes already there.
//!
//! **The unit is a whole node, that is `taskSlotsPerNode` task slots.** A
//! pipeline asks for nodes, not for slots: pool-resizer does not know how
//! many tasks it will submit or how many slots each takes (`requiredSlots`),
//! so a lease of N nodes holds N nodes' worth of slots, N x `taskSlotsPerNode`.
//! Counting it as N slots would put a two-node pipeline on half a node of a
//! four-slot pool. Slots are where capacity is *used*, though: a node whose
//! slots another pipeline's tasks fill is not free for me, so a leased
//! scale-up is ready when the pool's ready nodes hold every lease ahead of
//! its own (first come, first served: metadata order, a renewal keeps its
//! place) and its own N nodes' worth of slots are free
//! ([`leases_ahead`], `decide`).
//!
//! Who may change a lease: whoever knows its id, which is therefore a
//! bearer secret (pipelines use their run id, a GUID). Answers never show
//! lease ids, only a fingerprint (`holder`), so a caller with a function key
//! cannot read another pipeline's id from pool-status and release it. The
//! ids `schedule` and `overflow` are the service's own and refused from callers.
//!
//! Nobody can lock a pool by filling the lease slots: a zero-node lease
//! takes no slot (it protects nothing), and once [`MAX_LEASES`] live leases
//! exist, a new one is merged into a single `overflow` entry (the counts
//! added up, the latest expiry) instead of being refused. Its nodes are then
//! kept until that entry expires, even if its holders release early (and a
//! merged holder that renews counts twice): more nodes held for a while is
//! the safe side of the trade, and the caps bound it.
//!
//! Everything here is pure; the read-modify-write loop is in `converge.rs`.

use crate::batch::models::MetadataItem;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

pub(crate) const LEASE_PREFIX: &str = "pool-resizer-lease:";
/// The lease the schedule holds while its window is open.
pub(crate) const SCHEDULE_LEASE: &str = "schedule";
/// Where leases beyond [`MAX_LEASES`] are merged.
pub(crate) const OVERFLOW_LEASE: &str = "overflow";
/// The lease that keeps released nodes warm for a while (`keepWarmMinutes`).
pub(crate) const WARM_LEASE: &str = "warm";
/// The lease a forecast's pre-warm holds until a grace after the arrival it
/// expects (`FORECAST=on`): a floor, so the pipeline that comes takes its
/// nodes instead of adding to them, and it lapses by itself when none does.
pub(crate) const FORECAST_LEASE: &str = "forecast";
/// Ids only the service itself uses.
pub(crate) const RESERVED_LEASE_IDS: &[&str] =
    &[SCHEDULE_LEASE, OVERFLOW_LEASE, WARM_LEASE, FORECAST_LEASE];
/// The schedule's lease is a floor ("at least N" inside the window): the
/// pipelines that run in the window run on its nodes, not beside them.
pub(crate) const FLOOR_LEASES: &[&str] = &[SCHEDULE_LEASE];
/// Spare nodes kept for pipelines still to come: keep-warm's released nodes
/// and a forecast's pre-warm. They add to what the pipelines' leases hold
/// (so a busy pool keeps them too), and the next pipelines to take a lease
/// take them over (their first hold shrinks the spares by what it asks), so
/// a pipeline that comes never adds a node beside a spare one. They lapse on
/// their own; the next timer firing after that lets their nodes go.
pub(crate) const SPARE_LEASES: &[&str] = &[FORECAST_LEASE, WARM_LEASE];
/// Bounds the metadata we add to a pool (Batch refuses oversized metadata
/// with `MetadataTooLarge`; 50 short entries stay far below any such limit).
pub const MAX_LEASES: usize = 50;
pub(crate) const DEFAULT_LEASE_MINUTES: u32 = 180;
pub(crate) const MAX_LEASE_MINUTES: u32 = 7 * 24 * 60;
/// The shortest `leaseIdleMinutes`: ADF takes seconds to a few minutes from
/// a scale-up's answer to the Custom activity's task (the activity queues,
/// the job and task are submitted), and the node is idle all that time.
pub(crate) const MIN_LEASE_IDLE_MINUTES: u32 = 5;

/// A caller's name for its lease, e.g. an ADF pipeline run id.
///
/// A bearer secret (whoever knows it can release the lease), so both
/// `Display` and `Debug` show its [`fingerprint`]: a log line, an answer or
/// a `{:?}` of any struct that holds one never carries the id itself. The
/// id is read only through [`LeaseId::as_str`], where it is stored.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a lease id has 1 to 80 characters: letters, digits, '-', '_', '.', ':'")]
/// A lease id outside the allowed characters or length.
pub struct InvalidLeaseId;

impl FromStr for LeaseId {
    type Err = InvalidLeaseId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=80).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidLeaseId)
        }
    }
}

impl LeaseId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fingerprint(self))
    }
}

impl fmt::Debug for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseId({})", fingerprint(self))
    }
}

impl LeaseId {
    /// Whether the id belongs to the service (`schedule`, `overflow`).
    pub(crate) fn is_reserved(&self) -> bool {
        RESERVED_LEASE_IDS.contains(&self.0.as_str())
    }
}

/// What answers show instead of a lease id: the service's own names as they
/// are, a caller's id as `sha256:` and 12 hex digits of its hash (enough to
/// tell leases apart and for a holder to recognise its own, useless for
/// releasing someone else's).
pub fn fingerprint(id: &LeaseId) -> String {
    if id.is_reserved() {
        return id.0.clone();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.0.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Lease {
    /// Shown as its fingerprint, never as the id itself.
    #[serde(rename = "holder", serialize_with = "as_fingerprint")]
    pub(crate) id: LeaseId,
    pub(crate) dedicated: u32,
    pub(crate) low_priority: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires: OffsetDateTime,
    /// A pipeline's lease that lapses once its nodes stand idle this long
    /// (`leaseIdleMinutes`): what bounds the bill of a pipeline that fails
    /// before its scale-down, long before `expires` does.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) idle: Option<IdleLimit>,
}

/// How long a lease's nodes may stand idle before the reconcile lets the
/// lease go ([`idle::idle_leases`]), and when its holder last took or renewed
/// it: nodes idle since before that are not evidence that the holder is done
/// (it may be about to use them), so the idle time counts from the later of
/// the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdleLimit {
    #[serde(rename = "idleMinutes")]
    pub(crate) minutes: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) held_at: OffsetDateTime,
}

fn as_fingerprint<S: serde::Serializer>(id: &LeaseId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fingerprint(id))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredLease {
    dedicated: u32,
    low_priority: u32,
    #[serde(with = "time::serde::rfc3339")]
    expires: OffsetDateTime,
    /// Absent on leases written without `leaseIdleMinutes` (and by versions
    /// before it): they lapse only when they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_minutes: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    held_at: Option<OffsetDateTime>,
}

impl Lease {
    fn parse(item: &MetadataItem) -> Option<Lease> {
        let id = item.name.strip_prefix(LEASE_PREFIX)?.parse().ok()?;
        let stored: StoredLease = serde_json::from_str(&item.value).ok()?;
        Some(Lease {
            id,
            dedicated: stored.dedicated,
            low_priority: stored.low_priority,
            expires: stored.expires,
            idle: match (stored.idle_minutes, stored.held_at) {
                (Some(minutes), Some(held_at)) => Some(IdleLimit { minutes, held_at }),
                _ => None,
            },
        })
    }

    fn to_item(&self) -> MetadataItem {
        let stored = StoredLease {
            dedicated: self.dedicated,
            low_priority: self.low_priority,
            expires: whole_seconds(self.expires),
            idle_minutes: self.idle.map(|idle| idle.minutes),
            held_at: self.idle.map(|idle| whole_seconds(idle.held_at)),
        };
        MetadataItem {
            name: format!("{LEASE_PREFIX}{}", self.id.as_str()),
            value: serde_json::to_string(&stored).expect("a lease always serializes"),
        }
    }

    pub(crate) fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires > now
    }

    /// `schedule`: a floor, not a pipeline's work.
    pub(crate) fn is_floor(&self) -> bool {
        FLOOR_LEASES.contains(&self.id.as_str())
    }

    /// `warm` or `forecast`: spare nodes for pipelines still to come.
    pub(crate) fn is_spare(&self) -> bool {
        SPARE_LEASES.contains(&self.id.as_str())
    }
}

/// Times are stored to the second: shorter metadata, and a lease read back
/// equals the one written (a conditional [`LeaseEdit::Lapse`] compares them).
fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

fn is_lease_entry(item: &MetadataItem) -> bool {
    item.name.starts_with(LEASE_PREFIX)
}

/// Lease entries a pool still carries after they expired: their holders
/// never released them (a pipeline that failed before its scale-down, a
/// grace or a pre-warm that ran out). Nothing keeps their nodes any more.
pub(crate) fn expired_leases(metadata: &[MetadataItem], now: OffsetDateTime) -> Vec<Lease> {
    metadata
        .iter()
        .filter_map(Lease::parse)
        .filter(|lease| !lease.is_live(now))
        .collect()
}

/// Live leases on a pool, in id order.
pub(crate) fn live_leases(metadata: &[MetadataItem], now: OffsetDateTime) -> Vec<Lease> {
    let mut leases: Vec<Lease> = metadata
        .iter()
        .filter_map(Lease::parse)
        .filter(|lease| lease.is_live(now))
        .collect();
    leases.sort_by(|a, b| a.id.cmp(&b.id));
    leases
}

/// Live leases in the order they were first taken (metadata order).
fn live_in_line(metadata: &[MetadataItem], now: OffsetDateTime) -> impl Iterator<Item = Lease> {
    metadata
        .iter()
        .filter_map(Lease::parse)
        .filter(move |lease| lease.is_live(now))
}

/// (dedicated, low-priority) node counts.
pub(crate) type Counts = (u32, u32);

/// No cap: what a want carries when its face sets none.
pub(crate) const UNCAPPED: Counts = (u32::MAX, u32::MAX);

/// What the live leases need of the pool, `released` counted as gone (a
/// scale-down judged for the pipeline releasing it, written or not): the
/// pipelines' leases and the spares (`warm`, `forecast`) added up, at least
/// the floor (`schedule`), each kind capped by `cap` (`MAX_*_NODES`).
pub(crate) fn lease_need(
    metadata: &[MetadataItem],
    now: OffsetDateTime,
    released: Option<&LeaseId>,
    cap: Counts,
) -> Counts {
    let (mut floor, mut sum): (Counts, Counts) = ((0, 0), (0, 0));
    for lease in live_in_line(metadata, now).filter(|lease| Some(&lease.id) != released) {
        if lease.is_floor() {
            floor = (
                floor.0.max(lease.dedicated),
                floor.1.max(lease.low_priority),
            );
        } else {
            sum = (
                sum.0.saturating_add(lease.dedicated),
                sum.1.saturating_add(lease.low_priority),
            );
        }
    }
    (floor.0.max(sum.0).min(cap.0), floor.1.max(sum.1).min(cap.1))
}

/// What the pipelines' leases ahead of `me` in line ask together: `me` is
/// served once the ready nodes hold these and its own. A holder not in line
/// by its id (merged into `overflow`, or not written yet) queues last.
pub(crate) fn leases_ahead(metadata: &[MetadataItem], now: OffsetDateTime, me: &LeaseId) -> Counts {
    let mut ahead = (0u32, 0u32);
    for lease in live_in_line(metadata, now).filter(|lease| !lease.is_floor() && !lease.is_spare())
    {
        if &lease.id == me {
            break;
        }
        ahead = (
            ahead.0.saturating_add(lease.dedicated),
            ahead.1.saturating_add(lease.low_priority),
        );
    }
    ahead
}

/// Live leases a forced shrink to `(dedicated, low_priority)` goes below: a
/// floor above it, and the pipelines' leases that no longer fit in it, in
/// line (the first come keep their nodes, as far as the shrink leaves any).
pub(crate) fn leases_above(
    metadata: &[MetadataItem],
    now: OffsetDateTime,
    dedicated: u32,
    low_priority: u32,
) -> Vec<Lease> {
    let mut held = (0u32, 0u32);
    let mut above: Vec<Lease> = live_in_line(metadata, now)
        .filter(|lease| {
            if lease.is_floor() {
                return lease.dedicated > dedicated || lease.low_priority > low_priority;
            }
            held = (
                held.0.saturating_add(lease.dedicated),
                held.1.saturating_add(lease.low_priority),
            );
            held.0 > dedicated || held.1 > low_priority
        })
        .collect();
    above.sort_by(|a, b| a.id.cmp(&b.id));
    above
}

/// A change to the lease list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaseEdit {
    /// Add or renew.
    Hold(Lease),
    Release(LeaseId),
    /// The reconcile letting go of a lease its holder left behind (expired,
    /// or idle past its limit), as it saw it: if the holder renewed it since,
    /// the entry differs and stays.
    Lapse(Lease),
}

impl LeaseEdit {
    pub(crate) fn lease_id(&self) -> &LeaseId {
        match self {
            LeaseEdit::Hold(lease) | LeaseEdit::Lapse(lease) => &lease.id,
            LeaseEdit::Release(id) => id,
        }
    }
}

/// The metadata after `edit`, or `None` when nothing would change (so no
/// write is needed). Expired and unreadable lease entries are dropped;
/// entries that are not leases keep their order and values. A renewal keeps
/// its place in line; a new hold queues last. A zero-node hold is a release;
/// a hold beyond [`MAX_LEASES`] merges into `overflow`.
pub(crate) fn apply(
    metadata: &[MetadataItem],
    edit: &LeaseEdit,
    now: OffsetDateTime,
) -> Option<Vec<MetadataItem>> {
    let target = format!("{LEASE_PREFIX}{}", edit.lease_id().as_str());
    let mut next: Vec<MetadataItem> = metadata
        .iter()
        .filter(|item| !is_lease_entry(item) || Lease::parse(item).is_some_and(|l| l.is_live(now)))
        .cloned()
        .collect();
    let held_at = next.iter().position(|item| item.name == target);
    match edit {
        LeaseEdit::Hold(lease) if lease.dedicated > 0 || lease.low_priority > 0 => {
            if let Some(at) = held_at {
                next[at] = lease.to_item();
                return (next != metadata).then_some(next);
            }
            // A pipeline's first hold takes over spare nodes kept for it.
            if !lease.id.is_reserved() {
                take_over_spares(&mut next, lease);
            }
            let overflow_name = format!("{LEASE_PREFIX}{OVERFLOW_LEASE}");
            let taken = next
                .iter()
                .filter(|item| is_lease_entry(item) && item.name != overflow_name)
                .count();
            if taken < MAX_LEASES {
                next.push(lease.to_item());
            } else {
                let merged = match next.iter().position(|item| item.name == overflow_name) {
                    Some(at) => {
                        let old = Lease::parse(&next.remove(at));
                        merge(old, lease)
                    }
                    None => merge(None, lease),
                };
                next.push(merged.to_item());
            }
        }
        LeaseEdit::Lapse(seen) => {
            if let Some(at) = held_at
                && Lease::parse(&next[at]).as_ref() == Some(seen)
            {
                next.remove(at);
            }
        }
        _ => {
            if let Some(at) = held_at {
                next.remove(at);
            }
        }
    }
    (next != metadata).then_some(next)
}

/// Shrinks the spare leases in `entries` by what `arriving` asks (a pre-warm
/// first, then keep-warm): the nodes they keep become the pipeline's. A
/// spare left with nothing is dropped.
fn take_over_spares(entries: &mut Vec<MetadataItem>, arriving: &Lease) {
    let mut wanted = (arriving.dedicated, arriving.low_priority);
    for spare_id in SPARE_LEASES {
        let name = format!("{LEASE_PREFIX}{spare_id}");
        let Some(at) = entries.iter().position(|item| item.name == name) else {
            continue;
        };
        let Some(mut spare) = Lease::parse(&entries[at]) else {
            continue;
        };
        let taken = (
            spare.dedicated.min(wanted.0),
            spare.low_priority.min(wanted.1),
        );
        spare.dedicated -= taken.0;
        spare.low_priority -= taken.1;
        wanted = (wanted.0 - taken.0, wanted.1 - taken.1);
        if spare.dedicated == 0 && spare.low_priority == 0 {
            entries.remove(at);
        } else {
            entries[at] = spare.to_item();
        }
    }
}

/// The overflow entry after taking in `lease`: the counts added up (its
/// holders need their nodes together) and the latest expiry, so no merged
/// holder gets less than it asked.
fn merge(overflow: Option<Lease>, lease: &Lease) -> Lease {
    let id: LeaseId = OVERFLOW_LEASE.parse().expect("a valid lease id");
    // Merged holders share one entry, so none of them can be told idle:
    // it lapses when it expires.
    match overflow {
        Some(old) => Lease {
            id,
            dedicated: old.dedicated.saturating_add(lease.dedicated),
            low_priority: old.low_priority.saturating_add(lease.low_priority),
            expires: old.expires.max(lease.expires),
            idle: None,
        },
        None => Lease {
            id,
            idle: None,
            ..lease.clone()
        },
    }
}

pub(crate) mod idle;
#[cfg(test)]
mod tests;
