//! Fault injection.
//!
//! Two kinds of faults:
//!
//! * **Request faults** hit the next `count` requests that match a method and/or a path
//!   substring (any request, including the token endpoint `/msi/token`; never the control
//!   surface): answer with a status (429/500/503 with a Batch error body and optional
//!   `Retry-After`), add real-time latency, or drop the connection without answering.
//! * **World faults**: make a pool's next resize fail after `k` nodes (`AllocationFailed`)
//!   or stall (only the resize timeout ends it: `AllocationTimedout`), or push a node into
//!   `unusable` / `starttaskfailed` / `preempted` right now, or restart it (`rebooting`,
//!   `reimaging`: it boots again, start task included).
//!
//! The same [`FaultSpec`] JSON is accepted by `POST /_simulator/faults` and by
//! [`Faults::inject`]:
//!
//! ```json
//! {"kind":"status","status":429,"retryAfter":2,"method":"POST","pathContains":"/resize","count":1}
//! {"kind":"status","status":500,"code":"OperationTimedOut"}
//! {"kind":"status","status":503}                       // ServerBusy, Retry-After 1 by default
//! {"kind":"latency","ms":300,"pathContains":"/pools","count":5}
//! {"kind":"drop","method":"GET","count":1}
//! {"kind":"allocationFailure","poolId":"p1","afterNodes":1}
//! {"kind":"allocationStall","poolId":"p1"}
//! {"kind":"nodeState","poolId":"p1","state":"unusable"}          // nodeId optional
//! {"kind":"nodeState","poolId":"p1","state":"rebooting"}         // or "reimaging"
//! ```

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::errors::ErrorReply;
use crate::model::node::NodeState;
use crate::model::pool::AllocFault;
use crate::world::World;

/// A fault, as JSON (`kind` selects the variant; field names camelCase).
///
/// The request faults (`Status`, `Latency`, `Drop`) share their last three fields: the
/// requests they hit (`method`, `pathContains`: any when left out) and how many (`count`,
/// default 1). Once armed, `count` is what is left: [`Faults::list`] shows it going down.
/// Each variant spells them out rather than sharing a struct: a fault is written flat in
/// Rust as in JSON, and serde's `flatten` would not go with `deny_unknown_fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultSpec {
    /// Answer matching requests with `status` and a Batch error body.
    #[serde(rename_all = "camelCase")]
    Status {
        /// HTTP status to answer.
        status: u16,
        /// Error code; default `TooManyRequests` (429), `InternalError` (500), `ServerBusy` (503).
        code: Option<String>,
        /// `Retry-After` seconds (default 1 for 429/503, none otherwise).
        retry_after: Option<u64>,
        /// Only requests with this method (any when `None`).
        method: Option<String>,
        /// Only requests whose path contains this.
        path_contains: Option<String>,
        #[serde(default = "one")]
        /// How many requests to hit (what is left, once armed).
        count: u32,
    },
    /// Delay matching requests by `ms` real milliseconds, then serve them normally.
    #[serde(rename_all = "camelCase")]
    Latency {
        /// Real milliseconds to wait.
        ms: u64,
        /// Only requests with this method (any when `None`).
        method: Option<String>,
        /// Only requests whose path contains this.
        path_contains: Option<String>,
        #[serde(default = "one")]
        /// How many requests to hit (what is left, once armed).
        count: u32,
    },
    /// Close the connection without answering.
    #[serde(rename_all = "camelCase")]
    Drop {
        /// Only requests with this method (any when `None`).
        method: Option<String>,
        /// Only requests whose path contains this.
        path_contains: Option<String>,
        #[serde(default = "one")]
        /// How many requests to hit (what is left, once armed).
        count: u32,
    },
    /// The pool's next resize allocates at most `afterNodes` nodes, then `AllocationFailed`.
    #[serde(rename_all = "camelCase")]
    AllocationFailure {
        /// The pool.
        pool_id: String,
        /// Nodes allocated before the failure.
        after_nodes: u32,
    },
    /// The pool's next resize allocates nothing until its resize timeout.
    #[serde(rename_all = "camelCase")]
    AllocationStall {
        /// The pool.
        pool_id: String,
    },
    /// Force a node (default: first idle; for `preempted`, first idle Spot node) into
    /// `unusable`, `starttaskfailed` or `preempted` now, or restart it: `rebooting` or
    /// `reimaging`, then `starting` and its start task again, as Batch does.
    #[serde(rename_all = "camelCase")]
    NodeState {
        /// The pool.
        pool_id: String,
        #[serde(default)]
        /// The node; when `None`, the first idle one.
        node_id: Option<String>,
        /// `unusable`, `starttaskfailed`, `preempted`, `rebooting` or `reimaging`.
        state: String,
    },
}

