//! The JSON body every answer has, success or failure, from every route.
//!
//! One stable shape, so an ADF expression such as
//! `@activity('Scale up').output.pool.readyDedicatedNodes` always resolves:
//! what was asked (`requested`), what was done (`actions`), the pool as seen
//! *after* the last action (`pool`), how long it waited, and on failure
//! `error.code`/`error.message`/`error.hint`. Every key is always present;
//! absent values are `null`, never missing, and counts of an observed pool
//! are numbers. `docs/response.schema.json` is the contract; the tests check
//! every answer they get against it.

use crate::batch::error::{CredentialProblem, Unreachable};
use crate::batch::models::{Pool, ResizeError};
use crate::batch::{BatchError, PoolId};
use crate::resizer::converge::seconds;
use crate::resizer::lease::{leases_above, live_leases};
use crate::resizer::{
    Action, ConvergeError, Failure, Lease, Observed, Report, Snapshot, WaitReason, Want,
};
use crate::resizer::{FailureCode, LeaseRule, Operation};
use azure_core::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OperationBody {
    /// `scale-up`, `scale-down`, `pool-status`, a timer's name; `null` for
    /// a path that names no function.
    pub operation: Option<&'static str>,
    /// `succeeded`, `inProgress` or `failed`.
    pub status: &'static str,
    pub pool_id: Option<String>,
    pub requested: Requested,
    pub actions: Vec<Action>,
    pub pool: Option<PoolView>,
    /// Live leases a forced scale-down went below (`force=true`).
    pub leases_overridden: Vec<Lease>,
    pub waited_seconds: f64,
    pub batch_calls: u32,
    /// While in progress: what the pool (or Batch) is waiting for.
    pub waiting_for: Option<&'static str>,
    /// While in progress: where to poll (also the `Location` header).
    pub status_url: Option<String>,
    pub error: Option<ErrorView>,
    /// Pool metadata this call meant to write but left to the next call or
    /// poll (`backoff`, `lease`): its budget was spent, or Batch was busy.
    pub not_written: Vec<&'static str>,
}

impl OperationBody {
    /// What a finished (or paused) run shows: the report's actions, the
    /// pool as last seen, time and calls. Status is `succeeded` until the
    /// caller says otherwise with [`OperationBody::failed_with`] or
    /// [`OperationBody::in_progress`].
    pub(crate) fn from_report(
        operation: &'static str,
        want: &Want,
        requested: Requested,
        report: &Report,
    ) -> Self {
        Self {
            pool: report.last.as_ref().map(PoolView::of),
            leases_overridden: overridden(want, report.last.as_ref()),
            actions: report.actions.clone(),
            waited_seconds: seconds(report.waited),
            batch_calls: report.batch_calls,
            ..Self::empty(Some(operation), Some(&want.pool_id), requested)
        }
    }

    /// A request refused, or a run ended by an error: `error` says why.
    pub(crate) fn failed(
        operation: Option<&'static str>,
        pool_id: Option<&PoolId>,
        requested: Requested,
        error: ErrorView,
    ) -> Self {
        Self {
            status: "failed",
            error: Some(error),
            ..Self::empty(operation, pool_id, requested)
        }
    }

    fn empty(
        operation: Option<&'static str>,
        pool_id: Option<&PoolId>,
        requested: Requested,
    ) -> Self {
        Self {
            operation,
            status: "succeeded",
            pool_id: pool_id.map(ToString::to_string),
            requested,
            actions: Vec::new(),
            pool: None,
            leases_overridden: Vec::new(),
            waited_seconds: 0.0,
            batch_calls: 0,
            waiting_for: None,
            status_url: None,
            error: None,
            not_written: Vec::new(),
        }
    }

    pub(crate) fn failed_with(&mut self, failure: &Failure) {
        self.status = "failed";
        self.error = Some(ErrorView {
            code: failure.code.as_str().to_owned(),
            message: failure.message.clone(),
            batch_code: failure.batch_code.clone(),
            url: None,
            hint: failure_hint(failure.code),
        });
    }

    pub(crate) fn in_progress(&mut self, reason: WaitReason, status_url: Option<String>) {
        self.status = "inProgress";
        self.waiting_for = Some(reason.describe());
        self.status_url = status_url;
    }
}

