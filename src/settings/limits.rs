//! What a request gets when it names nothing (its wait, keep-warm), and
//! the most it may ask for.

use super::reader::{whole_number, whole_number_in};
use super::{DEFAULT_MAX_NODES, DEFAULT_WAIT_SECONDS, HTTP_WAIT_LIMIT_SECONDS};
use crate::resizer::keep_warm::{KeepWarm, MAX_KEEP_WARM_MINUTES};

/// `DEFAULT_WAIT_SECONDS`, `MAX_*_NODES`, `PROVISION_DEADLINE_MINUTES`.
pub(super) struct RequestLimits {
    pub(super) default_wait_seconds: u32,
    pub(super) max_dedicated_nodes: u32,
    pub(super) max_low_priority_nodes: u32,
    pub(super) provision_deadline: std::time::Duration,
}

impl RequestLimits {
    pub(super) fn read(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let default_wait_seconds = whole_number(
            get,
            problems,
            "DEFAULT_WAIT_SECONDS",
            DEFAULT_WAIT_SECONDS,
            HTTP_WAIT_LIMIT_SECONDS,
        );
        let max_dedicated_nodes = whole_number(
            get,
            problems,
            "MAX_DEDICATED_NODES",
            DEFAULT_MAX_NODES,
            10_000,
        );
        let max_low_priority_nodes = whole_number(
            get,
            problems,
            "MAX_LOW_PRIORITY_NODES",
            DEFAULT_MAX_NODES,
            10_000,
        );
        // No "off": 0 would call every node still booting stuck at once,
        // and 1440 already outlasts any wait a caller can ask for.
        let provision_deadline_minutes = whole_number_in(
            get,
            problems,
            "PROVISION_DEADLINE_MINUTES",
            15,
            (1, 24 * 60),
            " (with 0 every node still booting would be reported stuck, ProvisionTimedOut, at once; leave it unset for 15)",
        );
        RequestLimits {
            default_wait_seconds,
            max_dedicated_nodes,
            max_low_priority_nodes,
            provision_deadline: std::time::Duration::from_secs(
                u64::from(provision_deadline_minutes) * 60,
            ),
        }
    }
}

/// `KEEP_WARM_MINUTES`: off unless set.
pub(super) fn read_keep_warm(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> KeepWarm {
    match get("KEEP_WARM_MINUTES") {
        None => KeepWarm::OFF,
        Some(raw) => KeepWarm::parse(&raw, MAX_KEEP_WARM_MINUTES).unwrap_or_else(|why| {
            problems.push(format!("KEEP_WARM_MINUTES {why}"));
            KeepWarm::OFF
        }),
    }
}