fn one() -> u32 {
    1
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestFault {
    Respond(ErrorReply),
    Delay(std::time::Duration),
    Drop,
}

impl FaultSpec {
    /// A request fault's `(method, pathContains, count)`, its count mutable so that a hit
    /// can take one off; `None` for the world faults.
    fn scope(&mut self) -> Option<(Option<&str>, Option<&str>, &mut u32)> {
        match self {
            FaultSpec::Status {
                method,
                path_contains,
                count,
                ..
            }
            | FaultSpec::Latency {
                method,
                path_contains,
                count,
                ..
            }
            | FaultSpec::Drop {
                method,
                path_contains,
                count,
                ..
            } => Some((method.as_deref(), path_contains.as_deref(), count)),
            _ => None,
        }
    }

    /// Requests this fault still hits.
    fn left(&mut self) -> u32 {
        self.scope().map_or(0, |(_, _, count)| *count)
    }

    fn matches(&mut self, method: &str, path: &str) -> bool {
        self.scope().is_some_and(|(m, p, count)| {
            *count > 0
                && m.is_none_or(|m| m.eq_ignore_ascii_case(method))
                && p.is_none_or(|p| path.contains(p))
        })
    }
}

/// Handle for injecting faults (shared by the HTTP control surface and the library API).
#[derive(Clone)]
pub struct Faults {
    /// Armed request faults, each `count` what is left of it.
    rules: Arc<Mutex<Vec<FaultSpec>>>,
    world: Arc<Mutex<World>>,
    clock: crate::clock::SimClock,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(world: Arc<Mutex<World>>, clock: crate::clock::SimClock) -> Self {
        Self {
            rules: Arc::new(Mutex::new(Vec::new())),
            world,
            clock,
        }
    }

    /// Inject a fault. Returns the affected node id for `nodeState`.
    pub fn inject(&self, spec: FaultSpec) -> Result<Option<String>, ErrorReply> {
        match &spec {
            FaultSpec::Status { status, .. }
                if StatusCode::from_u16(*status).is_err() || *status < 400 =>
            {
                return Err(ErrorReply::invalid_property(
                    "status",
                    status.to_string(),
                    "must be an HTTP error status (400-599)",
                ));
            }
            FaultSpec::AllocationFailure {
                pool_id,
                after_nodes,
            } => {
                self.with_world(|w| {
                    w.arm_alloc_fault(pool_id, AllocFault::FailAfter(*after_nodes))
                });
                return Ok(None);
            }
            FaultSpec::AllocationStall { pool_id } => {
                self.with_world(|w| w.arm_alloc_fault(pool_id, AllocFault::Stall));
                return Ok(None);
            }
            FaultSpec::NodeState {
                pool_id,
                node_id,
                state,
            } => {
                let to = match state.as_str() {
                    "unusable" => NodeState::Unusable,
                    "starttaskfailed" => NodeState::StartTaskFailed,
                    "preempted" => NodeState::Preempted,
                    "rebooting" => NodeState::Rebooting,
                    "reimaging" => NodeState::Reimaging,
                    other => {
                        return Err(ErrorReply::invalid_property(
                            "state",
                            other,
                            "must be 'unusable', 'starttaskfailed', 'preempted', 'rebooting' or 'reimaging'",
                        ));
                    }
                };
                let now = self.clock.now();
                let mut w = self
                    .world
                    .lock()
                    .map_err(|_| ErrorReply::internal("InternalError"))?;
                w.advance_to(now);
                return w
                    .force_node_state(pool_id, node_id.as_deref(), to)
                    .map(Some);
            }
            _ => {}
        }
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(spec);
        }
        Ok(None)
    }

    /// Answer the next `count` requests matching `method`/`path_contains` with `status`.
    pub fn fail_next(
        &self,
        count: u32,
        status: u16,
        retry_after: Option<u64>,
        method: Option<&str>,
        path_contains: Option<&str>,
    ) {
        let _ = self.inject(FaultSpec::Status {
            status,
            code: None,
            retry_after,
            method: method.map(str::to_string),
            path_contains: path_contains.map(str::to_string),
            count,
        });
    }

    /// Remove every request fault and armed allocation fault.
    pub fn clear(&self) {
        if let Ok(mut r) = self.rules.lock() {
            r.clear();
        }
        self.with_world(|w| w.clear_alloc_faults());
    }

    /// Request faults still armed (`count` = remaining).
    pub fn list(&self) -> Vec<FaultSpec> {
        let Ok(mut rules) = self.rules.lock() else {
            return Vec::new();
        };
        rules
            .iter_mut()
            .filter_map(|r| (r.left() > 0).then(|| r.clone()))
            .collect()
    }

    fn with_world(&self, f: impl FnOnce(&mut World)) {
        if let Ok(mut w) = self.world.lock() {
            f(&mut w);
        }
    }

    /// Consume the faults that apply to this request (latency first, then at most one
    /// respond/drop). Returns them in the order to apply.
    pub(crate) fn take_for(&self, method: &str, path: &str) -> Vec<RequestFault> {
        let Ok(mut rules) = self.rules.lock() else {
            return Vec::new();
        };
        if rules.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut terminal = false;
        for r in rules.iter_mut() {
            if !r.matches(method, path) {
                continue;
            }
            let fault = match r {
                FaultSpec::Latency { ms, .. } => {
                    RequestFault::Delay(std::time::Duration::from_millis(*ms))
                }
                FaultSpec::Drop { .. } if !terminal => RequestFault::Drop,
                FaultSpec::Status {
                    status,
                    code,
                    retry_after,
                    ..
                } if !terminal => {
                    RequestFault::Respond(status_error(*status, code.as_deref(), *retry_after))
                }
                _ => continue,
            };
            // Latency adds up; one answer or drop ends the request.
            terminal |= !matches!(fault, RequestFault::Delay(_));
            if let Some((_, _, count)) = r.scope() {
                *count -= 1;
            }
            out.push(fault);
        }
        rules.retain_mut(|r| r.left() > 0);
        out
    }
}

