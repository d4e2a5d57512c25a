//! Request parameters from a JSON body and/or the query string.
//!
//! ADF's Azure Function activity sends a JSON body; curl users and the status
//! URL use the query string. Both are accepted; a value in the body wins over
//! the same name in the query. Numbers may come as JSON numbers or as strings
//! of digits, because ADF expressions (`@pipeline().parameters.nodes`) often
//! produce strings. Anything unknown or ill-typed is refused with a message
//! naming the parameter: a typo must not silently fall back to a default.

use super::error::{InputCode, Refusal};
use crate::batch::PoolId;
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::lease::DEFAULT_LEASE_MINUTES;
use crate::resizer::want::MAX_REPAIR_ATTEMPTS;
use crate::resizer::{LeaseId, Operation};
use crate::service::{LeaseRequest, ScaleRequest, StatusRequest};
use crate::settings::{HTTP_WAIT_LIMIT_SECONDS, Settings};
use serde_json::Value;

mod raw;

pub(crate) use raw::json_kind;
use raw::{Raw, describe};

/// Function keys travel as `?code=`; accepted and never read or echoed.
const FUNCTION_KEY_PARAM: &str = "code";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScaleParams {
    pub pool_id: PoolId,
    pub dedicated: u32,
    pub low_priority: u32,
    pub wait_seconds: u32,
    /// Scale-up holds this lease; scale-down releases it and keeps what the
    /// remaining live leases need.
    pub lease_id: Option<LeaseId>,
    /// Scale-up with a lease only: how long it lives.
    pub lease_minutes: Option<u32>,
    /// Scale-up with a lease only: it lapses once its nodes stand idle this long.
    pub lease_idle_minutes: Option<u32>,
    /// Scale-down only: ignore other pipelines' live leases (operators).
    pub force: bool,
    /// Scale-up only: how many times failed nodes may be replaced.
    pub repair_attempts: u32,
    /// Scale-down only: keep the released nodes warm this long, or `auto`.
    pub keep_warm: KeepWarm,
    /// Scale-up only: dedicated nodes may stand in for Spot ones.
    pub fallback_to_dedicated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusParams {
    pub pool_id: PoolId,
    /// A scale-down target judged with this lease released: live leases count.
    pub lease_id: Option<LeaseId>,
    /// With a target, the status says whether it is met (200/202/error);
    /// without, it is a plain view of the pool (200).
    pub target: Option<StatusTarget>,
    /// `resume=1`, what status URLs said before they were sealed: read only
    /// so `pool-status` refuses it by name (403 `ResumeNotSigned`). Only a
    /// sealed status URL (`operation-status?token=`) may act.
    pub resume: bool,
    /// A scale-up's lease minutes, judged as its scale-up would.
    pub lease_minutes: Option<u32>,
    /// A scale-up's Spot fallback, judged as its scale-up would.
    pub fallback_to_dedicated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusTarget {
    pub operation: Operation,
    pub dedicated: u32,
    pub low_priority: u32,
}

/// `pause`/`unpause`: which pool, who, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PauseParams {
    pub pool_id: PoolId,
    /// Who paused it, as they want it shown (an operator's name, a ticket).
    pub by: String,
    pub reason: Option<String>,
}

const PAUSE_NAMES: &[&str] = &["poolId", "by", "reason"];

impl ScaleParams {
    /// What the service is asked to do.
    pub(crate) fn into_request(self, operation: Operation) -> ScaleRequest {
        ScaleRequest {
            operation,
            lease: lease_request(self.lease_id, self.lease_minutes, self.lease_idle_minutes),
            pool_id: self.pool_id,
            dedicated: self.dedicated,
            low_priority: self.low_priority,
            wait: std::time::Duration::from_secs(self.wait_seconds.into()),
            force: self.force,
            repair_attempts: self.repair_attempts,
            keep_warm: self.keep_warm,
            fallback_to_dedicated: self.fallback_to_dedicated,
        }
    }
}

impl StatusParams {
    /// What the service is asked to look at; a look never resumes (only a
    /// sealed status URL does).
    pub(crate) fn into_request(self) -> StatusRequest {
        StatusRequest {
            target: self
                .target
                .map(|t| (t.operation, t.dedicated, t.low_priority)),
            lease: lease_request(self.lease_id, self.lease_minutes, None),
            pool_id: self.pool_id,
            resume: false,
            fallback_to_dedicated: self.fallback_to_dedicated,
        }
    }
}

/// A lease, its minutes (the default when not given) and its idle limit.
pub(crate) fn lease_request(
    id: Option<LeaseId>,
    minutes: Option<u32>,
    idle_minutes: Option<u32>,
) -> Option<LeaseRequest> {
    id.map(|id| LeaseRequest {
        id,
        minutes: minutes.unwrap_or(DEFAULT_LEASE_MINUTES),
        idle_minutes,
    })
}

impl PauseParams {
    pub(crate) fn parse(
        query: Option<&str>,
        body: &[u8],
        settings: &Settings,
    ) -> Result<Self, Refusal> {
        let raw = Raw::collect(query, body, PAUSE_NAMES)?;
        let text = |name: &str, max: usize| -> Result<Option<String>, Refusal> {
            match raw.values.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s))
                    if s.chars().count() <= max && !s.chars().any(char::is_control) =>
                {
                    Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                }
                Some(other) => Err(Refusal::invalid(
                    InputCode::InvalidParameter,
                    format!(
                        "{name} must be a string of at most {max} characters without control characters, not {}",
                        describe(other)
                    ),
                )),
            }
        };
        Ok(Self {
            pool_id: raw.pool_id(settings)?,
            by: text("by", 80)?.unwrap_or_else(|| "an operator".to_owned()),
            reason: text("reason", 200)?,
        })
    }
}

