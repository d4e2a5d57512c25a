//! Rendering entities as the service does: one with `$select`, or a page of a list with
//! `$filter`, `$select`, `maxresults` and `$skiptoken` (see [`crate::odata`]).
//!
//! Entities arrive as the wire JSON of the request's api-version, so filters and
//! selections see exactly the fields and values a client of that version sees. A
//! `$select` or `$filter` naming a property the entity type does not have, or a
//! `$filter` comparing a state with a value that is not one of its states, is 400
//! `InvalidQueryParameterValue` (strict where the service's answer is not recorded; see
//! docs/simulator.md).

use serde::Serialize;
use serde_json::{Map, Value};

use super::extract::Query;
use crate::errors::ApiError;
use crate::odata::{Expr, apply_select, parse_filter, parse_select};
use crate::versions::ApiVersion;
use crate::wire::ListPage;

pub fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|_| ApiError::internal("InternalError"))
}

/// What is listed: says which properties exist and which values a state can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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

    fn check_path(self, path: &[String], version: ApiVersion) -> Result<(), String> {
        let first = path.first().map(String::as_str).unwrap_or("");
        if self.has_property(first, version) {
            Ok(())
        } else {
            Err(format!(
                "Could not find a property named '{first}' on type 'Microsoft.Azure.Batch.Protocol.Entities.{}'.",
                self.type_name()
            ))
        }
    }

    fn check_select(self, names: &[String], version: ApiVersion) -> Result<(), String> {
        match names.iter().find(|n| !self.has_property(n, version)) {
            None => Ok(()),
            Some(n) => Err(format!(
                "Could not find a property named '{n}' on type 'Microsoft.Azure.Batch.Protocol.Entities.{}'.",
                self.type_name()
            )),
        }
    }
}

fn select_of(kind: Kind, q: &Query, version: ApiVersion) -> Result<Option<Vec<String>>, ApiError> {
    match q.get("$select") {
        None => Ok(None),
        Some(raw) => {
            let names = parse_select(raw);
            kind.check_select(&names, version)
                .map_err(|reason| ApiError::invalid_query("$select", raw, &reason))?;
            Ok(Some(names))
        }
    }
}

/// One list page. `items` are `(key, entity)` sorted by key; the key of the last entity
/// of a full page becomes the `$skiptoken` of `odata.nextLink`.
pub fn list_page(
    kind: Kind,
    version: ApiVersion,
    items: Vec<(String, Value)>,
    q: &Query,
    metadata: String,
    next_base: &str,
) -> Result<String, ApiError> {
    let filter = match q.get("$filter") {
        Some(f) => {
            let e = parse_filter(f).map_err(|e| ApiError::invalid_query("$filter", f, &e.0))?;
            kind.check_filter(&e, version)
                .map_err(|reason| ApiError::invalid_query("$filter", f, &reason))?;
            Some(e)
        }
        None => None,
    };
    let max = match q.get("maxresults") {
        None => 1000usize,
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::invalid_query("maxresults", s, "MaxResults must be an integer")
            })?;
            if n < 1 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be less than 1",
                ));
            }
            if n > 1000 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be greater than 1000",
                ));
            }
            n as usize
        }
    };
    let after = q.get("$skiptoken").map(str::to_string);
    let select = select_of(kind, q, version)?;
    let mut out: Vec<Value> = Vec::new();
    let mut next = None;
    for (key, mut v) in items {
        if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
            continue;
        }
        if let Some(f) = &filter
            && !f.matches(&v)
        {
            continue;
        }
        if out.len() == max {
            next = out
                .last()
                .and_then(|l| l.get("id").or_else(|| l.get("poolId")))
                .and_then(Value::as_str)
                .map(str::to_string);
            break;
        }
        if let Some(s) = &select {
            // Keep the key so paging still works, drop it afterwards.
            apply_select(
                &mut v,
                &[s.clone(), vec!["id".into(), "poolId".into()]].concat(),
            );
        }
        out.push(v);
    }
    let next_link = next.map(|last| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skiptoken", &last);
        format!("{next_base}?{}", ser.finish())
    });
    if let Some(s) = &select {
        let keep_id = s.iter().any(|x| x.eq_ignore_ascii_case("id"));
        let keep_pid = s.iter().any(|x| x.eq_ignore_ascii_case("poolId"));
        for v in &mut out {
            if let Value::Object(m) = v {
                if !keep_id {
                    m.shift_remove("id");
                }
                if !keep_pid {
                    m.shift_remove("poolId");
                }
            }
        }
    }
    to_json(&ListPage {
        metadata,
        value: out,
        next_link,
    })
}

/// One entity, with `$select` applied, `odata.metadata` first.
pub fn single(
    kind: Kind,
    version: ApiVersion,
    mut item: Value,
    q: &Query,
    metadata: String,
) -> Result<String, ApiError> {
    if let Some(names) = select_of(kind, q, version)? {
        apply_select(&mut item, &names);
    }
    let mut out = Map::new();
    out.insert("odata.metadata".into(), Value::String(metadata));
    if let Value::Object(m) = item {
        out.extend(m);
    }
    to_json(&Value::Object(out))
}
