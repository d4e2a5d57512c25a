//! Typed settings, read once at start from app settings (environment).
//!
//! Every problem is collected and reported together, naming the setting and
//! what is wrong with it, so a misconfigured Function App says everything in
//! its first log line instead of one error per restart. Secrets are wrapped
//! in [`Secret`](azure_core::credentials::Secret) and never printed.
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
//!
//! Each part reads itself, every setting through the problem-collecting
//! reader (`settings/reader.rs`: a whole number, a pool id, a URL, a
//! schedule): the Batch account (`batch.rs`), what a request gets and may
//! ask for (`limits.rs`), status URLs (`status_url.rs`), the pools requests
//! may name (`allowed_pools.rs`), the timers' window (`schedule.rs`) and
//! the forecast (`forecast.rs`). What one setting means for another (the
//! schedule within the allowlist and the caps) is checked in one place,
//! `checks.rs`, once every part is read; only `FORECAST_POOLS` checks the
//! allowlist as it reads, since a pool it may not name is left out of the
//! list. [`Settings::from_env`] only puts the parts together.

use crate::batch::PoolId;
use std::fmt;
use std::path::PathBuf;
use url::Url;

mod allowed_pools;
mod batch;
mod checks;
mod forecast;
mod limits;
mod reader;
mod schedule;
mod status_url;

pub(crate) use allowed_pools::AllowedPools;
pub(crate) use batch::AuthSettings;
use batch::BatchSettings;
#[cfg(feature = "simulator")]
pub(crate) use forecast::DEFAULT_FORECAST_GRACE_MINUTES;
#[cfg(all(test, feature = "simulator"))]
pub(crate) use forecast::MAX_FORECAST_POOLS;
pub(crate) use forecast::{ForecastMode, ForecastPool, ForecastPools, ForecastSettings, NO_WINDOW};
use limits::RequestLimits;
#[cfg(feature = "simulator")]
pub(crate) use schedule::EXAMPLE_RECONCILE_SCHEDULE;
use schedule::ScheduleRead;
pub(crate) use schedule::{ScheduleDisabled, ScheduleSettings};
pub(crate) use status_url::StatusUrlSecret;

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

pub(crate) const DEFAULT_MAX_NODES: u32 = 10;
pub(crate) use crate::resizer::keep_warm::MAX_KEEP_WARM_MINUTES;
const DEFAULT_PORT: u16 = 8080;

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
        let batch = BatchSettings::read(&env, &get, &mut problems);
        let limits = RequestLimits::read(&get, &mut problems);
        let status_url_secret = StatusUrlSecret::read(&env, &mut problems);
        let forecast = ForecastSettings::read(&get, &mut problems);
        let status_url_ttl = status_url::read_ttl(&get, &mut problems);
        let keep_warm = limits::read_keep_warm(&get, &mut problems);
        let (port, time_scale) = read_process(&get, &mut problems);

        // Settings only the timer functions use: their problems disable the
        // schedule, not the handler.
        let mut schedule_problems = Vec::new();
        let schedule =
            ScheduleRead::read(&get, batch.default_pool_id.as_ref(), &mut schedule_problems);
        let allowed_pools = AllowedPools::read(&get, batch.default_pool_id.as_ref(), &mut problems);
        checks::schedule_within_request_rules(
            &get,
            &schedule,
            &allowed_pools,
            &limits,
            &mut schedule_problems,
        );
        let mut forecast_pools = ForecastPools::read(&get, &allowed_pools, &mut schedule_problems);
        if get("SCHEDULE_POOL_ID").is_none() && get("BATCH_POOL_ID").is_none() {
            let alone = (schedule.reconcile.clone(), schedule.wait_seconds);
            forecast_pools.without_schedule_pool(&get, &mut schedule_problems, alone);
        }
        let schedule = schedule.settled(schedule_problems);

        match (problems.is_empty(), batch.url) {
            (true, Some(batch_account_url)) => Ok(Settings {
                batch_account_url,
                default_pool_id: batch.default_pool_id,
                auth: batch.auth,
                ca_file: batch.ca_file,
                default_wait_seconds: limits.default_wait_seconds,
                max_dedicated_nodes: limits.max_dedicated_nodes,
                max_low_priority_nodes: limits.max_low_priority_nodes,
                keep_warm,
                provision_deadline: limits.provision_deadline,
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
                status_url_ttl,
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

/// `FUNCTIONS_CUSTOMHANDLER_PORT`, set by the host, and
/// `POOL_RESIZER_TIME_SCALE`, dev's and the tests': how this process runs,
/// not what it does.
fn read_process(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> (u16, f64) {
    let port = reader::parsed(
        get,
        problems,
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "a TCP port"),
        DEFAULT_PORT,
        |_| true,
    );
    let time_scale = reader::parsed(
        get,
        problems,
        (
            "POOL_RESIZER_TIME_SCALE",
            "a number >= 1 (dev and tests only)",
        ),
        1.0,
        |scale: &f64| scale.is_finite() && *scale >= 1.0,
    );
    (port, time_scale)
}

// Last in the file: the deploy test reads setting names up to the first
// test-only line.
#[cfg(test)]
pub(crate) use schedule::{
    DEFAULT_SCALE_DOWN_SCHEDULE, DEFAULT_SCALE_UP_SCHEDULE, DEFAULT_TIMER_WAIT_SECONDS,
};

#[cfg(test)]
mod tests;