const SCALE_NAMES: &[&str] = &[
    "poolId",
    "dedicatedNodes",
    "lowPriorityNodes",
    "waitSeconds",
    "leaseId",
    "leaseMinutes",
    "leaseIdleMinutes",
    "force",
    "repairAttempts",
    "keepWarmMinutes",
    "fallbackToDedicated",
];
const STATUS_NAMES: &[&str] = &[
    "poolId",
    "dedicatedNodes",
    "lowPriorityNodes",
    "operation",
    "leaseId",
    "leaseMinutes",
    "resume",
    "fallbackToDedicated",
];

/// The pool a request names (or the default it falls back to), read as
/// leniently as possible: for the body of an answer that refuses the
/// request, so even a 400 says which pool it was about when it can.
pub(crate) fn pool_hint(query: Option<&str>, body: &[u8], settings: &Settings) -> Option<PoolId> {
    let from_query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(name, _)| name == "poolId")
        .map(|(_, value)| value.into_owned());
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("poolId").and_then(Value::as_str).map(str::to_owned));
    match from_body.or(from_query) {
        Some(named) => named.parse().ok(),
        None => settings.default_pool_id.clone(),
    }
}

impl ScaleParams {
    pub(crate) fn parse(
        operation: Operation,
        query: Option<&str>,
        body: &[u8],
        settings: &Settings,
    ) -> Result<Self, Refusal> {
        let raw = Raw::collect(query, body, SCALE_NAMES)?;
        let (dedicated, low_priority) = raw.node_counts(operation)?;
        let lease_id = raw.lease_id()?;
        let force = raw.flag("force")?;
        if force && operation == Operation::ScaleUp {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                "force applies to scale-down only (scale-up never shrinks, so it never overrides a lease)"
                    .into(),
            ));
        }
        Ok(Self {
            pool_id: raw.pool_id(settings)?,
            dedicated,
            low_priority,
            wait_seconds: raw.count(
                "waitSeconds",
                settings.default_wait_seconds,
                HTTP_WAIT_LIMIT_SECONDS,
                "the HTTP front end in Azure cuts responses at 230 s; poll the status URL for longer waits",
            )?,
            lease_minutes: raw.lease_minutes(operation, lease_id.as_ref())?,
            lease_idle_minutes: raw.lease_idle_minutes(operation, lease_id.as_ref())?,
            lease_id,
            force,
            repair_attempts: match operation {
                Operation::ScaleUp => raw.count(
                    "repairAttempts",
                    crate::resizer::want::DEFAULT_REPAIR_ATTEMPTS,
                    MAX_REPAIR_ATTEMPTS,
                    "each repair replaces nodes and waits for them again",
                )?,
                Operation::ScaleDown if raw.has("repairAttempts") => {
                    return Err(Refusal::invalid(
                        InputCode::InvalidParameter,
                        "repairAttempts applies to scale-up only: a scale-down removes failed nodes first anyway".into(),
                    ));
                }
                Operation::ScaleDown => 0,
            },
            keep_warm: match operation {
                Operation::ScaleDown => raw.keep_warm(force, settings)?,
                Operation::ScaleUp if raw.has("keepWarmMinutes") => {
                    return Err(Refusal::invalid(
                        InputCode::InvalidParameter,
                        "keepWarmMinutes applies to scale-down only".into(),
                    ));
                }
                Operation::ScaleUp => KeepWarm::OFF,
            },
            fallback_to_dedicated: match operation {
                Operation::ScaleUp => raw.flag("fallbackToDedicated")?,
                Operation::ScaleDown if raw.has("fallbackToDedicated") => {
                    return Err(Refusal::invalid(
                        InputCode::InvalidParameter,
                        "fallbackToDedicated applies to scale-up only".into(),
                    ));
                }
                Operation::ScaleDown => false,
            },
        })
    }
}

impl StatusParams {
    pub(crate) fn parse(query: Option<&str>, settings: &Settings) -> Result<Self, Refusal> {
        let raw = Raw::collect(query, b"", STATUS_NAMES)?;
        let pool_id = raw.pool_id(settings)?;
        let operation = raw.operation()?;
        let wants_target =
            operation.is_some() || raw.has("dedicatedNodes") || raw.has("lowPriorityNodes");
        let target = if wants_target {
            let operation = operation.unwrap_or(Operation::ScaleUp);
            let (dedicated, low_priority) = raw.node_counts(operation)?;
            Some(StatusTarget {
                operation,
                dedicated,
                low_priority,
            })
        } else {
            None
        };
        let resume = raw.flag("resume")?;
        if resume && target.is_none() {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                "resume needs a target (operation, dedicatedNodes...): it continues an operation"
                    .into(),
            ));
        }
        let lease_id = raw.lease_id()?;
        let lease_minutes = match target {
            Some(StatusTarget {
                operation: Operation::ScaleUp,
                ..
            }) => raw.lease_minutes(Operation::ScaleUp, lease_id.as_ref())?,
            _ if raw.has("leaseMinutes") => {
                return Err(Refusal::invalid(
                    InputCode::InvalidParameter,
                    "leaseMinutes goes with a scale-up target and a leaseId".into(),
                ));
            }
            _ => None,
        };
        Ok(Self {
            pool_id,
            lease_id,
            target,
            resume,
            lease_minutes,
            fallback_to_dedicated: raw.flag("fallbackToDedicated")?,
        })
    }
}

#[cfg(test)]
mod tests;
