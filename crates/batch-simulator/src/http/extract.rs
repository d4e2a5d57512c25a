//! Reading requests: the query string, the path, JSON bodies and the values inside them
//! that more than one route checks.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, Uri};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::parse_iso_duration;
use crate::errors::ErrorReply;
use crate::model::node::Dealloc;
use crate::versions::{ApiVersion, UNKNOWN_MARK};

/// Decoded query parameters, names matched case-insensitively as the service does.
pub(super) struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn parse(raw: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query { pairs }
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// What stays encoded in a normalised path segment: enough to keep it one valid segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The path's segments as the service reads them: outer slashes ignored (`/pools/` is
/// `/pools`), each segment percent-decoded (`/pool%73` is `/pools`; bad UTF-8 replaced).
pub(super) fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// Rewrite a Batch request's path to the form the router matches: [`segments`], each
/// re-encoded only where it must be. Route matching is then exact, and `Path` extracts
/// the decoded ids. Runs after authentication, which signs the path as sent.
pub(super) fn normalize_path<B>(mut req: Request<B>) -> Request<B> {
    let path: Vec<String> = segments(req.uri().path())
        .iter()
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    let mut path_and_query = format!("/{}", path.join("/"));
    if let Some(q) = req.uri().query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
        *req.uri_mut() = uri;
    }
    req
}

/// A body that may be empty (then every field is absent), read without checking its
/// property names (the autoscale routes).
pub(super) fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ErrorReply> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ErrorReply::invalid_body(e.to_string()))
}

/// What a request body may hold: the type the service names in its errors, and the
/// property names of that type in any published version (current names; older names are
/// renamed by [`ApiVersion::adapt_request`] first).
pub(super) struct BodySpec {
    pub entity: &'static str,
    pub known: &'static [&'static str],
}

pub(super) const POOL_CREATE: BodySpec = BodySpec {
    entity: "PoolAddParameter",
    known: &[
        "id",
        "displayName",
        "vmSize",
        "virtualMachineConfiguration",
        "cloudServiceConfiguration",
        "resizeTimeout",
        "targetDedicatedNodes",
        "targetLowPriorityNodes",
        "enableAutoScale",
        "autoScaleFormula",
        "autoScaleEvaluationInterval",
        "enableInterNodeCommunication",
        "networkConfiguration",
        "startTask",
        "certificateReferences",
        "applicationPackageReferences",
        "applicationLicenses",
        "taskSlotsPerNode",
        "taskSchedulingPolicy",
        "userAccounts",
        "metadata",
        "mountConfiguration",
        "targetNodeCommunicationMode",
        "resourceTags",
        "upgradePolicy",
    ],
};

pub(super) const POOL_PATCH: BodySpec = BodySpec {
    entity: "PoolPatchParameter",
    known: &[
        "displayName",
        "vmSize",
        "enableInterNodeCommunication",
        "startTask",
        "certificateReferences",
        "applicationPackageReferences",
        "metadata",
        "virtualMachineConfiguration",
        "targetNodeCommunicationMode",
        "taskSlotsPerNode",
        "taskSchedulingPolicy",
        "networkConfiguration",
        "resourceTags",
        "userAccounts",
        "mountConfiguration",
        "upgradePolicy",
    ],
};

pub(super) const POOL_RESIZE: BodySpec = BodySpec {
    entity: "PoolResizeParameter",
    known: &[
        "targetDedicatedNodes",
        "targetLowPriorityNodes",
        "resizeTimeout",
        "nodeDeallocationOption",
    ],
};

pub(super) const NODE_REMOVE: BodySpec = BodySpec {
    entity: "NodeRemoveParameter",
    known: &["nodeList", "resizeTimeout", "nodeDeallocationOption"],
};

pub(super) const JOB_CREATE: BodySpec = BodySpec {
    entity: "JobAddParameter",
    known: &[
        "id",
        "displayName",
        "usesTaskDependencies",
        "priority",
        "allowTaskPreemption",
        "maxParallelTasks",
        "constraints",
        "jobManagerTask",
        "jobPreparationTask",
        "jobReleaseTask",
        "commonEnvironmentSettings",
        "poolInfo",
        "onAllTasksComplete",
        "onTaskFailure",
        "networkConfiguration",
        "metadata",
    ],
};

