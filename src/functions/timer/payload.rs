//! A timer invocation's payload, as the host posts it: read leniently (names
//! in any case, nulls and extra fields welcome), every part optional.

use crate::functions::params::json_kind;
use serde_json::{Map, Value};

/// What the host told us about the firing; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Firing {
    /// The key under `Data` the timer came in (`timer` in our function.json).
    pub binding: Option<String>,
    pub is_past_due: Option<bool>,
    /// `None`: no `ScheduleStatus` key; `Some(None)`: null (useMonitor off).
    pub schedule_status: Option<Option<ScheduleStatus>>,
    pub host_utc_now: Option<String>,
    pub method_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScheduleStatus {
    pub last: Option<String>,
    pub next: Option<String>,
    pub last_updated: Option<String>,
}

/// Reads an invocation body leniently: keys in any case, unknown keys
/// ignored, missing parts tolerated. Only a body that cannot be a timer
/// invocation (not a JSON object, or a known key of the wrong type) fails.
pub(crate) fn parse_firing(body: &[u8]) -> Result<Firing, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "the invocation body is empty; expected a JSON object with Data and Metadata".into(),
        );
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the invocation body is not JSON: {e}"))?;
    let root = value.as_object().ok_or_else(|| {
        format!(
            "the invocation body is {} in JSON, not an object with Data and Metadata",
            json_kind(&value)
        )
    })?;
    let mut firing = Firing::default();
    if let Some(data) = object_at(root, "Data", "Data")? {
        let timer = match field(data, "timer") {
            Some((key, value)) => Some((key, value)),
            // Another binding name: take the only entry there is.
            None if data.len() == 1 => data.iter().next().map(|(k, v)| (k.as_str(), v)),
            None => None,
        };
        if let Some((key, value)) = timer {
            firing.binding = Some(key.to_owned());
            let path = format!("Data.{key}");
            if let Some(info) = as_object(value, &path)? {
                firing.is_past_due = match field(info, "IsPastDue").map(|(_, v)| v) {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(other) => {
                        return Err(format!(
                            "{path}.IsPastDue must be true or false, not {}",
                            json_kind(other)
                        ));
                    }
                };
                firing.schedule_status = match field(info, "ScheduleStatus") {
                    None => None,
                    Some((key, value)) => {
                        let status = as_object(value, &format!("{path}.{key}"))?;
                        Some(status.map(|s| ScheduleStatus {
                            last: text(s, "Last"),
                            next: text(s, "Next"),
                            last_updated: text(s, "LastUpdated"),
                        }))
                    }
                };
            }
        }
    }
    if let Some(metadata) = object_at(root, "Metadata", "Metadata")?
        && let Some((_, Value::Object(sys))) = field(metadata, "sys")
    {
        firing.host_utc_now = text(sys, "UtcNow");
        firing.method_name = text(sys, "MethodName");
    }
    Ok(firing)
}

fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<(&'a str, &'a Value)> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(k, v)| (k.as_str(), v))
}

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    match field(object, key)?.1 {
        Value::String(s) => Some(s.chars().take(64).collect()),
        _ => None,
    }
}

/// `Ok(None)` for null; an error naming `path` for anything but an object.
fn as_object<'a>(value: &'a Value, path: &str) -> Result<Option<&'a Map<String, Value>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Object(object) => Ok(Some(object)),
        other => Err(format!(
            "{path} must be an object, not {}",
            json_kind(other)
        )),
    }
}

fn object_at<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match field(object, key) {
        None => Ok(None),
        Some((_, value)) => as_object(value, path),
    }
}
