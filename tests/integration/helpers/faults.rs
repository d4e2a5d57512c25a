//! Faults for the simulator, named by what Batch does: `TestApp::inject`
//! takes them. Each matches requests whose path contains `path` (any method
//! unless one is named) and fires `count` times.

use batch_simulator::FaultSpec;

/// Batch answers `status` with its error body, and `Retry-After` when given.
pub(crate) fn status(status: u16, retry_after: Option<u64>, path: &str, count: u32) -> FaultSpec {
    FaultSpec::Status {
        status,
        code: None,
        retry_after,
        method: None,
        path_contains: Some(path.into()),
        count,
    }
}

/// Batch answers `ms` real milliseconds late.
pub(crate) fn latency(ms: u64, method: Option<&str>, path: &str, count: u32) -> FaultSpec {
    FaultSpec::Latency {
        ms,
        method: method.map(str::to_owned),
        path_contains: Some(path.into()),
        count,
    }
}

/// The connection closes without an answer.
pub(crate) fn dropped(method: &str, path: &str, count: u32) -> FaultSpec {
    FaultSpec::Drop {
        method: Some(method.into()),
        path_contains: Some(path.into()),
        count,
    }
}

/// A node of `pool` (the first idle one; for `preempted`, the first idle
/// Spot node) goes to `state` now.
pub(crate) fn node_state(pool: &str, state: &str) -> FaultSpec {
    FaultSpec::NodeState {
        pool_id: pool.into(),
        node_id: None,
        state: state.into(),
    }
}
