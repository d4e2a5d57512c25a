//! What a firing says: its invocation's log lines (also the handler's
//! log), each escaped in one place.

use super::payload::Firing;
use super::{EDGE_GRACE, Plan};
use crate::batch::PoolId;
use crate::resizer::lease::SCHEDULE_LEASE;
use crate::resizer::{ConvergeError, LeaseEdit, Observed, Outcome, Report, Want};
use crate::schedule::{ScheduleNow, format_utc};
use crate::service::{LapseReason, Lapsed};
use crate::settings::ScheduleSettings;
use crate::telemetry::escape;
use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

/// What the invocation log says of the schedule's lease once written.
/// The schedule is a lease holder like any pipeline: while the window is
/// open it holds lease `schedule` (until the window's next close, plus a
/// grace, so a lost end firing cannot hold nodes for ever; with local
/// windows until the window's end exactly, since any firing releases it
/// after that, the reconcile within one period); the end firing releases
/// it and scales down only to what pipelines' live leases still need. So a
/// scheduled scale-down never strands a pipeline that holds a lease.
pub(super) fn describe_lease(edit: &LeaseEdit) -> String {
    match edit {
        LeaseEdit::Hold(lease) => format!(
            "holding lease '{SCHEDULE_LEASE}' until {}",
            format_utc(lease.expires)
        ),
        LeaseEdit::Release(_) | LeaseEdit::Lapse(_) => {
            format!("released lease '{SCHEDULE_LEASE}'; pipelines' live leases keep their nodes")
        }
    }
}

/// `FAILED: <code>: <message> (<hint>)`: what the invocation log says of a
/// Batch call that failed for good.
pub(super) fn failed_line(error: &crate::resizer::ConvergeError) -> String {
    let (_, view) = crate::functions::error::batch_failure(error);
    match view.hint {
        Some(hint) => format!("FAILED: {}: {} (fix: {hint})", view.code, view.message),
        None => format!("FAILED: {}: {}", view.code, view.message),
    }
}

/// Log lines for the invocation, each also written to the handler's log.
///
/// Lines quote what came from outside (the payload's ScheduleStatus and
/// UtcNow, key names, Batch's messages), so every line is escaped here, in
/// the one place both logs are written: a CR/LF in a payload cannot forge
/// a line in the handler's log, nor in the invocation's `Logs`.
#[derive(Default)]
pub(super) struct Lines {
    lines: Vec<String>,
    /// Before every line: a firing that visits several pools reads pool by pool.
    prefix: String,
    /// The pools this firing saw, as an answer shows them: telemetry reads
    /// them off the response (the invocation's `Logs` name no pool).
    seen: Vec<(String, serde_json::Value)>,
}

impl Lines {
    /// One pool's lines, each beginning with its id.
    pub(super) fn for_pool(pool_id: &PoolId) -> Self {
        Lines {
            prefix: format!("{pool_id}: "),
            ..Lines::default()
        }
    }

    /// `other`'s lines after these (already in the handler's log).
    pub(super) fn append(&mut self, other: Lines) {
        self.lines.extend(other.lines);
        self.seen.extend(other.seen);
    }

    /// The pool as this firing last saw it, for the nodes-held metrics.
    pub(super) fn saw(&mut self, pool_id: &PoolId, observed: &Observed) {
        if let Ok(view) = serde_json::to_value(crate::report::PoolView::of(observed)) {
            self.seen.push((pool_id.to_string(), view));
        }
    }

    pub(super) fn info(&mut self, line: String) {
        let line = escape(&format!("{}{line}", self.prefix)).into_owned();
        tracing::info!("{line}");
        self.lines.push(line);
    }

    pub(super) fn error(&mut self, line: String) {
        let line = escape(&format!("{}{line}", self.prefix)).into_owned();
        tracing::error!("{line}");
        self.lines.push(line);
    }

    pub(super) fn answer(self, status: StatusCode) -> Response {
        let mut response = super::answer(status, self.lines);
        response
            .extensions_mut()
            .insert(crate::telemetry::observe::PoolsSeen(self.seen));
        response
    }
}

