//! The result the CLI prints on stdout: the HTTP trigger's JSON body
//! (`--json`), so scripts can read the same fields ADF reads, or one line
//! for people.

use super::Exit;
use crate::batch::PoolId;
use crate::functions::response::{ErrorView, OperationBody, Requested};
use crate::resizer::{ConvergeError, Outcome, Report};

pub struct Summary<'a> {
    pub operation: &'static str,
    pub pool_id: &'a PoolId,
    /// Dedicated, low-priority, wait seconds; `None` for `status`.
    pub requested: Option<(u32, u32, u32)>,
}

impl Summary<'_> {
    /// The HTTP body: the same keys, with `statusUrl` always null (there is
    /// no request to poll; run the command again instead).
    pub fn json(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> String {
        let body = self.body(result, exit);
        serde_json::to_string_pretty(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// `scale-up p: succeeded after 312s; ready 1+0 (dedicated+low-priority); 1 resize`.
    pub fn plain(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> String {
        let body = self.body(result, exit);
        let mut line = format!(
            "{} {}: {} after {}s",
            self.operation, self.pool_id, body.status, body.waited_seconds
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
                if let (Some(d), Some(l)) =
                    (pool.ready_dedicated_nodes, pool.ready_low_priority_nodes)
                {
                    line.push_str(&format!(" ready={d}+{l}"));
                }
            }
        }
        if !body.actions.is_empty() {
            line.push_str(&format!("; {} action(s) taken", body.actions.len()));
        }
        if let Some(waiting) = body.waiting_for {
            line.push_str(&format!(
                "; still waiting: {waiting} (run again to keep waiting)"
            ));
        }
        if let Some(error) = &body.error {
            line.push_str(&format!("; {}: {}", error.code, error.message));
        }
        line
    }

    fn body(&self, result: &Result<Report, ConvergeError>, exit: Exit) -> OperationBody {
        let requested = Requested {
            dedicated_nodes: self.requested.map(|r| r.0),
            low_priority_nodes: self.requested.map(|r| r.1),
            wait_seconds: self.requested.map(|r| r.2),
        };
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                return OperationBody::from_batch_error(
                    self.operation,
                    self.pool_id,
                    requested,
                    error,
                );
            }
        };
        let mut body = OperationBody::from_report(self.operation, self.pool_id, requested, report);
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
        if self.requested.is_none() && exit == Exit::Failed {
            body.error = Some(ErrorView {
                code: "PoolNotFound".to_owned(),
                message: format!("pool '{}' does not exist", self.pool_id),
                batch_code: Some("PoolNotFound".to_owned()),
            });
        }
        body
    }
}
