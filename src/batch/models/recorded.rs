//! The client's models read every real recorded Batch body.
//!
//! The bodies come from the Azure SDK test recordings (see
//! `tests/fixtures/batch-recorded/README.md`): if a field name, casing or
//! shape in our models were wrong, these would fail or read zeros. The
//! client's own tests (`client/tests.rs`) answer with them too.

use super::{AllocationState, ErrorBody, Node, NodeState, Page, Pool, PoolState};
use std::path::PathBuf;

/// The folder of recorded bodies.
fn recorded_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/batch-recorded")
}

/// A recorded body, as Batch sent it.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = recorded_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pool(name: &str) -> Pool {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn nodes(name: &str) -> Vec<Node> {
    let page: Page<Node> =
        serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    page.value
}

#[test]
fn every_pool_body_parses_with_its_state() {
    let steady = pool("pool-get-steady-fixed-scale.json");
    assert_eq!(steady.allocation_state, Some(AllocationState::Steady));
    assert_eq!(steady.task_slots_per_node, Some(1));
    assert_eq!(steady.state, Some(PoolState::Active));
    assert!(steady.e_tag.as_deref().is_some_and(|e| e.starts_with("0x")));

    let resizing = pool("pool-get-resizing-after-resize-post.json");
    assert_eq!(resizing.allocation_state, Some(AllocationState::Resizing));
    assert_eq!(resizing.target_dedicated_nodes, 2);

    let down = pool("pool-get-resizing-down-after-removenodes.json");
    assert_eq!(down.allocation_state, Some(AllocationState::Resizing));
    assert_eq!(
        (down.current_dedicated_nodes, down.target_dedicated_nodes),
        (2, 1)
    );

    for name in [
        "pool-get-resizing-fixed-scale.json",
        "pool-get-steady-before-resize.json",
        "pool-get-odata-select-id-state.json",
    ] {
        pool(name);
    }
    let patched = pool("pool-get-after-patch-metadata.json");
    assert_eq!(patched.metadata.len(), 1);
    assert_eq!(patched.metadata[0].name, "foo2");
}

#[test]
fn pool_list_with_a_deleting_pool() {
    let page: Page<Pool> =
        serde_json::from_slice(&fixture("pools-list-pool-deleting-resizing.json")).unwrap();
    assert!(
        page.value
            .iter()
            .any(|p| p.state == Some(PoolState::Deleting)
                && p.allocation_state == Some(AllocationState::Resizing))
    );
}

#[test]
fn node_lists_parse_through_their_progression() {
    assert!(nodes("nodes-list-empty.json").is_empty());
    let booting = nodes("nodes-list-creating-starting.json");
    assert!(!booting.is_empty());
    assert!(booting.iter().all(|n| matches!(
        n.state,
        Some(
            NodeState::Creating
                | NodeState::Starting
                | NodeState::WaitingForStartTask
                | NodeState::Idle
        )
    )));
    let idle = nodes("nodes-list-all-idle-starttask-completed.json");
    assert!(idle.iter().all(|n| n.state == Some(NodeState::Idle)));
    // Free task slots are read from these two counts (leased readiness).
    assert!(idle.iter().all(|n| n.running_tasks_count == Some(0)
        && n.running_task_slots_count == Some(0)
        && n.busy_slots() == 0));
    assert!(
        idle.iter()
            .all(|n| n.start_task_info.as_ref().is_some_and(|s| s.succeeded()))
    );
    let reimaging: Node = serde_json::from_slice(&fixture("node-get-reimaging.json")).unwrap();
    assert_eq!(reimaging.state, Some(NodeState::Reimaging));
}

#[test]
fn error_bodies_give_code_and_clean_message() {
    for (name, code) in [
        ("error-404-pool-not-found-get.json", "PoolNotFound"),
        ("error-404-pool-not-found-resize.json", "PoolNotFound"),
        (
            "error-400-resize-missing-required-property.json",
            "MissingRequiredProperty",
        ),
        (
            "error-400-missing-required-header.json",
            "MissingRequiredHeader",
        ),
        (
            "error-400-invalid-query-parameter-value.json",
            "InvalidQueryParameterValue",
        ),
    ] {
        let body: ErrorBody = serde_json::from_slice(&fixture(name)).unwrap();
        assert_eq!(body.code.as_deref(), Some(code), "{name}");
        let message = body.message.expect(name);
        assert!(!message.text().is_empty(), "{name}");
        assert!(!message.text().contains("RequestId:"), "{name}");
    }
}

/// Timestamps that do not parse read as absent, so a wrong format would
/// pass unseen: every recorded one must come out as the instant it names.
#[test]
fn every_recorded_timestamp_reads_as_a_time() {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    let expected = |object: &serde_json::Value, key: &str| {
        object[key]
            .as_str()
            .map(|raw| OffsetDateTime::parse(raw, &Rfc3339).expect(raw))
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(recorded_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let objects: Vec<serde_json::Value> =
            if name.starts_with("pools-list") || name.starts_with("nodes-list") {
                let page: serde_json::Value = serde_json::from_slice(&fixture(&name)).unwrap();
                page["value"].as_array().unwrap().clone()
            } else if name.starts_with("pool-get") || name.starts_with("node-get") {
                vec![serde_json::from_slice(&fixture(&name)).unwrap()]
            } else {
                continue;
            };
        for object in objects {
            // (what the model read, the wire field it came from)
            let read = if name.starts_with("pool") {
                let pool: Pool = serde_json::from_value(object.clone()).unwrap();
                vec![
                    (pool.last_modified, "lastModified"),
                    (
                        pool.allocation_state_transition_time,
                        "allocationStateTransitionTime",
                    ),
                ]
            } else {
                let node: Node = serde_json::from_value(object.clone()).unwrap();
                vec![
                    (node.state_transition_time, "stateTransitionTime"),
                    (node.allocation_time, "allocationTime"),
                    (node.last_boot_time, "lastBootTime"),
                ]
            };
            seen += usize::from(read[0].0.is_some());
            for (value, key) in read {
                assert_eq!(value, expected(&object, key), "{name}: {key}");
            }
        }
    }
    assert!(seen >= 10, "only {seen} timestamps checked");
}