pub(super) const TASK_CREATE: BodySpec = BodySpec {
    entity: "TaskAddParameter",
    known: &[
        "id",
        "displayName",
        "exitConditions",
        "commandLine",
        "containerSettings",
        "resourceFiles",
        "outputFiles",
        "environmentSettings",
        "affinityInfo",
        "constraints",
        "requiredSlots",
        "userIdentity",
        "multiInstanceSettings",
        "dependsOn",
        "applicationPackageReferences",
    ],
};

/// Read a request body as the service does (an empty body is `{}`): malformed JSON, a
/// property the type does not have, or a value that does not convert to the property's
/// type is 400 `InvalidRequestBody`; primitives sent as strings are converted (see
/// [`crate::wire::lenient`]).
pub(super) fn read_body<T: DeserializeOwned>(
    body: &[u8],
    version: ApiVersion,
    spec: &BodySpec,
) -> Result<T, ErrorReply> {
    let mut v: Value = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| ErrorReply::invalid_body(e.to_string()))?
    };
    if !v.is_object() {
        return Err(ErrorReply::invalid_body(
            "A JSON object was expected as the request body.",
        ));
    }
    version.adapt_request(&mut v);
    if let Some(m) = v.as_object() {
        let unknown = m
            .get(UNKNOWN_MARK)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                m.keys()
                    .find(|k| !spec.known.contains(&k.as_str()) && !k.starts_with("odata."))
                    .cloned()
            });
        if let Some(name) = unknown {
            return Err(ErrorReply::invalid_body(format!(
                "The property '{name}' does not exist on type 'Microsoft.Azure.Batch.Protocol.Entities.{}'. Make sure to only use property names that are defined by the type.",
                spec.entity
            )));
        }
    }
    serde_json::from_value(v).map_err(|e| ErrorReply::invalid_body(e.to_string()))
}

/// A node count from a body: an `Edm.Int32` that must not be negative.
pub(super) fn count(name: &str, v: Option<i64>) -> Result<Option<u32>, ErrorReply> {
    match v {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            ErrorReply::invalid_property(name, n.to_string(), "The value must not be negative.")
        }),
    }
}

/// `resizeTimeout`: ISO-8601, at least 5 minutes; default `PT15M`.
pub(super) fn parse_timeout(v: Option<&str>) -> Result<(String, Duration), ErrorReply> {
    match v {
        None => Ok(("PT15M".into(), Duration::from_secs(900))),
        Some(s) => {
            let d = parse_iso_duration(s).ok_or_else(|| {
                ErrorReply::invalid_property(
                    "resizeTimeout",
                    s,
                    "The value is not a valid ISO-8601 duration.",
                )
            })?;
            if d < Duration::from_secs(300) {
                return Err(ErrorReply::invalid_property(
                    "resizeTimeout",
                    s,
                    "The specified resize timeout is less than the minimum of 5 minutes.",
                ));
            }
            Ok((s.to_string(), d))
        }
    }
}

/// `nodeDeallocationOption`; default `requeue`.
pub(super) fn parse_dealloc(v: Option<&str>) -> Result<Dealloc, ErrorReply> {
    match v {
        None => Ok(Dealloc::Requeue),
        Some(s) => Dealloc::parse(s).ok_or_else(|| {
            ErrorReply::invalid_property(
                "nodeDeallocationOption",
                s,
                "Must be one of requeue, terminate, taskcompletion, retaineddata.",
            )
        }),
    }
}

/// Pool, job and task ids: up to 64 letters, digits, hyphens and underscores.
pub(super) fn check_id(id: String) -> Result<String, ErrorReply> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(id)
    } else {
        Err(ErrorReply::invalid_property(
            "id",
            id,
            "The id may contain up to 64 letters, digits, hyphens and underscores.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        let req = Request::builder().uri(path).body(()).unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn paths_are_read_as_the_service_reads_them() {
        assert_eq!(normalized("/pools/?api-version=1"), "/pools?api-version=1");
        assert_eq!(normalized("//pools"), "/pools");
        assert_eq!(normalized("/pool%73/p%31"), "/pools/p1");
        assert_eq!(normalized("/pools//nodes"), "/pools//nodes");
        assert_eq!(normalized("/pools/a%2Fb"), "/pools/a%2Fb");
        assert_eq!(normalized("/"), "/");
        assert_eq!(segments("/pools/a%2Fb"), vec!["pools", "a/b"]);
    }
}