/// What a firing let go of: the lapsed leases (a pre-warm nobody came for,
/// a keep-warm grace, a pipeline's lease expired or idle past its limit)
/// and the shrink after, so a reader sees why nodes went without anyone
/// asking.
pub(super) fn describe_let_go(
    log: &mut Lines,
    pool_id: &PoolId,
    lapsed: &[Lapsed],
    released: Result<Report, ConvergeError>,
) {
    let mut what: Vec<&str> = lapsed
        .iter()
        .map(|gone| match (gone.lease.id.as_str(), gone.why) {
            (crate::resizer::lease::FORECAST_LEASE, _) => "a pre-warm nobody came for",
            (crate::resizer::lease::WARM_LEASE, _) => "keep-warm grace",
            (crate::resizer::lease::SCHEDULE_LEASE, _) => "the schedule's lease",
            (_, LapseReason::Expired) => "a lease whose pipeline never scaled down",
            (_, LapseReason::Idle) => "a lease whose nodes stood idle past its leaseIdleMinutes",
        })
        .collect();
    what.dedup();
    match released {
        Ok(report) => log.info(format!(
            "{} over: released its nodes of pool '{pool_id}' down to what live leases need ({} action(s))",
            what.join(" and "),
            report.actions.len()
        )),
        Err(error) => log.error(failed_line(&error)),
    }
}

pub(super) fn describe_firing(name: &str, firing: &Firing, now: OffsetDateTime) -> String {
    let past_due = match firing.is_past_due {
        Some(true) => "past due (IsPastDue: a firing was missed or is late)",
        Some(false) => "on schedule",
        None => "IsPastDue not given",
    };
    let status = match &firing.schedule_status {
        None => "no ScheduleStatus".to_owned(),
        Some(None) => "ScheduleStatus null (useMonitor off)".to_owned(),
        Some(Some(s)) => format!(
            "ScheduleStatus last {}, next {}",
            s.last.as_deref().unwrap_or("?"),
            s.next.as_deref().unwrap_or("?")
        ),
    };
    let host_now = firing
        .host_utc_now
        .as_deref()
        .map(|t| format!(", host UtcNow {t}"))
        .unwrap_or_default();
    format!(
        "{name} fired: {past_due}; {status}; handler time {}{host_now}",
        format_utc(now)
    )
}

/// The window as judged, `now` being the handler's time: judged
/// [`EDGE_GRACE`] ahead, so an edge ("open since") may come after `now`;
/// the line then says why, rather than leaving a reader to find it in docs.
pub(super) fn describe_window(
    settings: &ScheduleSettings,
    judged: &ScheduleNow,
    now: OffsetDateTime,
) -> String {
    let state = &judged.state;
    let since = if state.open {
        state.last_up
    } else {
        state.last_down
    };
    let ahead = match since {
        Some(edge) if edge > now => format!(
            " ({} s after the handler time: a firing judges the window {} s ahead, so one \
             that fires a little early still sees the edge it was scheduled for)",
            (edge - now).whole_seconds(),
            EDGE_GRACE.whole_seconds()
        ),
        _ => String::new(),
    };
    if let Some(windows) = &settings.windows {
        let at = |t: Option<OffsetDateTime>, prefix: &str, otherwise: &str| match t {
            Some(t) => format!("{prefix} {}", windows.describe_instant(t)),
            None => otherwise.to_owned(),
        };
        let list = format!("windows '{windows}' in {}", windows.zone_name());
        return if state.open {
            format!(
                "{list}: open {}{ahead}, {}; open now: '{}'",
                at(state.last_up, "since", "for more than a week"),
                at(state.next_down, "closes at", "does not close within a week"),
                judged.open.join("', '")
            )
        } else {
            format!(
                "{list}: closed {}{ahead}, {}",
                at(state.last_down, "since", "for more than a week"),
                at(state.next_up, "opens at", "does not open within a week")
            )
        };
    }
    let at = |t: Option<OffsetDateTime>| t.map(format_utc).unwrap_or_else(|| "never".into());
    let edges = format!(
        "SCALE_UP_SCHEDULE '{}', SCALE_DOWN_SCHEDULE '{}' (UTC)",
        settings.window.up, settings.window.down
    );
    if state.open {
        format!(
            "window {edges}: open since {}{ahead}, closes at {}",
            at(state.last_up),
            at(state.next_down)
        )
    } else {
        format!(
            "window {edges}: closed since {}{ahead}, opens at {}",
            at(state.last_down),
            at(state.next_up)
        )
    }
}

