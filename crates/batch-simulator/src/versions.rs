//! Data-plane api-versions: every version published in the REST specification
//! (`Azure/azure-rest-api-specs`, `specification/batch/data-plane/Batch/stable/*`) is
//! served, each with the wire differences that matter to a client that resizes pools.
//!
//! The world keeps one model; a version only changes how it is rendered (and how request
//! bodies are named). What changes, and where it is known from:
//!
//! | from | change | source |
//! |---|---|---|
//! | 2017-05-01.5.0 | `targetDedicated`/`currentDedicated` become `targetDedicatedNodes`/`currentDedicatedNodes`, low-priority counts appear | spec examples `PoolGet_Basic.json`, `PoolResize.json` of 2017-01-01.4.0 and 2017-05-01.5.0 |
//! | 2017-06-01.5.1 | `GET /jobs/{id}/taskcounts` exists (bare counts + `validationStatus`) | spec example `JobGetTaskCounts.json` 2017-06-01.5.1 |
//! | 2020-09-01.12.0 | `maxTasksPerNode` becomes `taskSlotsPerNode`; task counts wrapped in `taskCounts`/`taskSlotCounts`; nodes show `runningTaskSlotsCount`, tasks `requiredSlots` | spec examples `PoolGet_Basic.json`, `JobGetTaskCounts.json` 2020-09-01.12.0 |
//! | 2022-10-01.16.0 | pools that have had nodes show `currentNodeCommunicationMode` | versioning page; recorded at 2024-07-01.20.0 (Java `PoolTests`) and absent at 2025-06-01 (JS, .NET recordings) |
//! | 2025-06-01 | `taskSchedulingPolicy.jobDefaultOrder` appears; `certificateReferences` (`[]`) and `currentNodeCommunicationMode` are gone | JS recordings at 2025-06-01 vs Java recordings at 2024-07-01.20.0 |
//!
//! 2026-10-01 is served like 2025-06-01: its specification's pool example shows no
//! difference that matters here. An unknown version is refused as the service does:
//! 400 `InvalidQueryParameterValue` (Azure/azure-sdk-for-python#19224, #20972).

use serde_json::{Map, Value};

/// Every stable data-plane version, oldest first, as the spec folders name them.
pub(crate) const PUBLISHED: &[&str] = &[
    "2015-12-01.2.2",
    "2016-02-01.3.0",
    "2016-07-01.3.1",
    "2017-01-01.4.0",
    "2017-05-01.5.0",
    "2017-06-01.5.1",
    "2017-09-01.6.0",
    "2018-03-01.6.1",
    "2018-08-01.7.0",
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    "2025-06-01",
    "2026-10-01",
];

/// The version the simulator renders when nobody asked (internal renders, the docs).
pub(crate) const DEFAULT: &str = "2025-06-01";

/// One published api-version. Versions order by their date, which every name starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ApiVersion(&'static str);

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion(DEFAULT)
    }
}

impl ApiVersion {
    /// A published version, spelled exactly as published.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        PUBLISHED.iter().find(|v| **v == s).map(|v| ApiVersion(v))
    }

    #[cfg(test)]
    fn as_str(self) -> &'static str {
        self.0
    }

    fn since(self, date: &str) -> bool {
        self.0 >= date
    }

    /// `targetDedicatedNodes` and low-priority nodes (else `targetDedicated`).
    pub(crate) fn has_low_priority(self) -> bool {
        self.since("2017-05-01")
    }

    /// `taskSlotsPerNode`, `requiredSlots`, `runningTaskSlotsCount`, wrapped task counts.
    pub(crate) fn has_task_slots(self) -> bool {
        self.since("2020-09-01")
    }

    /// `GET /jobs/{id}/taskcounts`.
    pub(crate) fn has_task_counts(self) -> bool {
        self.since("2017-06-01")
    }

    fn has_job_default_order(self) -> bool {
        self.since("2025-06-01")
    }

    fn has_certificates(self) -> bool {
        !self.since("2025-06-01")
    }

    fn has_node_communication_mode(self) -> bool {
        self.since("2022-10-01") && !self.since("2025-06-01")
    }

    /// A pool body as this version shows it. `had_nodes`: the pool has allocated nodes
    /// at some point (only then is `currentNodeCommunicationMode` shown).
    pub(crate) fn adapt_pool(self, v: &mut Value, had_nodes: bool) {
        let Value::Object(m) = v else { return };
        if !self.has_low_priority() {
            rename(m, "currentDedicatedNodes", "currentDedicated");
            rename(m, "targetDedicatedNodes", "targetDedicated");
            m.shift_remove("currentLowPriorityNodes");
            m.shift_remove("targetLowPriorityNodes");
        }
        if !self.has_task_slots() {
            rename(m, "taskSlotsPerNode", "maxTasksPerNode");
        }
        if !self.has_job_default_order()
            && let Some(Value::Object(p)) = m.get_mut("taskSchedulingPolicy")
        {
            p.shift_remove("jobDefaultOrder");
        }
        if self.has_certificates() {
            insert_before(
                m,
                "certificateReferences",
                Value::Array(Vec::new()),
                &["metadata", "taskSlotsPerNode", "maxTasksPerNode"],
            );
        }
        if self.has_node_communication_mode() && had_nodes {
            m.insert(
                "currentNodeCommunicationMode".into(),
                Value::String("simplified".into()),
            );
        }
    }

    /// A node body as this version shows it.
    pub(crate) fn adapt_node(self, v: &mut Value) {
        if let Value::Object(m) = v
            && !self.has_task_slots()
        {
            m.shift_remove("runningTaskSlotsCount");
        }
    }

    /// A task body as this version shows it.
    pub(crate) fn adapt_task(self, v: &mut Value) {
        if let Value::Object(m) = v
            && !self.has_task_slots()
        {
            m.shift_remove("requiredSlots");
        }
    }

    /// The task counts body: before 2020-09-01.12.0 the bare counts.
    pub(crate) fn adapt_task_counts(self, v: &mut Value) {
        if self.has_task_slots() {
            return;
        }
        let mut counts = v.get("taskCounts").cloned().unwrap_or(Value::Null);
        if let Value::Object(m) = &mut counts {
            m.insert("validationStatus".into(), Value::String("validated".into()));
        }
        *v = counts;
    }

    /// A request body in this version's names, renamed to the current ones (the names of
    /// other versions are then unknown properties, as the service would find them).
    pub(crate) fn adapt_request(self, v: &mut Value) {
        let Value::Object(m) = v else { return };
        if !self.has_low_priority() {
            if m.contains_key("targetDedicatedNodes") || m.contains_key("targetLowPriorityNodes") {
                mark_unknown(m, &["targetDedicatedNodes", "targetLowPriorityNodes"]);
            }
            rename(m, "targetDedicated", "targetDedicatedNodes");
        } else if m.contains_key("targetDedicated") {
            mark_unknown(m, &["targetDedicated"]);
        }
        if !self.has_task_slots() {
            if m.contains_key("taskSlotsPerNode") {
                mark_unknown(m, &["taskSlotsPerNode"]);
            }
            rename(m, "maxTasksPerNode", "taskSlotsPerNode");
        } else if m.contains_key("maxTasksPerNode") {
            mark_unknown(m, &["maxTasksPerNode"]);
        }
    }
}

