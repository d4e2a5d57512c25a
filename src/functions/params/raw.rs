//! Reading the raw parameters: body and query merged (the body wins),
//! every name checked against the operation's list, and each value read
//! leniently (digits in strings are numbers) but never silently defaulted.

use super::FUNCTION_KEY_PARAM;
use crate::batch::PoolId;
use crate::functions::error::{InputCode, Refusal};
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::lease::{DEFAULT_LEASE_MINUTES, MAX_LEASE_MINUTES, MIN_LEASE_IDLE_MINUTES};
use crate::resizer::{LeaseId, Operation};
use crate::settings::Settings;
use serde_json::{Map, Value};

/// Raw name -> value pairs from both sources, body last so it wins.
pub(super) struct Raw {
    pub(super) values: Map<String, Value>,
}

impl Raw {
    pub(super) fn collect(
        query: Option<&str>,
        body: &[u8],
        known: &[&str],
    ) -> Result<Self, Refusal> {
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
                return Err(Refusal::invalid(
                    InputCode::DuplicateParameter,
                    format!("query parameter '{name}' is given more than once"),
                ));
            }
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            let parsed: Value = serde_json::from_slice(body).map_err(|e| {
                Refusal::invalid(
                    InputCode::InvalidJson,
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
                    return Err(Refusal::invalid(
                        InputCode::InvalidJson,
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
    pub(super) fn pool_id(&self, settings: &Settings) -> Result<PoolId, Refusal> {
        let pool_id = self.named_pool(settings)?;
        if settings.allowed_pools.allows(&pool_id) {
            Ok(pool_id)
        } else {
            Err(Refusal::PoolNotAllowed(pool_id.to_string()))
        }
    }

    pub(super) fn named_pool(&self, settings: &Settings) -> Result<PoolId, Refusal> {
        match self.values.get("poolId") {
            None | Some(Value::Null) => settings.default_pool_id.clone().ok_or_else(|| {
                Refusal::invalid(
                    InputCode::MissingParameter,
                    "poolId is required: no default pool is set (BATCH_POOL_ID)".to_owned(),
                )
            }),
            Some(Value::String(raw)) => raw
                .parse::<PoolId>()
                .map_err(|e| Refusal::invalid(InputCode::InvalidParameter, format!("poolId: {e}"))),
            Some(other) => Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("poolId must be a string, not {}", json_kind(other)),
            )),
        }
    }

    pub(super) fn count(
        &self,
        name: &str,
        default: u32,
        max: u32,
        limit_name: &str,
    ) -> Result<u32, Refusal> {
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
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} must be a whole number, not {}", describe(value)),
            ));
        };
        if n < 0 {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} must not be negative (got {n})"),
            ));
        }
        if n > i128::from(max) {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} is {n}, above the limit of {max} ({limit_name})"),
            ));
        }
        Ok(n as u32)
    }

    /// `dedicatedNodes` and `lowPriorityNodes`. Scale-up means one dedicated
    /// node unless told otherwise; scale-down, none. The caps
    /// (`MAX_*_NODES`) are the service's to check, for every face alike.
    pub(super) fn node_counts(&self, operation: Operation) -> Result<(u32, u32), Refusal> {
        let default_dedicated = match operation {
            Operation::ScaleUp => 1,
            Operation::ScaleDown => 0,
        };
        Ok((
            self.count(
                "dedicatedNodes",
                default_dedicated,
                u32::MAX,
                "a node count",
            )?,
            self.count("lowPriorityNodes", 0, u32::MAX, "a node count")?,
        ))
    }

    pub(super) fn operation(&self) -> Result<Option<Operation>, Refusal> {
        match self.values.get("operation") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s == "scale-up" => Ok(Some(Operation::ScaleUp)),
            Some(Value::String(s)) if s == "scale-down" => Ok(Some(Operation::ScaleDown)),
            Some(other) => Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!(
                    "operation must be 'scale-up' or 'scale-down', not {}",
                    describe(other)
                ),
            )),
        }
    }

    pub(super) fn lease_id(&self) -> Result<Option<LeaseId>, Refusal> {
        match self.values.get("leaseId") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => {
                let id = raw.parse::<LeaseId>().map_err(|e| {
                    Refusal::invalid(InputCode::InvalidParameter, format!("leaseId: {e}"))
                })?;
                if id.is_reserved() {
                    return Err(Refusal::invalid(
                        InputCode::InvalidParameter,
                        format!("leaseId '{id}' is reserved for the service's own leases"),
                    ));
                }
                Ok(Some(id))
            }
            Some(other) => Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("leaseId must be a string, not {}", json_kind(other)),
            )),
        }
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_null())
    }

    /// `true`/`false` as JSON booleans, or the strings `true`/`false`/`1`/`0`
    /// (query strings and ADF expressions give strings).
    pub(super) fn flag(&self, name: &str) -> Result<bool, Refusal> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(Refusal::invalid(
                    InputCode::InvalidParameter,
                    format!(
                        "{name} must be true or false, not {}",
                        describe(&Value::String(s.clone()))
                    ),
                )),
            },
            Some(other) => Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} must be true or false, not {}", describe(other)),
            )),
        }
    }

    /// A scale-down's `keepWarmMinutes` (the app's `KEEP_WARM_MINUTES` when
    /// left out). Not beside `force=true`: a forced shrink releases nodes
    /// that live leases hold, and keeping them warm would hold the same
    /// nodes again under a lease of its own; the request would say both
    /// "release them now" and "keep them". Without one, a forced shrink
    /// keeps nothing warm (the app's default included), and says so.
    pub(super) fn keep_warm(&self, force: bool, settings: &Settings) -> Result<KeepWarm, Refusal> {
        let keep = match self.values.get("keepWarmMinutes") {
            None | Some(Value::Null) => settings.keep_warm,
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("auto") => KeepWarm::Auto,
            Some(value @ Value::String(s)) if s.trim().parse::<i128>().is_err() => {
                return Err(Refusal::invalid(
                    InputCode::InvalidParameter,
                    format!(
                        "keepWarmMinutes must be a whole number of minutes or auto, not {}",
                        describe(value)
                    ),
                ));
            }
            Some(_) => KeepWarm::Minutes(self.count(
                "keepWarmMinutes",
                0,
                crate::settings::MAX_KEEP_WARM_MINUTES,
                "a warm pool for longer is a floor: use a lease or the schedule",
            )?),
        };
        if !force {
            return Ok(keep);
        }
        if self.has("keepWarmMinutes") && !keep.is_off() {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                "keepWarmMinutes cannot go with force=true: force releases nodes despite live \
                 leases, and keep-warm would hold the same nodes again under a lease of its own; \
                 send force alone to release them now, or keepWarmMinutes without force to keep them"
                    .into(),
            ));
        }
        Ok(KeepWarm::OFF)
    }

    /// `leaseMinutes`: 1 to 7 days, on scale-up, and only beside a `leaseId`
    /// (alone it would be silently meaningless).
    pub(super) fn lease_minutes(
        &self,
        operation: Operation,
        lease_id: Option<&LeaseId>,
    ) -> Result<Option<u32>, Refusal> {
        if !self.has("leaseMinutes") {
            return Ok(lease_id
                .filter(|_| operation == Operation::ScaleUp)
                .map(|_| DEFAULT_LEASE_MINUTES));
        }
        let minutes =
            self.lease_term("leaseMinutes", operation, lease_id, DEFAULT_LEASE_MINUTES)?;
        if minutes == 0 {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                "leaseMinutes must be at least 1: a 0-minute lease would already be expired".into(),
            ));
        }
        Ok(Some(minutes))
    }

    /// `leaseIdleMinutes`: on scale-up beside a `leaseId`, at least
    /// [`MIN_LEASE_IDLE_MINUTES`] (a node is idle for a while between the
    /// scale-up's answer and the first task ADF submits), at most 7 days.
    pub(super) fn lease_idle_minutes(
        &self,
        operation: Operation,
        lease_id: Option<&LeaseId>,
    ) -> Result<Option<u32>, Refusal> {
        if !self.has("leaseIdleMinutes") {
            return Ok(None);
        }
        let minutes = self.lease_term(
            "leaseIdleMinutes",
            operation,
            lease_id,
            MIN_LEASE_IDLE_MINUTES,
        )?;
        if minutes < MIN_LEASE_IDLE_MINUTES {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!(
                    "leaseIdleMinutes must be at least {MIN_LEASE_IDLE_MINUTES}: between the \
                     scale-up's answer and the pipeline's first task the node stands idle, and \
                     the lease must not lapse then"
                ),
            ));
        }
        Ok(Some(minutes))
    }

    /// A term of the lease a scale-up takes (`leaseMinutes`, `leaseIdleMinutes`):
    /// refused on a scale-down (which releases its lease) and without a `leaseId`
    /// (there is no lease then, and silently ignoring it would hide a mistake);
    /// otherwise its count, at most 7 days.
    fn lease_term(
        &self,
        name: &str,
        operation: Operation,
        lease_id: Option<&LeaseId>,
        default: u32,
    ) -> Result<u32, Refusal> {
        if operation == Operation::ScaleDown {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} applies to scale-up only: a scale-down releases its lease"),
            ));
        }
        if lease_id.is_none() {
            return Err(Refusal::invalid(
                InputCode::InvalidParameter,
                format!("{name} needs a leaseId: without one there is no lease to hold"),
            ));
        }
        self.count(
            name,
            default,
            MAX_LEASE_MINUTES,
            "a lease lasts at most 7 days",
        )
    }
}

pub(super) fn check_known(name: &str, known: &[&str], what: &str) -> Result<(), Refusal> {
    if known.contains(&name) {
        Ok(())
    } else {
        Err(Refusal::invalid(
            InputCode::UnknownParameter,
            format!(
                "unknown {what} '{}'; known: {}",
                truncate(name, 64),
                known.join(", ")
            ),
        ))
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn describe(value: &Value) -> String {
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
