//! The event log: what happened, in order, in simulated time.
//!
//! Tests read it (in-process via [`crate::Simulator::events`] or over
//! `GET /_simulator/events?since=SEQ`) to assert invariants that a client cannot see by
//! polling, e.g. "no running task was ever killed" or "the target never dropped below N".
//!
//! JSON shape (stable; `seq` starts at 1 and never repeats, `at` is simulated RFC 3339):
//!
//! ```json
//! {"seq":1,"at":"2026-02-03T00:00:00.1Z","kind":"request","method":"POST","path":"/pools/p1/resize","status":202,"clientRequestId":"..."}
//! {"seq":2,"at":"...","kind":"poolTarget","poolId":"p1","targetDedicatedNodes":2,"targetLowPriorityNodes":0,"currentDedicatedNodes":0,"currentLowPriorityNodes":0,"allocationState":"resizing","state":"active"}
//! {"seq":3,"at":"...","kind":"node","poolId":"p1","nodeId":"tvmps_..._d","from":null,"to":"creating"}
//! {"seq":4,"at":"...","kind":"task","jobId":"j","taskId":"t","nodeId":"tvmps_..._d","from":"active","to":"running","reason":"scheduled"}
//! ```
//!
//! The log keeps the newest [`DEFAULT_EVENT_LOG_CAPACITY`] events (`--event-log-capacity`,
//! [`crate::SimulatorConfig::event_log_capacity`]); older ones are dropped and counted, so a
//! long run under load does not grow without bound, and a reader learns what it missed:
//! `GET /_simulator/events?since=SEQ` says `dropped` (events dropped so far: the oldest
//! kept is `dropped + 1`) and `missed` (of the events after `SEQ`, how many are gone).
//!
//! A node that leaves the pool ends with `"to":"removed"`; a deleted pool emits a final
//! `poolTarget` with `"state":"deleted"`. Task `reason`s: `scheduled`, `completed`,
//! `requeued` (its node was removed with `requeue`, or restarted), `terminated` (removed with
//! `terminate`), `nodeFailed` (its node went unusable).

use std::collections::VecDeque;

use serde::Serialize;
use time::OffsetDateTime;

use crate::clock::format_ts;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum EventKind {
    /// A request the server answered (also faults and auth failures; not dropped connections,
    /// which log `status: 0`).
    #[serde(rename_all = "camelCase")]
    Request {
        /// HTTP method.
        method: String,
        /// Path and query as received.
        path: String,
        /// The status answered.
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        /// The `client-request-id` header, when the client sent one.
        client_request_id: Option<String>,
    },
    /// Pool targets, allocation state or pool state changed.
    #[serde(rename_all = "camelCase")]
    PoolTarget {
        /// The pool.
        pool_id: String,
        /// Dedicated nodes asked for.
        target_dedicated_nodes: u32,
        /// Spot nodes asked for.
        target_low_priority_nodes: u32,
        /// Dedicated nodes in the pool now.
        current_dedicated_nodes: u32,
        /// Spot nodes in the pool now.
        current_low_priority_nodes: u32,
        /// `steady`, `resizing` or `stopping`.
        allocation_state: String,
        /// `active` or `deleting` (`deleted` on the last event).
        state: String,
    },
    /// A node changed state (`from: null` when it was allocated, `to: "removed"` when it left).
    #[serde(rename_all = "camelCase")]
    Node {
        /// The pool.
        pool_id: String,
        /// The node.
        node_id: String,
        /// The state it left (`None` when allocated).
        from: Option<String>,
        /// The state it entered (`removed` when it left the pool).
        to: String,
    },
    /// A task changed state.
    #[serde(rename_all = "camelCase")]
    Task {
        /// The job.
        job_id: String,
        /// The task.
        task_id: String,
        /// The node it runs on, when it has one.
        node_id: Option<String>,
        /// The state it left.
        from: String,
        /// The state it entered.
        to: String,
        /// Why (see the module docs).
        reason: String,
    },
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the log, from 1, never reused.
    pub seq: u64,
    #[serde(serialize_with = "ser_ts")]
    /// Simulated time it happened.
    pub at: OffsetDateTime,
    #[serde(flatten)]
    /// What happened.
    pub kind: EventKind,
}

fn ser_ts<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ts(*t))
}

/// Events the log keeps by default: at about 300 bytes each (168 for the record, the
/// rest its strings), some 15 MB at most where the unbounded log reached 77 MB in 12
/// minutes of load; still far more history than any test or benchmark here reads.
pub(crate) const DEFAULT_EVENT_LOG_CAPACITY: usize = 50_000;

/// Append-only log of the newest `capacity` events; `seq` keeps counting across drops.
#[derive(Debug)]
pub(crate) struct EventLog {
    events: VecDeque<Event>,
    capacity: usize,
    /// Events dropped so far: the oldest kept has `seq == dropped + 1`.
    dropped: u64,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_EVENT_LOG_CAPACITY)
    }
}

impl EventLog {
    /// A log keeping the newest `capacity` events (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, at: OffsetDateTime, kind: EventKind) {
        let seq = self.last_seq() + 1;
        if self.events.len() >= self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(Event { seq, at, kind });
    }

    /// Kept events with `seq > since`.
    pub(crate) fn since(&self, since: u64) -> Vec<Event> {
        let skip = usize::try_from(since.saturating_sub(self.dropped)).unwrap_or(usize::MAX);
        self.events.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.dropped + self.events.len() as u64
    }

    /// Events dropped so far (the oldest ones).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Of the events with `seq > since`, how many were dropped before anyone read them.
    pub(crate) fn missed(&self, since: u64) -> u64 {
        self.dropped.saturating_sub(since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(capacity: usize, events: u64) -> EventLog {
        let mut log = EventLog::with_capacity(capacity);
        for i in 0..events {
            log.push(
                OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i as i64),
                EventKind::Request {
                    method: "GET".into(),
                    path: format!("/pools/p{i}"),
                    status: 200,
                    client_request_id: None,
                },
            );
        }
        log
    }

    fn seqs(events: Vec<Event>) -> Vec<u64> {
        events.into_iter().map(|e| e.seq).collect()
    }

    #[test]
    fn keeps_the_newest_events_and_counts_the_dropped() {
        let log = log_of(3, 2);
        assert_eq!(
            (seqs(log.since(0)), log.dropped(), log.missed(0)),
            (vec![1, 2], 0, 0)
        );
        let log = log_of(3, 5);
        assert_eq!(seqs(log.since(0)), [3, 4, 5]);
        assert_eq!((log.last_seq(), log.dropped()), (5, 2));
        assert_eq!((seqs(log.since(1)), log.missed(1)), (vec![3, 4, 5], 1));
        assert_eq!((seqs(log.since(2)), log.missed(2)), (vec![3, 4, 5], 0));
        assert_eq!((seqs(log.since(4)), log.missed(4)), (vec![5], 0));
        assert_eq!((seqs(log.since(9)), log.missed(9)), (vec![], 0));
        assert_eq!(log.events.len(), 3, "never more than its capacity");
        let log = log_of(0, 2);
        assert_eq!(seqs(log.since(0)), [2], "a capacity of 0 keeps one");
    }
}
