//! Typed settings, read once at start from app settings (environment).
//!
//! Every problem is collected and reported together, naming the setting and
//! what is wrong with it, so a misconfigured Function App says everything in
//! its first log line instead of one error per restart. Secrets are wrapped
//! in [`Secret`] and never printed.
//!
//! Reading only parses: whether the account key decodes and the CA file
//! holds certificates is found out by what uses them, building the client
//! ([`crate::app::batch_client`]), so the check and the use cannot drift.
//!
//! Problems of the schedule's own settings do not stop the handler: the HTTP
//! functions are what pipelines depend on, and a wrong timer setting must not
//! take them down with it. Such problems disable the timers only
//! ([`ScheduleDisabled`]): the handler warns at start, and every timer firing
//! fails with the reason until the setting is fixed.

use crate::batch::PoolId;
use crate::batch::credential::CredentialKind;
use crate::schedule::windows::{self, Windows};
use crate::schedule::{Schedule, ScheduleNow, Window};
use azure_core::credentials::Secret;
use std::fmt;
use std::path::PathBuf;
use url::Url;

mod forecast;
#[cfg(feature = "simulator")]
pub(crate) use forecast::DEFAULT_FORECAST_GRACE_MINUTES;
#[cfg(all(test, feature = "simulator"))]
pub(crate) use forecast::MAX_FORECAST_POOLS;
pub(crate) use forecast::{ForecastMode, ForecastPool, ForecastPools, ForecastSettings, NO_WINDOW};

/// The HTTP front end in Azure cuts a response that has not started 230 s
/// after the front end got the request, and that clock runs before the
/// handler sees the request: through a cold start (the app scales to zero
/// between pipelines, so the scale-up that opens a pipeline is the call most
/// likely to wake it) and the host's forwarding. The handler's own answer can
/// also come up to one Batch call (8 s) after its wait ends. A 200 s cap
/// leaves 22 s for all of that before the cut (docs/deploy.md).
pub const HTTP_WAIT_LIMIT_SECONDS: u32 = 200;
/// The wait of a call that names none, the pipeline's: 42 s of headroom,
/// enough for a slow cold start as well.
pub const DEFAULT_WAIT_SECONDS: u32 = 180;

