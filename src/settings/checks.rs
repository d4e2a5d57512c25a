//! The checks between settings, in one place: the schedule acts with the
//! app's own credentials and no caller, so it keeps the rules a request
//! must keep (the pools it may name, the most nodes it may ask for): a
//! setting may not do what a leaked function key cannot.

use super::AllowedPools;
use super::limits::RequestLimits;
use super::schedule::ScheduleRead;
use crate::schedule::windows::Windows;

/// Every problem of the schedule against the allowlist and the caps.
pub(super) fn schedule_within_request_rules(
    get: &impl Fn(&str) -> Option<String>,
    schedule: &ScheduleRead,
    allowed_pools: &AllowedPools,
    limits: &RequestLimits,
    problems: &mut Vec<String>,
) {
    schedule_pool_allowed(get, schedule, allowed_pools, problems);
    schedule_counts_within_caps(get, schedule, limits, problems);
    window_counts_within_caps(schedule.windows.as_ref(), limits, problems);
}

fn schedule_pool_allowed(
    get: &impl Fn(&str) -> Option<String>,
    schedule: &ScheduleRead,
    allowed_pools: &AllowedPools,
    problems: &mut Vec<String>,
) {
    let Some(id) = &schedule.pool_id else {
        return;
    };
    if allowed_pools.allows(id) {
        return;
    }
    let which = if get("SCHEDULE_POOL_ID").is_some() {
        format!("SCHEDULE_POOL_ID '{id}'")
    } else {
        format!("the schedule's pool, BATCH_POOL_ID '{id}' (SCHEDULE_POOL_ID is not set),")
    };
    let allowed = allowed_pools.named(get);
    problems.push(format!(
        "{which} is not in {allowed}: list it in ALLOWED_POOLS, or set SCHEDULE_POOL_ID to a pool that is"
    ));
}

fn schedule_counts_within_caps(
    get: &impl Fn(&str) -> Option<String>,
    schedule: &ScheduleRead,
    limits: &RequestLimits,
    problems: &mut Vec<String>,
) {
    for (name, count, cap_name, cap) in [
        (
            "SCHEDULE_DEDICATED_NODES",
            schedule.dedicated,
            "MAX_DEDICATED_NODES",
            limits.max_dedicated_nodes,
        ),
        (
            "SCHEDULE_LOW_PRIORITY_NODES",
            schedule.low_priority,
            "MAX_LOW_PRIORITY_NODES",
            limits.max_low_priority_nodes,
        ),
    ] {
        let raw = get(name);
        // An invalid value is reported already, with the default in its place.
        let invalid = raw
            .as_deref()
            .is_some_and(|raw| raw.parse::<u32>().ok() != Some(count));
        if count > cap && !invalid {
            let given = if raw.is_some() { "" } else { " (its default)" };
            problems.push(format!(
                "{name} is {count}{given}, above {cap_name} ({cap}), the most a request may ask for: lower it, or raise {cap_name}"
            ));
        }
    }
}

/// A window's own counts keep the same caps (its defaults are the
/// schedule's counts, checked above).
fn window_counts_within_caps(
    windows: Option<&Windows>,
    limits: &RequestLimits,
    problems: &mut Vec<String>,
) {
    for (i, window) in windows.into_iter().flat_map(Windows::windows).enumerate() {
        for (given, count, what, cap_name, cap) in [
            (
                window.dedicated_given,
                window.dedicated,
                "dedicated",
                "MAX_DEDICATED_NODES",
                limits.max_dedicated_nodes,
            ),
            (
                window.low_priority_given,
                window.low_priority,
                "lowPriority",
                "MAX_LOW_PRIORITY_NODES",
                limits.max_low_priority_nodes,
            ),
        ] {
            if given && count > cap {
                problems.push(format!(
                    "SCHEDULE_WINDOWS: window {} '{window}' has {what}={count}, above {cap_name} ({cap}), the most a request may ask for: \
                     lower it, or raise {cap_name}",
                    i + 1
                ));
            }
        }
    }
}