pub(super) fn describe_action(action: &crate::resizer::Action) -> String {
    match action {
        crate::resizer::Action::Resize {
            target_dedicated_nodes,
            target_low_priority_nodes,
            node_deallocation_option,
            after_seconds,
        } => format!(
            "resize to {target_dedicated_nodes} dedicated + {target_low_priority_nodes} low-priority{} accepted by Batch after {after_seconds} s",
            node_deallocation_option
                .map(|o| format!(" ({o})"))
                .unwrap_or_default()
        ),
        crate::resizer::Action::StopResize { after_seconds } => {
            format!(
                "stop-resize of a resize going the other way accepted by Batch after {after_seconds} s"
            )
        }
        crate::resizer::Action::RemoveNodes {
            node_ids,
            after_seconds,
        } => format!(
            "removal of {} failed node(s) accepted by Batch after {after_seconds} s; replacements follow",
            node_ids.len()
        ),
    }
}

pub(super) fn describe_pool(observed: &Observed) -> String {
    match observed {
        Observed::Missing => "the pool does not exist".into(),
        Observed::Pool(snapshot) => {
            let pool = &snapshot.pool;
            let state = pool
                .allocation_state
                .map(|s| serde_json::to_string(&s).unwrap_or_default())
                .unwrap_or_else(|| "\"?\"".into());
            let ready = snapshot
                .nodes
                .as_ref()
                .map(|t| {
                    format!(
                        ", ready {} dedicated + {} low-priority",
                        t.ready_dedicated, t.ready_low_priority
                    )
                })
                .unwrap_or_default();
            format!(
                "allocation {}, target {} dedicated + {} low-priority, current {} + {}{ready}",
                state.trim_matches('"'),
                pool.target_dedicated_nodes,
                pool.target_low_priority_nodes,
                pool.current_dedicated_nodes,
                pool.current_low_priority_nodes
            )
        }
    }
}

pub(super) fn describe_report(
    log: &mut Lines,
    want: &Want,
    plan: Plan,
    wait_seconds: u32,
    report: &Report,
) {
    for action in &report.actions {
        log.info(describe_action(action));
    }
    if report.actions.is_empty() && plan != Plan::Leave {
        log.info("no resize needed".into());
    }
    let pool = report
        .last
        .as_ref()
        .map(describe_pool)
        .unwrap_or_else(|| "Batch did not answer within the wait".into());
    match &report.outcome {
        Outcome::Converged if plan == Plan::Leave => {
            log.info(format!("pool '{}': {pool}", want.pool_id));
        }
        Outcome::Converged => log.info(format!(
            "done after {} s: pool '{}': {pool}",
            crate::resizer::converge::seconds(report.waited),
            want.pool_id
        )),
        Outcome::Pending(reason) if plan == Plan::Leave => {
            log.info(format!("pool '{}' ({}): {pool}", want.pool_id, reason.describe()));
        }
        Outcome::Pending(reason) => log.info(format!(
            "still converging at the end of the {wait_seconds} s wait ({}); not a failure: the next firing \
             or GET /api/pool-status will pick it up. pool '{}': {pool}",
            reason.describe(),
            want.pool_id
        )),
        Outcome::Failed(failure) => log.error(format!(
            "FAILED: {}: {}{}. pool '{}': {pool}",
            failure.code.as_str(),
            failure.message,
            failure
                .batch_code
                .as_deref()
                .map(|c| format!(" (Batch code {c})"))
                .unwrap_or_default(),
            want.pool_id
        )),
    }
}