#[derive(Debug, Clone)]
/// Every app setting the handler reads, parsed and typed; secrets stay in `Secret`.
pub struct Settings {
    /// `BATCH_ACCOUNT_URL`, e.g. `https://acct.westeurope.batch.azure.com`.
    pub(crate) batch_account_url: Url,
    /// `BATCH_POOL_ID`: the pool a request without `poolId` means.
    pub(crate) default_pool_id: Option<PoolId>,
    pub(crate) auth: AuthSettings,
    /// `BATCH_CA_FILE`: extra trusted CA certificates (PEM).
    pub(crate) ca_file: Option<PathBuf>,
    /// `DEFAULT_WAIT_SECONDS`: inline wait when a request names none.
    pub(crate) default_wait_seconds: u32,
    /// `MAX_DEDICATED_NODES` / `MAX_LOW_PRIORITY_NODES`: the most a request may
    /// ask for, so a leaked function key cannot run up a bill.
    pub(crate) max_dedicated_nodes: u32,
    pub(crate) max_low_priority_nodes: u32,
    /// `KEEP_WARM_MINUTES`: how long a scale-down keeps the released nodes
    /// for the next pipeline when the request does not say (0: off; `auto`:
    /// picked from the pool's gaps).
    pub(crate) keep_warm: crate::resizer::keep_warm::KeepWarm,
    /// `PROVISION_DEADLINE_MINUTES`: a node not ready this long after Batch
    /// allocated it is reported as stuck (default 15).
    pub(crate) provision_deadline: std::time::Duration,
    /// `POOL_RESIZER_TIME_SCALE`: dev and tests only; makes waits and poll
    /// intervals pass this many times faster, matching the simulator's scale.
    pub(crate) time_scale: f64,
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`, set by the Functions host.
    pub(crate) port: u16,
    /// What the timer functions do (`docs/schedules.md`), or why they cannot.
    pub(crate) schedule: Result<ScheduleSettings, ScheduleDisabled>,
    /// `ALLOWED_POOLS`: which pools requests may touch.
    pub(crate) allowed_pools: AllowedPools,
    /// `WEBSITE_HOSTNAME`, set by the platform (`<app>.azurewebsites.net`):
    /// the only public host a status URL may name. `None` locally.
    pub(crate) public_host: Option<String>,
    /// `STATUS_URL_SECRET` (and `STATUS_URL_SECRET_PREVIOUS` during a
    /// rotation): what seals status URLs. Every instance must share it, so
    /// it is an app setting and never made up per process: `serve` refuses
    /// to start without it; the CLI issues no status URLs and needs none.
    pub(crate) status_url_secret: Option<StatusUrlSecret>,
    /// `STATUS_URL_TTL_MINUTES`: how long a status URL may act (default 60).
    pub(crate) status_url_ttl: std::time::Duration,
    /// `FORECAST_MODE`, `FORECAST_GRACE_MINUTES`: pre-warming the schedule's pool
    /// ahead of its rhythm, on the reconcile timer's firings (the grace for
    /// every pool; `FORECAST_POOLS` overrides the mode of a pool it names).
    pub(crate) forecast: ForecastSettings,
    /// `FORECAST_POOLS`: a mode per pool, for pools besides the schedule's.
    pub(crate) forecast_pools: ForecastPools,
}

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

impl StatusUrlSecret {
    /// The message `serve` stops with when the secret is not set.
    pub(crate) const NOT_SET: &str = "STATUS_URL_SECRET is not set: status URLs (the Location of a 202, which ADF follows with no key) are sealed with it, and every instance must share it, so it cannot be made up per process. Set it to a random string of at least 32 characters (the infra template creates one; locally: openssl rand -base64 32)";

    fn read(env: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Option<Self> {
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

/// The business-hours window the timer functions keep.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleSettings {
    /// `SCALE_UP_SCHEDULE` / `SCALE_DOWN_SCHEDULE`: the same NCRONTAB
    /// expressions the host reads through `%SETTING%` in the timers'
    /// function.json; the handler reads them too, to know the window.
    pub(crate) window: Window,
    /// `SCHEDULE_RECONCILE_SCHEDULE`, validated when set: the host fires it,
    /// and the forecast reads its period (how early a pre-warm must start).
    pub(crate) reconcile: Option<Schedule>,
    /// `SCHEDULE_POOL_ID`, else `BATCH_POOL_ID`; one `ALLOWED_POOLS` allows.
    pub(crate) pool_id: PoolId,
    /// `SCHEDULE_DEDICATED_NODES` / `SCHEDULE_LOW_PRIORITY_NODES`: ready
    /// nodes held inside the window, within `MAX_*_NODES`.
    pub(crate) dedicated: u32,
    pub(crate) low_priority: u32,
    /// `TIMER_WAIT_SECONDS`: how long one timer invocation waits for the
    /// pool; keep it under host.json's `functionTimeout`.
    pub(crate) wait_seconds: u32,
    /// `SCHEDULE_WINDOWS` in `SCHEDULE_TIME_ZONE`: local-time windows, each
    /// with its nodes. When set, they are the window (`window` above then
    /// only says when the host fires timer-scale-up and timer-scale-down),
    /// and every firing enforces a closed window too (docs/schedules.md).
    pub(crate) windows: Option<Windows>,
}

impl ScheduleSettings {
    /// Where `now` falls, and the nodes an open window holds.
    pub(crate) fn at(&self, now: time::OffsetDateTime) -> ScheduleNow {
        match &self.windows {
            Some(windows) => windows.at(now),
            None => {
                let state = self.window.at(now);
                let (dedicated, low_priority) = if state.open {
                    (self.dedicated, self.low_priority)
                } else {
                    (0, 0)
                };
                ScheduleNow {
                    state,
                    dedicated,
                    low_priority,
                    open: Vec::new(),
                }
            }
        }
    }

    /// Whether every firing, the reconcile's included, shrinks a closed
    /// window's pool to what live leases need (`SCHEDULE_WINDOWS`); with the
    /// two schedules only timer-scale-down does.
    pub(crate) fn every_firing_closes(&self) -> bool {
        self.windows.is_some()
    }
}

/// Why the timer functions cannot run: every problem of the schedule-only
/// settings, each naming its setting. Kept apart from [`SettingsError`]
/// because these leave the HTTP functions working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleDisabled(pub Vec<String>);

impl fmt::Display for ScheduleDisabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schedule disabled: {}", self.0.join("; "))
    }
}

impl std::error::Error for ScheduleDisabled {}

/// The classic window: one node Monday to Friday, 06:00-07:00 UTC.
pub(crate) const DEFAULT_SCALE_UP_SCHEDULE: &str = "0 0 6 * * 1-5";
pub(crate) const DEFAULT_SCALE_DOWN_SCHEDULE: &str = "0 0 7 * * 1-5";
/// The reconcile's period in the example settings and the templates: a
/// missed open or (with `SCHEDULE_WINDOWS`) close is repaired within it.
#[cfg(feature = "simulator")]
pub(crate) const EXAMPLE_RECONCILE_SCHEDULE: &str = "0 */15 * * * *";
/// Nine minutes: a minute clear of the 10-minute functionTimeout in host.json.
pub(crate) const DEFAULT_TIMER_WAIT_SECONDS: u32 = 540;

#[derive(Debug, Clone)]
pub(crate) enum AuthSettings {
    /// `BATCH_ACCOUNT_NAME` + `BATCH_ACCOUNT_KEY`.
    SharedKey { account: String, key: Secret },
    /// Microsoft Entra ID; `AZURE_CLIENT_ID` picks a user-assigned identity.
    Entra {
        kind: CredentialKind,
        client_id: Option<String>,
    },
}

pub(crate) const DEFAULT_MAX_NODES: u32 = 10;
pub(crate) use crate::resizer::keep_warm::MAX_KEEP_WARM_MINUTES;
const DEFAULT_PORT: u16 = 8080;
/// An hour covers ADF's whole wait for nodes (the pipeline's *Wait for
/// nodes* times out after 30 minutes) and bounds what a leaked status URL
/// can do.
pub(crate) const DEFAULT_STATUS_URL_TTL_MINUTES: u32 = 60;
pub(crate) const MAX_STATUS_URL_TTL_MINUTES: u32 = 24 * 60;

/// Which pools HTTP requests may name. A leaked function key must not be
/// able to resize every pool in the account, so the default is the one
/// pool the app is for (`BATCH_POOL_ID`); `*` opens it to all, on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowedPools {
    Any,
    Only(Vec<PoolId>),
}

impl AllowedPools {
    pub(crate) const NONE_SET: &str = "neither BATCH_POOL_ID nor ALLOWED_POOLS is set, so no request could name a pool: set BATCH_POOL_ID to the pool this app resizes, or ALLOWED_POOLS to a comma-separated list (or * for every pool in the account)";

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, AllowedPools::Only(ids) if ids.is_empty())
    }

    /// The list as a problem message shows it.
    fn describe(&self) -> String {
        match self {
            AllowedPools::Any => "*".to_owned(),
            AllowedPools::Only(ids) if ids.is_empty() => "none".to_owned(),
            AllowedPools::Only(ids) => ids
                .iter()
                .map(PoolId::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Batch pool ids are case-insensitive, and so is `PoolId`'s equality.
    pub(crate) fn allows(&self, pool_id: &PoolId) -> bool {
        match self {
            AllowedPools::Any => true,
            AllowedPools::Only(ids) => ids.contains(pool_id),
        }
    }
}

/// A whole-number setting within `0..=max`, or its default (noting the problem).
fn whole_number(
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
fn whole_number_in(
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

/// How the problem of a missing `BATCH_ACCOUNT_URL` begins.
pub(crate) const ACCOUNT_URL_NOT_SET: &str = "BATCH_ACCOUNT_URL is not set";

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub Vec<String>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: {}", self.0.join("; "))
    }
}

impl std::error::Error for SettingsError {}

/// Letters, digits, dots, hyphens and an optional `:port`: a name that can
/// go into a URL as it is.
pub(crate) fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
}

impl Settings {
    /// The node caps every face enforces, through the service.
    pub(crate) fn limits(&self) -> crate::service::Limits {
        crate::service::Limits {
            max_dedicated: self.max_dedicated_nodes,
            max_low_priority: self.max_low_priority_nodes,
        }
    }

    /// From the process environment (the Function App's app settings).
    pub fn from_process_env() -> Result<Self, SettingsError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    /// From any lookup, so tests need no process-wide environment; every problem is reported at once.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Self::read(env, true)
    }

    /// For the operator CLI, which runs no timer: the schedule's settings
    /// are read, but their problems are not the CLI's to report.
    pub(crate) fn for_cli(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Self::read(env, false)
    }

    /// `from_env`, reporting the schedule's problems along with the others
    /// when the settings are refused, or not.
    fn read(
        env: impl Fn(&str) -> Option<String>,
        schedule_problems_too: bool,
    ) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();

        let batch_account_url = match get("BATCH_ACCOUNT_URL") {
            None => {
                problems.push(format!(
                    "{ACCOUNT_URL_NOT_SET} (e.g. https://myaccount.westeurope.batch.azure.com)"
                ));
                None
            }
            Some(raw) => match Url::parse(&raw) {
                Ok(url) if url.scheme() == "https" && url.host().is_some() => Some(url),
                Ok(_) => {
                    problems.push(format!(
                        "BATCH_ACCOUNT_URL must be an https:// URL with a host, not '{raw}'"
                    ));
                    None
                }
                Err(e) => {
                    problems.push(format!("BATCH_ACCOUNT_URL '{raw}' is not a URL: {e}"));
                    None
                }
            },
        };

        let default_pool_id = get("BATCH_POOL_ID").and_then(|raw| match raw.parse::<PoolId>() {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(format!("BATCH_POOL_ID '{raw}' is not a valid pool id: {e}"));
                None
            }
        });

        let auth = match (
            get("BATCH_ACCOUNT_NAME"),
            env("BATCH_ACCOUNT_KEY").filter(|k| !k.trim().is_empty()),
        ) {
            (Some(account), Some(key)) => AuthSettings::SharedKey {
                account,
                key: Secret::new(key.trim().to_owned()),
            },
            (Some(_), None) => {
                problems.push("BATCH_ACCOUNT_NAME is set but BATCH_ACCOUNT_KEY is not: set both for Shared Key, or neither for Microsoft Entra ID".to_owned());
                AuthSettings::Entra {
                    kind: CredentialKind::DeveloperTools,
                    client_id: None,
                }
            }
            (None, Some(_)) => {
                problems.push("BATCH_ACCOUNT_KEY is set but BATCH_ACCOUNT_NAME is not: set both for Shared Key, or neither for Microsoft Entra ID".to_owned());
                AuthSettings::Entra {
                    kind: CredentialKind::DeveloperTools,
                    client_id: None,
                }
            }
            (None, None) => AuthSettings::Entra {
                kind: CredentialKind::detect(&env),
                client_id: get("AZURE_CLIENT_ID"),
            },
        };

        let ca_file = get("BATCH_CA_FILE").map(PathBuf::from);

        let default_wait_seconds = whole_number(
            &get,
            &mut problems,
            "DEFAULT_WAIT_SECONDS",
            DEFAULT_WAIT_SECONDS,
            HTTP_WAIT_LIMIT_SECONDS,
        );
        let max_dedicated_nodes = whole_number(
            &get,
            &mut problems,
            "MAX_DEDICATED_NODES",
            DEFAULT_MAX_NODES,
            10_000,
        );
        let max_low_priority_nodes = whole_number(
            &get,
            &mut problems,
            "MAX_LOW_PRIORITY_NODES",
            DEFAULT_MAX_NODES,
            10_000,
        );
        // No "off": 0 would call every node still booting stuck at once,
        // and 1440 already outlasts any wait a caller can ask for.
        let provision_deadline_minutes = whole_number_in(
            &get,
            &mut problems,
            "PROVISION_DEADLINE_MINUTES",
            15,
            (1, 24 * 60),
            " (with 0 every node still booting would be reported stuck, ProvisionTimedOut, at once; leave it unset for 15)",
        );
        let status_url_secret = StatusUrlSecret::read(&env, &mut problems);
        let forecast = ForecastSettings::read(&get, &mut problems);
        let status_url_ttl_minutes = whole_number(
            &get,
            &mut problems,
            "STATUS_URL_TTL_MINUTES",
            DEFAULT_STATUS_URL_TTL_MINUTES,
            MAX_STATUS_URL_TTL_MINUTES,
        );
        if status_url_ttl_minutes == 0 {
            problems.push("STATUS_URL_TTL_MINUTES must be at least 1: a status URL that expires at once cannot be followed".to_owned());
        }
        let keep_warm = match get("KEEP_WARM_MINUTES") {
            None => crate::resizer::keep_warm::KeepWarm::OFF,
            Some(raw) => crate::resizer::keep_warm::KeepWarm::parse(&raw, MAX_KEEP_WARM_MINUTES)
                .unwrap_or_else(|why| {
                    problems.push(format!("KEEP_WARM_MINUTES {why}"));
                    crate::resizer::keep_warm::KeepWarm::OFF
                }),
        };
        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            None => DEFAULT_PORT,
            Some(raw) => raw.parse::<u16>().unwrap_or_else(|_| {
                problems.push(format!(
                    "FUNCTIONS_CUSTOMHANDLER_PORT must be a TCP port, not '{raw}'"
                ));
                DEFAULT_PORT
            }),
        };
        let time_scale = match get("POOL_RESIZER_TIME_SCALE") {
            None => 1.0,
            Some(raw) => match raw.parse::<f64>() {
                Ok(scale) if scale.is_finite() && scale >= 1.0 => scale,
                _ => {
                    problems.push(format!("POOL_RESIZER_TIME_SCALE must be a number >= 1 (dev and tests only), not '{raw}'"));
                    1.0
                }
            },
        };

        // Settings only the timer functions use: their problems disable the
        // schedule, not the handler.
        let mut schedule_problems = Vec::new();
        let mut schedule = |name: &str, default: Option<&str>| -> Option<Schedule> {
            let raw = get(name).or_else(|| default.map(str::to_owned))?;
            match Schedule::parse(&raw) {
                Ok(s) if s.ever_fires() => Some(s),
                Ok(s) => {
                    schedule_problems.push(format!(
                        "{name} '{s}' never fires (no such date, e.g. 30 February)"
                    ));
                    None
                }
                Err(e) => {
                    schedule_problems.push(format!("{name}: {e}"));
                    None
                }
            }
        };
        let up = schedule("SCALE_UP_SCHEDULE", Some(DEFAULT_SCALE_UP_SCHEDULE));
        let down = schedule("SCALE_DOWN_SCHEDULE", Some(DEFAULT_SCALE_DOWN_SCHEDULE));
        let reconcile = schedule("SCHEDULE_RECONCILE_SCHEDULE", None);
        let windows_text = get("SCHEDULE_WINDOWS");
        // With local windows the two schedules only say when the host fires
        // two of the timers; alone, they are the window's edges.
        if let (None, Some(up), Some(down)) = (&windows_text, &up, &down)
            && up == down
        {
            schedule_problems.push(format!(
                "SCALE_UP_SCHEDULE and SCALE_DOWN_SCHEDULE are both '{up}': the window would never open"
            ));
        }
        // The host would fire timers in that zone while the handler judges
        // the window in UTC: the two would disagree about when it is open.
        // (Flex Consumption and Linux plans do not support it anyway.)
        if let Some(zone) = get("WEBSITE_TIME_ZONE")
            && !["UTC", "Etc/UTC", "Coordinated Universal Time"]
                .iter()
                .any(|utc| zone.eq_ignore_ascii_case(utc))
        {
            schedule_problems.push(format!(
                "WEBSITE_TIME_ZONE is '{zone}', but schedules are UTC only: remove it and write SCALE_UP_SCHEDULE/SCALE_DOWN_SCHEDULE in UTC, \
                 or give local business hours as SCHEDULE_WINDOWS with SCHEDULE_TIME_ZONE (the handler does daylight saving itself)"
            ));
        }
        // Local-time windows: the zone is the handler's business, never the host's.
        let time_zone = match get("SCHEDULE_TIME_ZONE") {
            None => Some(jiff::tz::TimeZone::UTC),
            Some(name) => match windows::time_zone(&name) {
                Ok(zone) if windows_text.is_none() && zone.iana_name() != Some("UTC") => {
                    schedule_problems.push(format!(
                        "SCHEDULE_TIME_ZONE is '{name}', but SCHEDULE_WINDOWS is not set: SCALE_UP_SCHEDULE and SCALE_DOWN_SCHEDULE stay UTC \
                         (the host fires them in UTC); set SCHEDULE_WINDOWS for local business hours, or remove SCHEDULE_TIME_ZONE"
                    ));
                    None
                }
                Ok(zone) => Some(zone),
                Err(e) => {
                    schedule_problems.push(format!("SCHEDULE_TIME_ZONE: {e}"));
                    None
                }
            },
        };
        if windows_text.is_some()
            && reconcile.is_none()
            && get("SCHEDULE_RECONCILE_SCHEDULE").is_none()
        {
            schedule_problems.push(
                "SCHEDULE_WINDOWS is set but SCHEDULE_RECONCILE_SCHEDULE is not: the reconcile timer is what opens and closes \
                 local windows (the host does not start a timer whose schedule setting is missing); set it, e.g. '0 */15 * * * *'"
                    .to_owned(),
            );
        }
        let schedule_pool_id = match get("SCHEDULE_POOL_ID") {
            None => default_pool_id.clone(),
            Some(raw) => match raw.parse::<PoolId>() {
                Ok(id) => Some(id),
                Err(e) => {
                    schedule_problems.push(format!(
                        "SCHEDULE_POOL_ID '{raw}' is not a valid pool id: {e}"
                    ));
                    None
                }
            },
        };
        let schedule_dedicated = whole_number(
            &get,
            &mut schedule_problems,
            "SCHEDULE_DEDICATED_NODES",
            1,
            10_000,
        );
        let schedule_low_priority = whole_number(
            &get,
            &mut schedule_problems,
            "SCHEDULE_LOW_PRIORITY_NODES",
            0,
            10_000,
        );
        let timer_wait_seconds = whole_number(
            &get,
            &mut schedule_problems,
            "TIMER_WAIT_SECONDS",
            DEFAULT_TIMER_WAIT_SECONDS,
            3_600,
        );
        let local_windows = match (&windows_text, time_zone) {
            (Some(text), Some(zone)) => {
                match Windows::parse(text, zone, (schedule_dedicated, schedule_low_priority)) {
                    Ok(windows) => Some(windows),
                    Err(e) => {
                        schedule_problems.push(format!("SCHEDULE_WINDOWS: {e}"));
                        None
                    }
                }
            }
            _ => None,
        };

        let allowed_pools = match get("ALLOWED_POOLS") {
            Some(raw) if raw == "*" => AllowedPools::Any,
            Some(raw) => {
                let mut ids = Vec::new();
                for id in raw.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                    match id.parse::<PoolId>() {
                        Ok(id) => ids.push(id),
                        Err(e) => problems
                            .push(format!("ALLOWED_POOLS: '{id}' is not a valid pool id: {e}")),
                    }
                }
                if ids.is_empty() {
                    problems.push("ALLOWED_POOLS is empty: list pool ids separated by commas, or * for every pool".to_owned());
                }
                AllowedPools::Only(ids)
            }
            // Nothing allowed: the HTTP handler refuses to start on that
            // (`AllowedPools::NONE_SET`); the CLI, which holds the credentials
            // itself, does not need the list.
            None => AllowedPools::Only(default_pool_id.iter().cloned().collect()),
        };

        // The schedule acts with the app's own credentials and no caller, so
        // it keeps the rules a request must keep: a setting may not do what a
        // leaked function key cannot.
        if let Some(id) = &schedule_pool_id
            && !allowed_pools.allows(id)
        {
            let which = if get("SCHEDULE_POOL_ID").is_some() {
                format!("SCHEDULE_POOL_ID '{id}'")
            } else {
                format!("the schedule's pool, BATCH_POOL_ID '{id}' (SCHEDULE_POOL_ID is not set),")
            };
            let allowed = match get("ALLOWED_POOLS") {
                Some(_) => format!("ALLOWED_POOLS ({})", allowed_pools.describe()),
                None => format!(
                    "the pools requests may name (ALLOWED_POOLS is not set, so only BATCH_POOL_ID: {})",
                    allowed_pools.describe()
                ),
            };
            schedule_problems.push(format!(
                "{which} is not in {allowed}: list it in ALLOWED_POOLS, or set SCHEDULE_POOL_ID to a pool that is"
            ));
        }
        for (name, count, cap_name, cap) in [
            (
                "SCHEDULE_DEDICATED_NODES",
                schedule_dedicated,
                "MAX_DEDICATED_NODES",
                max_dedicated_nodes,
            ),
            (
                "SCHEDULE_LOW_PRIORITY_NODES",
                schedule_low_priority,
                "MAX_LOW_PRIORITY_NODES",
                max_low_priority_nodes,
            ),
        ] {
            let raw = get(name);
            // An invalid value is reported already, with the default in its place.
            let invalid = raw
                .as_deref()
                .is_some_and(|raw| raw.parse::<u32>().ok() != Some(count));
            if count > cap && !invalid {
                let given = if raw.is_some() { "" } else { " (its default)" };
                schedule_problems.push(format!(
                    "{name} is {count}{given}, above {cap_name} ({cap}), the most a request may ask for: lower it, or raise {cap_name}"
                ));
            }
        }
        // A window's own counts keep the same caps (its defaults are checked above).
        for (i, window) in local_windows.iter().flat_map(Windows::windows).enumerate() {
            for (given, count, what, cap_name, cap) in [
                (
                    window.dedicated_given,
                    window.dedicated,
                    "dedicated",
                    "MAX_DEDICATED_NODES",
                    max_dedicated_nodes,
                ),
                (
                    window.low_priority_given,
                    window.low_priority,
                    "lowPriority",
                    "MAX_LOW_PRIORITY_NODES",
                    max_low_priority_nodes,
                ),
            ] {
                if given && count > cap {
                    schedule_problems.push(format!(
                        "SCHEDULE_WINDOWS: window {} '{window}' has {what}={count}, above {cap_name} ({cap}), the most a request may ask for: \
                         lower it, or raise {cap_name}",
                        i + 1
                    ));
                }
            }
        }

        let mut forecast_pools = ForecastPools::read(&get, &allowed_pools, &mut schedule_problems);
        if get("SCHEDULE_POOL_ID").is_none() && get("BATCH_POOL_ID").is_none() {
            let alone = (reconcile.clone(), timer_wait_seconds);
            forecast_pools.without_schedule_pool(&get, &mut schedule_problems, alone);
        }
        let schedule = match (schedule_problems.is_empty(), up, down, schedule_pool_id) {
            (true, Some(up), Some(down), Some(pool_id)) => Ok(ScheduleSettings {
                window: Window { up, down },
                reconcile,
                pool_id,
                dedicated: schedule_dedicated,
                low_priority: schedule_low_priority,
                wait_seconds: timer_wait_seconds,
                windows: local_windows,
            }),
            _ => Err(ScheduleDisabled(schedule_problems)),
        };

        match (problems.is_empty(), batch_account_url) {
            (true, Some(batch_account_url)) => Ok(Settings {
                batch_account_url,
                default_pool_id,
                auth,
                ca_file,
                default_wait_seconds,
                max_dedicated_nodes,
                max_low_priority_nodes,
                keep_warm,
                provision_deadline: std::time::Duration::from_secs(
                    u64::from(provision_deadline_minutes) * 60,
                ),
                time_scale,
                port,
                schedule,
                allowed_pools,
                public_host: get("WEBSITE_HOSTNAME")
                    .map(|h| h.to_ascii_lowercase())
                    .filter(|h| is_host_name(h)),
                status_url_secret,
                forecast,
                forecast_pools,
                status_url_ttl: std::time::Duration::from_secs(
                    u64::from(status_url_ttl_minutes.max(1)) * 60,
                ),
            }),
            // Refusing to start anyway: say everything that needs fixing,
            // the schedule's problems too, in the one line.
            _ => {
                if let (true, Err(ScheduleDisabled(more))) = (schedule_problems_too, schedule) {
                    problems.extend(more);
                }
                Err(SettingsError(problems))
            }
        }
    }
}

#[cfg(test)]
mod tests;
