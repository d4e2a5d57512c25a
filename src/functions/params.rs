//! Request parameters from a JSON body and/or the query string.
//!
//! ADF's Azure Function activity sends a JSON body; curl users and the status
//! URL use the query string. Both are accepted; a value in the body wins over
//! the same name in the query. Numbers may come as JSON numbers or as strings
//! of digits, because ADF expressions (`@pipeline().parameters.nodes`) often
//! produce strings. Anything unknown or ill-typed is refused with a message
//! naming the parameter: a typo must not silently fall back to a default.

use super::error::ApiError;
use crate::batch::PoolId;
use crate::resizer::lease::{DEFAULT_LEASE_MINUTES, MAX_LEASE_MINUTES};
use crate::resizer::{LeaseId, Operation};
use crate::settings::{HTTP_WAIT_LIMIT_SECONDS, Settings};
use serde_json::{Map, Value};

/// Function keys travel as `?code=`; accepted and never read or echoed.
const FUNCTION_KEY_PARAM: &str = "code";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleParams {
    pub pool_id: PoolId,
    pub dedicated: u32,
    pub low_priority: u32,
    pub wait_seconds: u32,
    /// Scale-up holds this lease; scale-down releases it and keeps what the
    /// remaining live leases need.
    pub lease_id: Option<LeaseId>,
    pub lease_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusParams {
    pub pool_id: PoolId,
    /// A scale-down target judged with this lease released: live leases count.
    pub lease_id: Option<LeaseId>,
    /// With a target, the status says whether it is met (200/202/error);
    /// without, it is a plain view of the pool (200).
    pub target: Option<StatusTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusTarget {
    pub operation: Operation,
    pub dedicated: u32,
    pub low_priority: u32,
}

/// Raw name -> value pairs from both sources, body last so it wins.
struct Raw {
    values: Map<String, Value>,
}

const SCALE_NAMES: &[&str] = &[
    "poolId",
    "dedicatedNodes",
    "lowPriorityNodes",
    "waitSeconds",
    "leaseId",
    "leaseMinutes",
];
const STATUS_NAMES: &[&str] = &[
    "poolId",
    "dedicatedNodes",
    "lowPriorityNodes",
    "operation",
    "leaseId",
];

impl Raw {
    fn collect(query: Option<&str>, body: &[u8], known: &[&str]) -> Result<Self, ApiError> {
        let mut values = Map::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if name == FUNCTION_KEY_PARAM {
                continue;
            }
            check_known(&name, known, "query parameter")?;
            if values
                .insert(name.to_string(), Value::String(value.into_owned()))
                .is_some()
            {
                return Err(ApiError::invalid(
                    "DuplicateParameter",
                    format!("query parameter '{name}' is given more than once"),
                ));
            }
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            let parsed: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::invalid(
                    "InvalidJson",
                    format!("the request body is not valid JSON: {e}"),
                )
            })?;
            match parsed {
                Value::Object(fields) => {
                    for (name, value) in fields {
                        check_known(&name, known, "body field")?;
                        values.insert(name, value);
                    }
                }
                Value::Null => {}
                other => {
                    return Err(ApiError::invalid(
                        "InvalidJson",
                        format!(
                            "the request body must be a JSON object, not {}",
                            json_kind(&other)
                        ),
                    ));
                }
            }
        }
        Ok(Self { values })
    }

    /// The pool named (or the default), if this app may touch it.
    fn pool_id(&self, settings: &Settings) -> Result<PoolId, ApiError> {
        let pool_id = self.named_pool(settings)?;
        if settings.allowed_pools.allows(&pool_id) {
            Ok(pool_id)
        } else {
            Err(ApiError::PoolNotAllowed(pool_id.to_string()))
        }
    }

    fn named_pool(&self, settings: &Settings) -> Result<PoolId, ApiError> {
        match self.values.get("poolId") {
            None | Some(Value::Null) => settings.default_pool_id.clone().ok_or_else(|| {
                ApiError::invalid(
                    "MissingParameter",
                    "poolId is required: no default pool is set (BATCH_POOL_ID)".to_owned(),
                )
            }),
            Some(Value::String(raw)) => raw
                .parse::<PoolId>()
                .map_err(|e| ApiError::invalid("InvalidParameter", format!("poolId: {e}"))),
            Some(other) => Err(ApiError::invalid(
                "InvalidParameter",
                format!("poolId must be a string, not {}", json_kind(other)),
            )),
        }
    }

    fn count(&self, name: &str, default: u32, max: u32, limit_name: &str) -> Result<u32, ApiError> {
        let value = match self.values.get(name) {
            None | Some(Value::Null) => return Ok(default),
            Some(value) => value,
        };
        let parsed: Option<i128> = match value {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from)),
            Value::String(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        let Some(n) = parsed else {
            return Err(ApiError::invalid(
                "InvalidParameter",
                format!("{name} must be a whole number, not {}", describe(value)),
            ));
        };
        if n < 0 {
            return Err(ApiError::invalid(
                "InvalidParameter",
                format!("{name} must not be negative (got {n})"),
            ));
        }
        if n > i128::from(max) {
            return Err(ApiError::invalid(
                "InvalidParameter",
                format!("{name} is {n}, above the limit of {max} ({limit_name})"),
            ));
        }
        Ok(n as u32)
    }

    /// `dedicatedNodes` and `lowPriorityNodes`, capped by the settings.
    /// Scale-up means one dedicated node unless told otherwise; scale-down, none.
    fn node_counts(
        &self,
        operation: Operation,
        settings: &Settings,
    ) -> Result<(u32, u32), ApiError> {
        let default_dedicated = match operation {
            Operation::ScaleUp => 1,
            Operation::ScaleDown => 0,
        };
        Ok((
            self.count(
                "dedicatedNodes",
                default_dedicated,
                settings.max_dedicated_nodes,
                "MAX_DEDICATED_NODES",
            )?,
            self.count(
                "lowPriorityNodes",
                0,
                settings.max_low_priority_nodes,
                "MAX_LOW_PRIORITY_NODES",
            )?,
        ))
    }

    fn operation(&self) -> Result<Option<Operation>, ApiError> {
        match self.values.get("operation") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "scale-up" => Ok(Some(Operation::ScaleUp)),
            Some(Value::String(s)) if s == "scale-down" => Ok(Some(Operation::ScaleDown)),
            Some(other) => Err(ApiError::invalid(
                "InvalidParameter",
                format!(
                    "operation must be 'scale-up' or 'scale-down', not {}",
                    describe(other)
                ),
            )),
        }
    }

    fn lease_id(&self) -> Result<Option<LeaseId>, ApiError> {
        match self.values.get("leaseId") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => raw
                .parse::<LeaseId>()
                .map(Some)
                .map_err(|e| ApiError::invalid("InvalidParameter", format!("leaseId: {e}"))),
            Some(other) => Err(ApiError::invalid(
                "InvalidParameter",
                format!("leaseId must be a string, not {}", json_kind(other)),
            )),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_null())
    }
}

