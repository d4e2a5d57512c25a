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
//! A node that leaves the pool ends with `"to":"removed"`; a deleted pool emits a final
//! `poolTarget` with `"state":"deleted"`. Task `reason`s: `scheduled`, `completed`,
//! `requeued` (its node was removed with `requeue`, or restarted), `terminated` (removed with
//! `terminate`), `nodeFailed` (its node went unusable).

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
        method: String,
        path: String,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_request_id: Option<String>,
    },
    /// Pool targets, allocation state or pool state changed.
    #[serde(rename_all = "camelCase")]
    PoolTarget {
        pool_id: String,
        target_dedicated_nodes: u32,
        target_low_priority_nodes: u32,
        current_dedicated_nodes: u32,
        current_low_priority_nodes: u32,
        allocation_state: String,
        state: String,
    },
    /// A node changed state (`from: null` when it was allocated, `to: "removed"` when it left).
    #[serde(rename_all = "camelCase")]
    Node {
        pool_id: String,
        node_id: String,
        from: Option<String>,
        to: String,
    },
    /// A task changed state.
    #[serde(rename_all = "camelCase")]
    Task {
        job_id: String,
        task_id: String,
        node_id: Option<String>,
        from: String,
        to: String,
        reason: String,
    },
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: u64,
    #[serde(serialize_with = "ser_ts")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn ser_ts<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ts(*t))
}

/// Append-only log.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
}

impl EventLog {
    pub fn push(&mut self, at: OffsetDateTime, kind: EventKind) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event { seq, at, kind });
    }

    /// Events with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<Event> {
        let start = usize::try_from(since)
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        self.events[start..].to_vec()
    }

    pub fn last_seq(&self) -> u64 {
        self.events.len() as u64
    }
}
