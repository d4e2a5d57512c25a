//! What seals status URLs, and how long one may act.

use super::reader::{minutes_at_least_one, whole_number};
use azure_core::credentials::Secret;

/// The secrets that seal status URLs (`src/functions/status_url.rs`).
#[derive(Debug, Clone)]
pub(crate) struct StatusUrlSecret {
    pub(crate) current: Secret,
    /// Still opens URLs sealed before a rotation, until they expire.
    pub(crate) previous: Option<Secret>,
}

/// A status-URL secret shorter than this is refused: the key it seals with
/// is only as strong as what it is derived from.
pub(crate) const MIN_STATUS_URL_SECRET_LEN: usize = 32;

/// An hour covers ADF's whole wait for nodes (the pipeline's *Wait for
/// nodes* times out after 30 minutes) and bounds what a leaked status URL
/// can do.
pub(crate) const DEFAULT_STATUS_URL_TTL_MINUTES: u32 = 60;
pub(crate) const MAX_STATUS_URL_TTL_MINUTES: u32 = 24 * 60;

impl StatusUrlSecret {
    /// The message `serve` stops with when the secret is not set.
    pub(crate) const NOT_SET: &str = "STATUS_URL_SECRET is not set: status URLs (the Location of a 202, which ADF follows with no key) are sealed with it, and every instance must share it, so it cannot be made up per process. Set it to a random string of at least 32 characters (the infra template creates one; locally: openssl rand -base64 32)";

    pub(super) fn read(
        env: &impl Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> Option<Self> {
        let mut secret = |name: &str| {
            let value = env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())?;
            if value.chars().count() < MIN_STATUS_URL_SECRET_LEN {
                problems.push(format!(
                    "{name} must have at least {MIN_STATUS_URL_SECRET_LEN} characters (it has {}): use a random string, e.g. openssl rand -base64 32",
                    value.chars().count()
                ));
                return None;
            }
            Some(Secret::new(value))
        };
        let current = secret("STATUS_URL_SECRET");
        let previous = secret("STATUS_URL_SECRET_PREVIOUS");
        if current.is_none() && previous.is_some() {
            problems.push("STATUS_URL_SECRET_PREVIOUS is set but STATUS_URL_SECRET is not: the previous secret only opens old status URLs, new ones need the current one".to_owned());
        }
        current.map(|current| StatusUrlSecret { current, previous })
    }
}

/// `STATUS_URL_TTL_MINUTES`.
pub(super) fn read_ttl(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> std::time::Duration {
    let minutes = whole_number(
        get,
        problems,
        "STATUS_URL_TTL_MINUTES",
        DEFAULT_STATUS_URL_TTL_MINUTES,
        MAX_STATUS_URL_TTL_MINUTES,
    );
    if minutes == 0 {
        problems.push("STATUS_URL_TTL_MINUTES must be at least 1: a status URL that expires at once cannot be followed".to_owned());
    }
    minutes_at_least_one(minutes)
}
