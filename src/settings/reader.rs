//! The problem-collecting reader every part of the settings reads through:
//! one setting at a time, typed, and a bad value noted in `problems` (the
//! setting's name and what is wrong with it) with a stand-in returned, so
//! the reading goes on and every problem is reported at once.
//!
//! `get` is the environment with values trimmed and empty ones unset: an
//! app setting saved blank means "not set" in the portal's eyes too.

use crate::batch::PoolId;
use crate::schedule::Schedule;
use url::Url;

/// A whole-number setting within `0..=max`, or its default (noting the problem).
pub(super) fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
    default: u32,
    max: u32,
) -> u32 {
    whole_number_in(get, problems, name, default, (0, max), "")
}

/// A whole-number setting within `min..=max`, or its default (noting the
/// problem, and `why` the range is what it is).
pub(super) fn whole_number_in(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
    default: u32,
    (min, max): (u32, u32),
    why: &str,
) -> u32 {
    match get(name) {
        None => default,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "{name} must be a whole number from {min} to {max}, not '{raw}'{why}"
                ));
                default
            }
        },
    }
}

/// A count of minutes as a duration, `0` read as `1` once its own problem
/// is noted: a setting whose zero would make its thing lapse at once.
pub(super) fn minutes_at_least_one(minutes: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(minutes.max(1)) * 60)
}

/// A setting any `T` parses from and `accepts`, or its default, noting that
/// it `must` be something else.
pub(super) fn parsed<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    (name, must): (&str, &str),
    default: T,
    accepts: impl Fn(&T) -> bool,
) -> T {
    match get(name) {
        None => default,
        Some(raw) => match raw.parse::<T>() {
            Ok(value) if accepts(&value) => value,
            _ => {
                problems.push(format!("{name} must be {must}, not '{raw}'"));
                default
            }
        },
    }
}

/// A pool id setting, `None` when unset or not a valid id (noted).
pub(super) fn pool_id(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
) -> Option<PoolId> {
    let raw = get(name)?;
    match raw.parse::<PoolId>() {
        Ok(id) => Some(id),
        Err(e) => {
            problems.push(format!("{name} '{raw}' is not a valid pool id: {e}"));
            None
        }
    }
}

/// An `https://` URL with a host, `None` when it is not one (noted); unset
/// is left to the caller, which knows what to say.
pub(super) fn https_url(problems: &mut Vec<String>, name: &str, raw: &str) -> Option<Url> {
    match Url::parse(raw) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Some(url),
        Ok(_) => {
            problems.push(format!(
                "{name} must be an https:// URL with a host, not '{raw}'"
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{name} '{raw}' is not a URL: {e}"));
            None
        }
    }
}

/// An NCRONTAB schedule (or `default` when unset) that fires at some time,
/// `None` when unset without a default or not one (noted).
pub(super) fn schedule(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
    default: Option<&str>,
) -> Option<Schedule> {
    let raw = get(name).or_else(|| default.map(str::to_owned))?;
    match Schedule::parse(&raw) {
        Ok(s) if s.ever_fires() => Some(s),
        Ok(s) => {
            problems.push(format!(
                "{name} '{s}' never fires (no such date, e.g. 30 February)"
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    }
}