impl ScaleParams {
    pub fn parse(
        operation: Operation,
        query: Option<&str>,
        body: &[u8],
        settings: &Settings,
    ) -> Result<Self, ApiError> {
        let raw = Raw::collect(query, body, SCALE_NAMES)?;
        let (dedicated, low_priority) = raw.node_counts(operation, settings)?;
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
            lease_id: raw.lease_id()?,
            lease_minutes: raw.count(
                "leaseMinutes",
                DEFAULT_LEASE_MINUTES,
                MAX_LEASE_MINUTES,
                "a lease lasts at most 7 days",
            )?,
        })
    }
}

impl StatusParams {
    pub fn parse(query: Option<&str>, settings: &Settings) -> Result<Self, ApiError> {
        let raw = Raw::collect(query, b"", STATUS_NAMES)?;
        let pool_id = raw.pool_id(settings)?;
        let operation = raw.operation()?;
        let wants_target =
            operation.is_some() || raw.has("dedicatedNodes") || raw.has("lowPriorityNodes");
        let target = if wants_target {
            let operation = operation.unwrap_or(Operation::ScaleUp);
            let (dedicated, low_priority) = raw.node_counts(operation, settings)?;
            Some(StatusTarget {
                operation,
                dedicated,
                low_priority,
            })
        } else {
            None
        };
        Ok(Self {
            pool_id,
            lease_id: raw.lease_id()?,
            target,
        })
    }
}

