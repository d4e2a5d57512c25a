//! The figures the docs quote, held to the constants that make them: a
//! limit changed in the code and not in docs/api.md, docs/operations.md or
//! docs/settings.md fails here. (Measured figures come from the commands
//! the docs name: `bench/run.sh`, `scripts/package.sh`, `simulate-day`.)

use crate::functions::connections::{
    BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, SHUTDOWN_GRACE,
};
use crate::functions::state::{BODY_LIMIT, MAX_CONCURRENT_WAITS};
use crate::resizer::budget::CALL_MARGIN;
use crate::resizer::lease::{DEFAULT_LEASE_MINUTES, MAX_LEASE_MINUTES, MAX_LEASES};
use crate::resizer::marks::{FIRST_BACKOFF, MAX_BACKOFF};
use crate::resizer::want::{
    DEFAULT_PROVISION_DEADLINE, DEFAULT_REPAIR_ATTEMPTS, MAX_REPAIR_ATTEMPTS,
};
use crate::settings::{
    DEFAULT_MAX_NODES, DEFAULT_SCALE_DOWN_SCHEDULE, DEFAULT_SCALE_UP_SCHEDULE,
    DEFAULT_TIMER_WAIT_SECONDS, DEFAULT_WAIT_SECONDS, EXAMPLE_RECONCILE_SCHEDULE,
    HTTP_WAIT_LIMIT_SECONDS, MAX_KEEP_WARM_MINUTES,
};

/// The doc's text with every run of white space as one space, so a phrase
/// matches however the paragraph is wrapped.
fn doc(path: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_says(path: &str, phrases: &[String]) {
    let text = doc(path);
    let missing: Vec<&String> = phrases
        .iter()
        .filter(|p| !text.contains(p.as_str()))
        .collect();
    assert!(missing.is_empty(), "{path} no longer says {missing:#?}");
}

#[test]
fn the_api_page_quotes_the_codes_limits() {
    let most = HTTP_WAIT_LIMIT_SECONDS + CALL_MARGIN.as_secs() as u32;
    assert_says(
        "docs/api.md",
        &[
            format!("inline wait, 0-{HTTP_WAIT_LIMIT_SECONDS}"),
            format!("`DEFAULT_WAIT_SECONDS` ({DEFAULT_WAIT_SECONDS})"),
            format!("how long the lease lives, 1-{MAX_LEASE_MINUTES}"),
            format!("| {DEFAULT_LEASE_MINUTES} |"),
            format!("for the next pipeline (0-{MAX_KEEP_WARM_MINUTES})"),
            format!(
                "at most this many times in this call (0-{MAX_REPAIR_ATTEMPTS}; 0 fails at once)"
            ),
            format!("| {DEFAULT_REPAIR_ATTEMPTS} |"),
            format!("`waitSeconds` above {HTTP_WAIT_LIMIT_SECONDS} is refused"),
            format!("body over {} KiB", BODY_LIMIT / 1024),
            format!("plus a {}-second margin", CALL_MARGIN.as_secs()),
            format!("so at most {most} s"),
            format!("default {DEFAULT_WAIT_SECONDS}, at most {HTTP_WAIT_LIMIT_SECONDS}"),
        ],
    );
}

#[test]
fn the_operations_page_quotes_the_codes_limits() {
    let most = HTTP_WAIT_LIMIT_SECONDS + CALL_MARGIN.as_secs() as u32;
    let secs = |d: std::time::Duration| d.as_secs();
    assert_says(
        "docs/operations.md",
        &[
            format!("(`leaseMinutes`, default {DEFAULT_LEASE_MINUTES})"),
            format!("once {MAX_LEASES} live leases exist"),
            format!("for up to {} days", MAX_LEASE_MINUTES / (24 * 60)),
            format!(
                "({} minutes, doubling to {} with each failure",
                secs(FIRST_BACKOFF) / 60,
                secs(MAX_BACKOFF) / 60
            ),
            format!(
                "`PROVISION_DEADLINE_MINUTES` (default {})",
                secs(DEFAULT_PROVISION_DEADLINE) / 60
            ),
            format!("ask for at most {DEFAULT_MAX_NODES} nodes of each kind"),
            format!("wait at most {HTTP_WAIT_LIMIT_SECONDS} s"),
            format!(
                "`waitSeconds` plus {} s (`CALL_MARGIN`",
                CALL_MARGIN.as_secs()
            ),
            format!("at most {most} s"),
            format!("Past {MAX_CONCURRENT_WAITS} concurrent waits"),
            format!(
                "within **{} s** of its first byte",
                secs(HEADER_READ_TIMEOUT)
            ),
            format!(
                "its body within **{} s** of the head",
                secs(BODY_READ_TIMEOUT)
            ),
            format!("a body over {} KiB gets a 413", BODY_LIMIT / 1024),
            format!("closed after **{} s** idle", secs(IDLE_TIMEOUT)),
            format!("exits within **{} s**", secs(SHUTDOWN_GRACE)),
            format!("at most {MAX_LEASES} live lease entries per pool"),
        ],
    );
}

#[test]
fn the_settings_page_quotes_the_codes_defaults() {
    assert_says(
        "docs/settings.md",
        &[
            format!("default {DEFAULT_WAIT_SECONDS}, at most {HTTP_WAIT_LIMIT_SECONDS}"),
            format!("default 0 (off), at most {MAX_KEEP_WARM_MINUTES}"),
            format!(
                "not a wait; default {}",
                DEFAULT_PROVISION_DEADLINE.as_secs() / 60
            ),
            format!("default {DEFAULT_MAX_NODES} each"),
            format!(
                "defaults `{DEFAULT_SCALE_UP_SCHEDULE}`, `{DEFAULT_SCALE_DOWN_SCHEDULE}`, `{EXAMPLE_RECONCILE_SCHEDULE}`"
            ),
            format!("how long a firing waits ({DEFAULT_TIMER_WAIT_SECONDS} s"),
            format!("port {}", crate::dev::DEFAULT_SIMULATOR_PORT),
            format!(
                "at most {} pools (each costs Batch calls on every firing)",
                crate::settings::MAX_FORECAST_POOLS
            ),
        ],
    );
}
