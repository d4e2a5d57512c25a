//! Answering GETs as the service does: one entity with `$select`, or a page of a list
//! with `$filter`, `$select`, `maxresults` and `$skiptoken` (see [`crate::odata`]).
//!
//! Every resource lists and reads the same way, so the way lives here, in [`Get`]: a
//! handler only finds its entities and renders them in the request's api-version, and
//! no resource can page or select differently from the others.
//!
//! Entities arrive as the wire JSON of the request's api-version, so filters and
//! selections see exactly the fields and values a client of that version sees. A
//! `$select` or `$filter` naming a property the entity type does not have, or a
//! `$filter` comparing a state with a value that is not one of its states, is 400
//! `InvalidQueryParameterValue` (strict where the service's answer is not recorded; see
//! docs/simulator.md).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::extract::Query;
use super::reply::{Answer, Reply, modified};
use super::state::SimulatorState;
use crate::errors::ErrorReply;
use crate::odata::{Expr, apply_select, parse_filter, parse_select};
use crate::versions::ApiVersion;
use crate::wire::ListPage;

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String, ErrorReply> {
    serde_json::to_string(v).map_err(|_| ErrorReply::internal("InternalError"))
}

/// An entity's wire struct as JSON, for the version to adapt and the query to filter.
pub(super) fn to_value<T: Serialize>(v: T) -> Result<Value, ErrorReply> {
    serde_json::to_value(v).map_err(|_| ErrorReply::internal("InternalError"))
}

/// What is listed: says which properties exist and which values a state can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Pool,
    Node,
    Job,
    Task,
    NodeCounts,
}

const POOL_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "url",
    "eTag",
    "lastModified",
    "creationTime",
    "state",
    "stateTransitionTime",
    "allocationState",
    "allocationStateTransitionTime",
    "vmSize",
    "virtualMachineConfiguration",
    "cloudServiceConfiguration",
    "resizeTimeout",
    "resizeErrors",
    "currentDedicatedNodes",
    "currentLowPriorityNodes",
    "targetDedicatedNodes",
    "targetLowPriorityNodes",
    "enableAutoScale",
    "autoScaleFormula",
    "autoScaleEvaluationInterval",
    "autoScaleRun",
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
    "stats",
    "mountConfiguration",
    "identity",
    "targetNodeCommunicationMode",
    "currentNodeCommunicationMode",
    "resourceTags",
    "upgradePolicy",
];

const NODE_PROPERTIES: &[&str] = &[
    "id",
    "url",
    "state",
    "schedulingState",
    "stateTransitionTime",
    "lastBootTime",
    "allocationTime",
    "ipAddress",
    "ipv6Address",
    "affinityId",
    "vmSize",
    "totalTasksRun",
    "runningTasksCount",
    "runningTaskSlotsCount",
    "totalTasksSucceeded",
    "recentTasks",
    "startTask",
    "startTaskInfo",
    "certificateReferences",
    "errors",
    "isDedicated",
    "endpointConfiguration",
    "nodeAgentInfo",
    "virtualMachineInfo",
];

const JOB_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "usesTaskDependencies",
    "url",
    "eTag",
    "lastModified",
    "creationTime",
    "state",
    "stateTransitionTime",
    "previousState",
    "previousStateTransitionTime",
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
    "executionInfo",
    "stats",
];

const TASK_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "url",
    "eTag",
    "lastModified",
    "creationTime",
    "exitConditions",
    "state",
    "stateTransitionTime",
    "previousState",
    "previousStateTransitionTime",
    "commandLine",
    "containerSettings",
    "resourceFiles",
    "outputFiles",
    "environmentSettings",
    "affinityInfo",
    "constraints",
    "requiredSlots",
    "userIdentity",
    "executionInfo",
    "nodeInfo",
    "multiInstanceSettings",
    "stats",
    "dependsOn",
    "applicationPackageReferences",
];

const NODE_COUNTS_PROPERTIES: &[&str] = &["poolId", "dedicated", "lowPriority"];

/// The values each state-like property can take (all the spec's enum values).
const ENUMS: &[(Kind, &str, &[&str])] = &[
    (Kind::Pool, "state", &["active", "deleting", "upgrading"]),
    (
        Kind::Pool,
        "allocationState",
        &["steady", "resizing", "stopping"],
    ),
    (
        Kind::Node,
        "state",
        &[
            "idle",
            "rebooting",
            "reimaging",
            "running",
            "unusable",
            "creating",
            "starting",
            "waitingforstarttask",
            "starttaskfailed",
            "unknown",
            "leavingpool",
            "offline",
            "preempted",
            "upgradingos",
            "deallocated",
            "deallocating",
        ],
    ),
    (Kind::Node, "schedulingState", &["enabled", "disabled"]),
    (Kind::Node, "startTaskInfo/state", &["running", "completed"]),
    (Kind::Node, "startTaskInfo/result", &["success", "failure"]),
    (
        Kind::Job,
        "state",
        &[
            "active",
            "disabling",
            "disabled",
            "enabling",
            "terminating",
            "completed",
            "deleting",
        ],
    ),
    (
        Kind::Task,
        "state",
        &["active", "preparing", "running", "completed"],
    ),
    (Kind::Task, "executionInfo/result", &["success", "failure"]),
];