fn check_known(name: &str, known: &[&str], what: &str) -> Result<(), ApiError> {
    if known.contains(&name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "UnknownParameter",
            format!(
                "unknown {what} '{}'; known: {}",
                truncate(name, 64),
                known.join(", ")
            ),
        ))
    }
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", truncate(s, 64)),
        Value::Number(n) => n.to_string(),
        other => json_kind(other).to_owned(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_env(|name| match name {
            "BATCH_ACCOUNT_URL" => Some("https://a.b".into()),
            "BATCH_POOL_ID" => Some("default-pool".into()),
            "ALLOWED_POOLS" => Some("default-pool,q,p,a".into()),
            _ => None,
        })
        .unwrap()
    }

    fn up(query: Option<&str>, body: &str) -> Result<ScaleParams, ApiError> {
        ScaleParams::parse(Operation::ScaleUp, query, body.as_bytes(), &settings())
    }

    fn code(result: Result<ScaleParams, ApiError>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn defaults_come_from_settings() {
        let p = up(None, "").unwrap();
        assert_eq!(p.pool_id.as_str(), "default-pool");
        assert_eq!((p.dedicated, p.low_priority, p.wait_seconds), (1, 0, 180));
        let down = ScaleParams::parse(Operation::ScaleDown, None, b"{}", &settings()).unwrap();
        assert_eq!(down.dedicated, 0);
    }

    #[test]
    fn body_and_query_both_work_and_body_wins() {
        let p = up(
            Some("poolId=q&dedicatedNodes=2&code=secret"),
            r#"{"dedicatedNodes":"3","waitSeconds":5}"#,
        )
        .unwrap();
        assert_eq!(p.pool_id.as_str(), "q");
        assert_eq!((p.dedicated, p.wait_seconds), (3, 5));
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert_eq!(code(up(None, "{not json")), "InvalidJson");
        assert_eq!(code(up(None, "[1,2]")), "InvalidJson");
        assert_eq!(code(up(None, r#"{"dedicatedNode":1}"#)), "UnknownParameter");
        assert_eq!(
            code(up(None, r#"{"dedicatedNodes":-1}"#)),
            "InvalidParameter"
        );
        assert_eq!(
            code(up(None, r#"{"dedicatedNodes":1.5}"#)),
            "InvalidParameter"
        );
        assert_eq!(
            code(up(None, r#"{"dedicatedNodes":true}"#)),
            "InvalidParameter"
        );
        assert_eq!(
            code(up(None, r#"{"dedicatedNodes":99999999999999999999999}"#)),
            "InvalidParameter"
        );
        assert_eq!(
            code(up(None, r#"{"dedicatedNodes":11}"#)),
            "InvalidParameter"
        );
        assert_eq!(code(up(None, r#"{"waitSeconds":600}"#)), "InvalidParameter");
        assert_eq!(code(up(None, r#"{"poolId":"../x"}"#)), "InvalidParameter");
        assert_eq!(code(up(None, r#"{"poolId":7}"#)), "InvalidParameter");
        assert_eq!(
            code(up(Some("poolId=a&poolId=b"), "")),
            "DuplicateParameter"
        );
        let err = up(None, r#"{"dedicatedNodes":11}"#).unwrap_err();
        assert!(err.to_string().contains("MAX_DEDICATED_NODES"));
    }

    #[test]
    fn status_with_and_without_a_target() {
        let plain = StatusParams::parse(Some("poolId=p"), &settings()).unwrap();
        assert_eq!(plain.target, None);
        let t = StatusParams::parse(
            Some("poolId=p&operation=scale-down&dedicatedNodes=0"),
            &settings(),
        )
        .unwrap();
        assert_eq!(t.target.unwrap().operation, Operation::ScaleDown);
        let implicit = StatusParams::parse(Some("dedicatedNodes=2"), &settings()).unwrap();
        assert_eq!(implicit.target.unwrap().operation, Operation::ScaleUp);
        assert!(StatusParams::parse(Some("operation=sideways"), &settings()).is_err());
    }
}