fn status_error(status: u16, code: Option<&str>, retry_after: Option<u64>) -> ErrorReply {
    let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut e = match status {
        429 => {
            let mut e = ErrorReply::new(
                sc,
                "TooManyRequests",
                "The request was throttled. Please retry after the time given in Retry-After.",
            );
            e.retry_after = Some(retry_after.unwrap_or(1));
            e
        }
        503 => ErrorReply::server_busy(sc, retry_after.unwrap_or(1)),
        500 => ErrorReply::internal("InternalError"),
        _ => ErrorReply::new(sc, "InjectedFault", "A fault injected by the simulator."),
    };
    if let Some(c) = code {
        // Codes are limited to a known set (errors carry `&'static str` codes);
        // anything else becomes `InjectedFault`.
        e.code = match c {
            "InternalError" => "InternalError",
            "OperationTimedOut" => "OperationTimedOut",
            "ServerBusy" => "ServerBusy",
            "TooManyRequests" => "TooManyRequests",
            "TooManyEnableAutoScaleRequests" => "TooManyEnableAutoScaleRequests",
            _ => "InjectedFault",
        };
        if e.code == "OperationTimedOut" {
            e.message = "The operation could not be completed within the permitted time.".into();
        }
    }
    if retry_after.is_some() {
        e.retry_after = retry_after;
    }
    e
}
