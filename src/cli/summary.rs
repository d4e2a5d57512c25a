//! The result the CLI prints on stdout: the HTTP trigger's JSON body
//! (`--json`), so scripts can read the same fields ADF reads, or one line
//! for people, which names the cause and the fix when something failed.

use super::Exit;
use crate::report::{ErrorView, OperationBody, PoolView, Requested};
use crate::resizer::{ConvergeError, Observed, Outcome, Report, Want};

pub(super) struct Summary<'a> {
    pub operation: &'static str,
    pub want: &'a Want,
    /// What the command line asked; `None` for `status`.
    pub requested: Option<Requested>,
    /// What the service left for the next run to write.
    pub not_written: &'a [crate::service::Unwritten],
}

impl Summary<'_> {
    /// The HTTP body: the same keys, with `statusUrl` always null (there is
    /// no request to poll; run the command again instead).
    pub(super) fn json(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> String {
        let body = self.body(result, exit);
        serde_json::to_string_pretty(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// `scale-up p: succeeded after 312s; ready 1+0 (dedicated+low-priority); 1 resize`.
    pub(super) fn plain(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> String {
        let body = self.body(result, exit);
        let mut line = format!(
            "{} {}: {} after {}s",
            self.operation, self.want.pool_id, body.status, body.waited_seconds
        );
        if let Some(pool) = &body.pool {
            if !pool.exists {
                line.push_str("; pool not found");
            } else {
                line.push_str(&format!(
                    "; {} target={}+{} current={}+{}",
                    pool.allocation_state.as_deref().unwrap_or("?"),
                    pool.target_dedicated_nodes,
                    pool.target_low_priority_nodes,
                    pool.current_dedicated_nodes,
                    pool.current_low_priority_nodes
                ));
                if pool.nodes_observed {
                    line.push_str(&format!(
                        " ready={}+{}",
                        pool.ready_dedicated_nodes, pool.ready_low_priority_nodes
                    ));
                }
            }
        }
        if !body.actions.is_empty() {
            line.push_str(&format!("; {} action(s) taken", body.actions.len()));
        }
        if !body.leases_overridden.is_empty() {
            let ids: Vec<_> = body
                .leases_overridden
                .iter()
                .map(|l| l.id.to_string())
                .collect();
            line.push_str(&format!("; overrode live lease(s) {}", ids.join(", ")));
        }
        if let Some(waiting) = body.waiting_for {
            line.push_str(&format!(
                "; still waiting: {waiting} (run again to keep waiting)"
            ));
        }
        if let Some(error) = &body.error {
            line.push_str(&format!("; {}: {}", error.code, error.message));
            if let Some(hint) = &error.hint {
                line.push_str(&format!("\nfix: {hint}"));
            }
        }
        line
    }

    fn requested(&self) -> Requested {
        self.requested.clone().unwrap_or_default()
    }

    fn body(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> OperationBody {
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                let view = crate::service::Served::error_view(error);
                let mut body = OperationBody::failed(
                    Some(self.operation),
                    Some(&self.want.pool_id),
                    self.requested(),
                    view,
                );
                body.actions = error.actions.clone();
                body.pool = error.last.as_ref().map(PoolView::of);
                body.batch_calls = error.batch_calls;
                // The time the failed calls took, retries included: not 0.
                body.waited_seconds = crate::resizer::converge::seconds(error.waited);
                return body;
            }
        };
        let mut body =
            OperationBody::from_report(self.operation, self.want, self.requested(), report);
        body.not_written = self.not_written.iter().map(|u| u.as_str()).collect();
        match &report.outcome {
            Outcome::Failed(failure) if self.requested.is_some() => body.failed_with(failure),
            Outcome::Pending(reason) if exit == Exit::TimedOut => body.in_progress(*reason, None),
            _ => {}
        }
        body.status = match exit {
            Exit::Success => "succeeded",
            Exit::TimedOut => "inProgress",
            Exit::Failed | Exit::Usage => "failed",
        };
        if self.requested.is_none() {
            match &report.last {
                Some(Observed::Missing) => {
                    body.error = Some(ErrorView {
                        batch_code: Some("PoolNotFound".to_owned()),
                        hint: Some(crate::report::POOL_NOT_FOUND_HINT.to_owned()),
                        ..ErrorView::new(
                            "PoolNotFound",
                            format!("pool '{}' does not exist", self.want.pool_id),
                        )
                    });
                }
                None => {
                    body.error = Some(ErrorView::new(
                        "BatchThrottled",
                        "Batch was throttling or too slow to answer; nothing was observed: run again"
                            .to_owned(),
                    ));
                }
                Some(_) => {}
            }
        }
        body
    }
}