/// The key the request readers treat as the first unknown property of a body.
pub(crate) const UNKNOWN_MARK: &str = "\u{0}unknown";

fn mark_unknown(m: &mut Map<String, Value>, names: &[&str]) {
    if let Some(n) = names.iter().find(|n| m.contains_key(**n)) {
        m.insert(UNKNOWN_MARK.into(), Value::String((*n).to_string()));
    }
}

fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if !m.contains_key(from) {
        return;
    }
    // Keep the field's place: rebuild the map in order.
    let old = std::mem::take(m);
    for (k, v) in old {
        if k == from {
            m.insert(to.to_string(), v);
        } else {
            m.insert(k, v);
        }
    }
}

/// Insert `key` before the first of `before` present (else at the end).
fn insert_before(m: &mut Map<String, Value>, key: &str, value: Value, before: &[&str]) {
    if m.contains_key(key) {
        return;
    }
    let Some(anchor) = m.keys().find(|k| before.contains(&k.as_str())).cloned() else {
        m.insert(key.to_string(), value);
        return;
    };
    let old = std::mem::take(m);
    let mut value = Some(value);
    for (k, v) in old {
        if k == anchor
            && let Some(val) = value.take()
        {
            m.insert(key.to_string(), val);
        }
        m.insert(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_published_version_parses_and_only_those() {
        for v in PUBLISHED {
            assert_eq!(ApiVersion::parse(v).map(ApiVersion::as_str), Some(*v));
        }
        for bad in [
            "2025-06-01.21.0",
            "2024-07-01",
            "2099-01-01",
            "",
            "2025-06-01 ",
        ] {
            assert!(ApiVersion::parse(bad).is_none(), "{bad}");
        }
        assert!(PUBLISHED.windows(2).all(|w| w[0] < w[1]), "oldest first");
    }

    #[test]
    fn old_versions_name_the_targets_as_they_did() {
        let mut p = json!({"id":"p","currentDedicatedNodes":1,"targetDedicatedNodes":2,
            "currentLowPriorityNodes":0,"targetLowPriorityNodes":0,"taskSlotsPerNode":1,
            "taskSchedulingPolicy":{"nodeFillType":"Spread","jobDefaultOrder":"none"},"metadata":[]});
        ApiVersion::parse("2017-01-01.4.0")
            .unwrap()
            .adapt_pool(&mut p, true);
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "currentDedicated",
                "targetDedicated",
                "certificateReferences",
                "maxTasksPerNode",
                "taskSchedulingPolicy",
                "metadata"
            ]
        );
        assert_eq!(p["taskSchedulingPolicy"], json!({"nodeFillType":"Spread"}));

        let mut body = json!({"targetDedicated": 3});
        ApiVersion::parse("2016-07-01.3.1")
            .unwrap()
            .adapt_request(&mut body);
        assert_eq!(body, json!({"targetDedicatedNodes": 3}));
        let mut body = json!({"targetDedicated": 3});
        ApiVersion::default().adapt_request(&mut body);
        assert_eq!(body[UNKNOWN_MARK], "targetDedicated");
    }

    #[test]
    fn task_counts_were_bare_before_task_slots() {
        let mut c = json!({"taskCounts":{"active":1},"taskSlotCounts":{"active":1}});
        ApiVersion::parse("2020-03-01.11.0")
            .unwrap()
            .adapt_task_counts(&mut c);
        assert_eq!(c, json!({"active":1,"validationStatus":"validated"}));
    }
}