impl Kind {
    /// The entity type's property names in `version` (names of other versions are not
    /// properties of this one).
    fn has_property(self, name: &str, version: ApiVersion) -> bool {
        let renamed = match name {
            "targetDedicated" | "currentDedicated" if !version.has_low_priority() => {
                return true;
            }
            "targetDedicatedNodes"
            | "currentDedicatedNodes"
            | "targetLowPriorityNodes"
            | "currentLowPriorityNodes"
                if !version.has_low_priority() =>
            {
                return false;
            }
            "maxTasksPerNode" if self == Kind::Pool && !version.has_task_slots() => return true,
            "taskSlotsPerNode" | "runningTaskSlotsCount" | "requiredSlots"
                if !version.has_task_slots() =>
            {
                return false;
            }
            other => other,
        };
        let list = match self {
            Kind::Pool => POOL_PROPERTIES,
            Kind::Node => NODE_PROPERTIES,
            Kind::Job => JOB_PROPERTIES,
            Kind::Task => TASK_PROPERTIES,
            Kind::NodeCounts => NODE_COUNTS_PROPERTIES,
        };
        list.contains(&renamed)
    }

    /// The property that identifies an entity in a list: sorts the list and pages it.
    fn key(self) -> &'static str {
        match self {
            Kind::NodeCounts => "poolId",
            _ => "id",
        }
    }

    /// The entity set `odata.metadata` names.
    fn entity_set(self) -> &'static str {
        match self {
            Kind::Pool => "pools",
            Kind::Node => "nodes",
            Kind::Job => "jobs",
            Kind::Task => "tasks",
            Kind::NodeCounts => "poolnodecounts",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Kind::Pool => "CloudPool",
            Kind::Node => "ComputeNode",
            Kind::Job => "CloudJob",
            Kind::Task => "CloudTask",
            Kind::NodeCounts => "PoolNodeCounts",
        }
    }

    /// Check a `$filter` against the type: its properties exist (the first segment of a
    /// path), and states are compared with states.
    fn check_filter(self, e: &Expr, version: ApiVersion) -> Result<(), String> {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.check_filter(a, version)?;
                self.check_filter(b, version)
            }
            Expr::Not(a) => self.check_filter(a, version),
            Expr::StartsWith(path, _) => self.check_path(path, version),
            Expr::Cmp(path, _, lit) => {
                self.check_path(path, version)?;
                let joined = path.join("/");
                if let Some((_, _, values)) = ENUMS
                    .iter()
                    .find(|(k, p, _)| *k == self && p.eq_ignore_ascii_case(&joined))
                {
                    match lit {
                        crate::odata::Lit::Str(s) if values.contains(&s.as_str()) => {}
                        other => {
                            return Err(format!(
                                "The value {other} is not a valid value of '{joined}'."
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// A `$filter` path names a property by its first segment, checked as `$select` is.
    fn check_path(self, path: &[String], version: ApiVersion) -> Result<(), String> {
        let first = path.first().map(String::as_str).unwrap_or("");
        self.check_select(&[first], version)
    }

    fn check_select(self, names: &[impl AsRef<str>], version: ApiVersion) -> Result<(), String> {
        match names
            .iter()
            .find(|n| !self.has_property(n.as_ref(), version))
        {
            None => Ok(()),
            Some(n) => Err(format!(
                "Could not find a property named '{}' on type 'Microsoft.Azure.Batch.Protocol.Entities.{}'.",
                n.as_ref(),
                self.type_name()
            )),
        }
    }
}

fn select_of(
    kind: Kind,
    q: &Query,
    version: ApiVersion,
) -> Result<Option<Vec<String>>, ErrorReply> {
    match q.get("$select") {
        None => Ok(None),
        Some(raw) => {
            let names = parse_select(raw);
            kind.check_select(&names, version)
                .map_err(|reason| ErrorReply::invalid_query("$select", raw, &reason))?;
            Ok(Some(names))
        }
    }
}

fn filter_of(kind: Kind, q: &Query, version: ApiVersion) -> Result<Option<Expr>, ErrorReply> {
    let Some(raw) = q.get("$filter") else {
        return Ok(None);
    };
    let e = parse_filter(raw).map_err(|e| ErrorReply::invalid_query("$filter", raw, &e.0))?;
    kind.check_filter(&e, version)
        .map_err(|reason| ErrorReply::invalid_query("$filter", raw, &reason))?;
    Ok(Some(e))
}

/// `odata.nextLink`: the same request, its `$skiptoken` now `last`.
fn next_page(url: &str, q: &Query, last: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.pairs {
        if !k.eq_ignore_ascii_case("$skiptoken") {
            ser.append_pair(k, v);
        }
    }
    ser.append_pair("$skiptoken", last);
    format!("{url}?{}", ser.finish())
}

/// `maxresults`: 1 to 1000, 1000 when left out.
fn page_size(q: &Query) -> Result<usize, ErrorReply> {
    let Some(s) = q.get("maxresults") else {
        return Ok(1000);
    };
    let n: i64 = s
        .parse()
        .map_err(|_| ErrorReply::invalid_query("maxresults", s, "MaxResults must be an integer"))?;
    if n < 1 {
        return Err(ErrorReply::invalid_query(
            "maxresults",
            s,
            "MaxResults cannot be less than 1",
        ));
    }
    if n > 1000 {
        return Err(ErrorReply::invalid_query(
            "maxresults",
            s,
            "MaxResults cannot be greater than 1000",
        ));
    }
    Ok(n as usize)
}

/// A GET of Batch entities: the api-version and OData query it asks with, and the state
/// that answers it. A handler finds the entities; [`Get::list`] and [`Get::entity`]
/// render them, so every resource answers its GETs the same way.
pub(super) struct Get {
    pub state: SimulatorState,
    pub version: ApiVersion,
    pub query: Query,
}

impl FromRequestParts<SimulatorState> for Get {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SimulatorState,
    ) -> Result<Self, Infallible> {
        Ok(Get {
            state: state.clone(),
            version: ApiVersion::from_request_parts(parts, state).await?,
            query: Query::from_request_parts(parts, state).await?,
        })
    }
}

impl Get {
    /// `https://127.0.0.1:PORT`, which entity URLs start with.
    pub(super) fn base(&self) -> &str {
        &self.state.base_url
    }

    /// A collection at `url`: one page of `entities`, in key order whatever order they
    /// come in. The key of the last entity of a full page becomes the `$skiptoken` of
    /// `odata.nextLink`, which repeats the request's other query parameters.
    pub(super) fn list(
        &self,
        kind: Kind,
        url: &str,
        entities: impl IntoIterator<Item = Result<Value, ErrorReply>>,
    ) -> Answer {
        let (q, version) = (&self.query, self.version);
        let filter = filter_of(kind, q, version)?;
        let max = page_size(q)?;
        let select = select_of(kind, q, version)?;
        let key = kind.key();
        let key_of = |v: &Value| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        let mut entities = entities
            .into_iter()
            .map(|v| v.map(|v| (key_of(&v), v)))
            .collect::<Result<Vec<_>, _>>()?;
        entities.sort_by(|a, b| a.0.cmp(&b.0));
        let after = q.get("$skiptoken");
        let mut page: Vec<Value> = Vec::new();
        let mut next_link = None;
        for (k, mut v) in entities {
            if after.is_some_and(|a| k.as_str() <= a)
                || filter.as_ref().is_some_and(|f| !f.matches(&v))
            {
                continue;
            }
            if page.len() == max {
                next_link = page.last().map(|last| next_page(url, q, &key_of(last)));
                break;
            }
            if let Some(s) = &select {
                // Keep the key so paging still works, drop it afterwards.
                apply_select(&mut v, &[s.clone(), vec![key.into()]].concat());
            }
            page.push(v);
        }
        if let Some(s) = &select
            && !s.iter().any(|x| x.eq_ignore_ascii_case(key))
        {
            for v in &mut page {
                if let Value::Object(m) = v {
                    m.shift_remove(key);
                }
            }
        }
        let body = to_json(&ListPage {
            metadata: format!("{}/$metadata#{}", self.base(), kind.entity_set()),
            value: page,
            next_link,
        })?;
        Ok(Reply::json(StatusCode::OK, body))
    }

    /// One entity, with `$select` applied, and the [`modified`] headers of an entity
    /// that has an ETag (pools, jobs and tasks do; nodes do not).
    pub(super) fn entity(
        &self,
        kind: Kind,
        mut item: Value,
        last_modified: Option<OffsetDateTime>,
    ) -> Answer {
        if let Some(names) = select_of(kind, &self.query, self.version)? {
            apply_select(&mut item, &names);
        }
        let metadata = format!("{}/$metadata#{}/@Element", self.base(), kind.entity_set());
        let reply = Reply::json(StatusCode::OK, with_metadata(metadata, item)?);
        Ok(match last_modified {
            Some(t) => reply.with_headers(modified(t)),
            None => reply,
        })
    }
}

/// A single object's body: `odata.metadata` first, then the object's own fields.
pub(super) fn with_metadata(metadata: String, item: Value) -> Result<String, ErrorReply> {
    let mut out = Map::new();
    out.insert("odata.metadata".into(), Value::String(metadata));
    if let Value::Object(m) = item {
        out.extend(m);
    }
    to_json(&Value::Object(out))
}