/// What to do about a failure whose message does not say it already.
pub(crate) fn failure_hint(code: FailureCode) -> Option<String> {
    match code {
        FailureCode::PoolNotFound => Some(POOL_NOT_FOUND_HINT.to_owned()),
        _ => None,
    }
}

/// The fix for `PoolNotFound`, on every face (HTTP, timers, the CLI).
pub(crate) const POOL_NOT_FOUND_HINT: &str = "check the pool id (poolId, --pool, BATCH_POOL_ID): \
     it must name a pool of the Batch account at BATCH_ACCOUNT_URL (`az batch pool list` lists \
     them); locally, `cargo run -- dev --pool <id>` creates the pools it names";

/// Live leases a forced shrink to `want` goes below; none unless forced.
fn overridden(want: &Want, seen: Option<&Observed>) -> Vec<Lease> {
    match (want.operation, &want.leases, seen) {
        (Operation::ScaleDown, LeaseRule::Ignore, Some(Observed::Pool(snapshot))) => leases_above(
            &snapshot.pool.metadata,
            snapshot.observed_at,
            want.dedicated,
            want.low_priority,
        ),
        _ => Vec::new(),
    }
}

/// What the caller asked, as understood; `null` where it did not apply or
/// could not be read.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Requested {
    pub dedicated_nodes: Option<u32>,
    pub low_priority_nodes: Option<u32>,
    pub wait_seconds: Option<u32>,
    pub lease_id: Option<String>,
    pub lease_minutes: Option<u32>,
    pub lease_idle_minutes: Option<u32>,
    pub force: Option<bool>,
    pub repair_attempts: Option<u32>,
    pub keep_warm_minutes: Option<crate::resizer::keep_warm::KeepWarm>,
    pub fallback_to_dedicated: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorView {
    pub code: String,
    pub message: String,
    /// Batch's own code (`AccountCoreQuotaReached`, `PoolNotFound`...).
    pub batch_code: Option<String>,
    /// The Batch URL that failed (no query), when a call failed.
    pub url: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ErrorView {
    pub(crate) fn new(code: &str, message: String) -> Self {
        Self {
            code: code.to_owned(),
            message,
            batch_code: None,
            url: None,
            hint: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolView {
    pub exists: bool,
    pub state: Option<String>,
    pub allocation_state: Option<String>,
    /// RFC 3339, as Batch sends it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub allocation_state_transition_time: Option<time::OffsetDateTime>,
    pub enable_auto_scale: bool,
    pub vm_size: Option<String>,
    pub target_dedicated_nodes: u32,
    pub target_low_priority_nodes: u32,
    pub current_dedicated_nodes: u32,
    pub current_low_priority_nodes: u32,
    /// Nodes that can take a task now: idle or running, scheduling enabled,
    /// start task succeeded.
    pub ready_dedicated_nodes: u32,
    pub ready_low_priority_nodes: u32,
    /// `false` when Batch did not list the nodes in time: then the ready
    /// counts are 0 because nothing proves more, and `nodesByState` is empty.
    pub nodes_observed: bool,
    pub nodes_by_state: BTreeMap<&'static str, u32>,
    pub resize_errors: Vec<ResizeError>,
    pub start_task_failures: Vec<NodeFailureView>,
    /// Live leases: who holds how many nodes until when.
    pub leases: Vec<Lease>,
    /// Nodes kept warm after a scale-down, and until when.
    pub kept_warm: Option<Lease>,
    /// An operator's pause: by whom, since when, why.
    pub paused: Option<crate::resizer::marks::Paused>,
    /// A running backoff after an allocation failure.
    pub backoff: Option<crate::resizer::marks::Backoff>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeFailureView {
    pub node_id: String,
    pub state: &'static str,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl PoolView {
    pub(crate) fn of(observed: &Observed) -> Self {
        match observed {
            Observed::Missing => PoolView::missing(),
            Observed::Pool(snapshot) => PoolView::from_snapshot(snapshot),
        }
    }

    fn missing() -> Self {
        PoolView {
            exists: false,
            nodes_observed: true,
            ..PoolView::from_snapshot(&Snapshot::default())
        }
    }

    fn from_snapshot(snapshot: &Snapshot) -> Self {
        let pool: &Pool = &snapshot.pool;
        let wire = |value: Option<String>| value.map(|s| s.trim_matches('"').to_owned());
        let tally = snapshot.nodes.as_ref();
        PoolView {
            exists: true,
            state: wire(pool.state.map(|s| json_name(&s))),
            allocation_state: wire(pool.allocation_state.map(|s| json_name(&s))),
            allocation_state_transition_time: pool.allocation_state_transition_time,
            enable_auto_scale: pool.enable_auto_scale,
            vm_size: pool.vm_size.clone(),
            target_dedicated_nodes: pool.target_dedicated_nodes,
            target_low_priority_nodes: pool.target_low_priority_nodes,
            current_dedicated_nodes: pool.current_dedicated_nodes,
            current_low_priority_nodes: pool.current_low_priority_nodes,
            ready_dedicated_nodes: tally.map_or(0, |t| t.ready_dedicated),
            ready_low_priority_nodes: tally.map_or(0, |t| t.ready_low_priority),
            nodes_observed: tally.is_some(),
            nodes_by_state: tally
                .map(|t| {
                    t.by_state
                        .iter()
                        .map(|(state, count)| (state.as_str(), *count))
                        .collect()
                })
                .unwrap_or_default(),
            resize_errors: pool.resize_errors.clone(),
            start_task_failures: tally
                .map(|t| {
                    t.failed
                        .iter()
                        .map(|f| NodeFailureView {
                            node_id: f.node_id.clone(),
                            state: f.state.as_str(),
                            code: f.code.clone(),
                            message: f.message.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            leases: live_leases(&pool.metadata, snapshot.observed_at),
            kept_warm: live_leases(&pool.metadata, snapshot.observed_at)
                .into_iter()
                .find(|l| l.id.as_str() == crate::resizer::lease::WARM_LEASE),
            paused: snapshot.paused(),
            backoff: snapshot.backoff(),
        }
    }
}

fn json_name<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `error.code` for a Batch call that failed for good.
pub(crate) fn batch_error_code(error: &BatchError) -> &'static str {
    match error {
        BatchError::Unreachable {
            problem: Unreachable::Tls(_),
            ..
        } => "BatchTlsFailed",
        BatchError::Unreachable { .. } => "BatchUnavailable",
        BatchError::Service {
            status: StatusCode::Unauthorized | StatusCode::Forbidden,
            ..
        } => "BatchAuthenticationFailed",
        BatchError::Service { status, .. } if u16::from(*status) < 500 => "BatchRequestRejected",
        BatchError::Service { .. } => "BatchUnavailable",
        BatchError::Credential {
            problem: CredentialProblem::Outage,
            ..
        } => "IdentityUnavailable",
        BatchError::Credential { .. } => "BatchAuthenticationFailed",
        BatchError::Decode { .. } => "BatchResponseUnreadable",
        BatchError::Contended { .. } => "LeaseWriteContended",
    }
}

/// The `error` block of a run a Batch call ended: code, message, Batch's
/// own code, the URL tried and the fix.
pub(crate) fn batch_error_view(error: &ConvergeError) -> ErrorView {
    let source = &error.source;
    ErrorView {
        code: batch_error_code(source).to_owned(),
        message: error.to_string(),
        batch_code: source.code().map(str::to_owned),
        url: source.url().map(str::to_owned),
        hint: source.hint(),
    }
}

impl OperationBody {
    /// The body of a run that a Batch call ended: the error, and whatever
    /// the run saw and did before.
    pub(crate) fn from_error(
        operation: &'static str,
        want: &Want,
        requested: Requested,
        error: &ConvergeError,
        view: ErrorView,
    ) -> Self {
        let mut body = OperationBody::failed(Some(operation), Some(&want.pool_id), requested, view);
        body.actions = error.actions.clone();
        body.pool = error.last.as_ref().map(PoolView::of);
        body.waited_seconds = seconds(error.waited);
        body.batch_calls = error.batch_calls;
        body
    }
}
