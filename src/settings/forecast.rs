//! The forecast's settings: `FORECAST_MODE` and its grace for the
//! schedule's pool, and `FORECAST_POOLS`, a mode per pool for the others.
//!
//! `FORECAST_POOLS` problems disable the timers only, as the schedule's own
//! do: pre-warming is a timer's work, and the HTTP functions pipelines call
//! must not go down for it.

use super::AllowedPools;
use super::reader::{minutes_at_least_one, whole_number};
use crate::batch::PoolId;
use crate::schedule::Schedule;

/// What the reconcile timer does with a pool's forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ForecastMode {
    /// Nothing (the default).
    #[default]
    Off,
    /// Says what it would pre-warm and how often that would have been right;
    /// writes nothing to the pool.
    ForecastOnly,
    /// Pre-warms: a `forecast` floor lease and a scale-up, ahead of an
    /// expected arrival; never shrinks on a prediction.
    On,
}

impl ForecastMode {
    /// Case-insensitive, as app settings are typed by hand.
    fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "off" => Some(ForecastMode::Off),
            "forecast-only" => Some(ForecastMode::ForecastOnly),
            "on" => Some(ForecastMode::On),
            _ => None,
        }
    }
}

/// `FORECAST_MODE` and its grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForecastSettings {
    pub(crate) mode: ForecastMode,
    /// How long after its slot's latest arrival a pre-warm's lease lapses.
    pub(crate) grace: std::time::Duration,
}

/// Long enough for a trigger's jitter and an upstream activity's delay,
/// short enough that a pre-warm nobody used bills little.
pub(crate) const DEFAULT_FORECAST_GRACE_MINUTES: u32 = 5;

impl ForecastSettings {
    pub(super) fn read(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let mode = match get("FORECAST_MODE") {
            None => ForecastMode::Off,
            Some(raw) => ForecastMode::parse(&raw).unwrap_or_else(|| {
                problems.push(format!(
                    "FORECAST_MODE must be off, forecast-only or on, not '{}'",
                    raw.to_ascii_lowercase()
                ));
                ForecastMode::Off
            }),
        };
        let grace = whole_number(
            get,
            problems,
            "FORECAST_GRACE_MINUTES",
            DEFAULT_FORECAST_GRACE_MINUTES,
            120,
        );
        if grace == 0 {
            problems.push("FORECAST_GRACE_MINUTES must be at least 1: a pre-warm must wait for the pipeline it expects".to_owned());
        }
        ForecastSettings {
            mode,
            grace: minutes_at_least_one(grace),
        }
    }
}

/// Every pool in `FORECAST_POOLS` costs Batch calls on every reconcile
/// firing (a look; a lease write and a resize when it pre-warms), one pool
/// after another within the firing's `TIMER_WAIT_SECONDS`: a longer list
/// would leave its tail unvisited, and its Batch calls would crowd the
/// pipelines' own on a shared account.
pub(crate) const MAX_FORECAST_POOLS: usize = 20;

/// One `pool=mode` of `FORECAST_POOLS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForecastPool {
    pub(crate) pool_id: PoolId,
    pub(crate) mode: ForecastMode,
}

/// `FORECAST_POOLS`: the pools the reconcile pre-warms besides the
/// schedule's, each with its own mode, so one app can judge a forecast on
/// one pool while it acts on another.
#[derive(Debug, Clone, Default)]
pub(crate) struct ForecastPools {
    pub(crate) pools: Vec<ForecastPool>,
    /// Set when no window is configured at all (no pool for the schedule,
    /// no window setting) and `FORECAST_POOLS` is: the reconcile then visits
    /// these pools only, with the period and budget kept here, since there
    /// is no schedule to carry them.
    pub(crate) alone: Option<Alone>,
}

/// What a reconcile firing with no window needs of the schedule's settings.
#[derive(Debug, Clone)]
pub(crate) struct Alone {
    /// `SCHEDULE_RECONCILE_SCHEDULE`: how early a pre-warm must start.
    pub(crate) reconcile: Option<Schedule>,
    /// `TIMER_WAIT_SECONDS`: the firing's budget for all its pools.
    pub(crate) wait_seconds: u32,
}

/// Why the up and down timers fail when the reconcile pre-warms alone: they
/// have no window to keep (the host does not start them anyway unless their
/// schedule settings are set, and setting one names a window).
pub(crate) const NO_WINDOW: &str = "no window is configured (no SCHEDULE_POOL_ID, BATCH_POOL_ID, SCALE_UP_SCHEDULE, SCALE_DOWN_SCHEDULE nor SCHEDULE_WINDOWS): timer-reconcile only pre-warms FORECAST_POOLS";

impl ForecastPools {
    /// Every problem of the list at once; an entry with a problem is left
    /// out, the others kept.
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        allowed: &AllowedPools,
        problems: &mut Vec<String>,
    ) -> Self {
        let Some(raw) = get("FORECAST_POOLS") else {
            return ForecastPools::default();
        };
        let entries: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.len() > MAX_FORECAST_POOLS {
            problems.push(format!(
                "FORECAST_POOLS names {} pools, more than {MAX_FORECAST_POOLS}: each costs Batch calls on every reconcile firing, \
                 visited one after another within TIMER_WAIT_SECONDS; pre-warm the pools whose pipelines wait most",
                entries.len()
            ));
        }
        let mut pools: Vec<ForecastPool> = Vec::new();
        for entry in entries {
            let Some(pool) = Self::entry(entry, allowed, get, problems) else {
                continue;
            };
            if pools.iter().any(|p| p.pool_id == pool.pool_id) {
                problems.push(format!(
                    "FORECAST_POOLS names pool '{}' more than once: give each pool one mode",
                    pool.pool_id
                ));
                continue;
            }
            pools.push(pool);
        }
        ForecastPools { pools, alone: None }
    }

    fn entry(
        entry: &str,
        allowed: &AllowedPools,
        get: &impl Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> Option<ForecastPool> {
        let Some((id, mode)) = entry.split_once('=') else {
            problems.push(format!(
                "FORECAST_POOLS: '{entry}' is not pool=mode (e.g. etl-pool=on,reports=forecast-only)"
            ));
            return None;
        };
        let (id, mode) = (id.trim(), mode.trim());
        let parsed = ForecastMode::parse(mode);
        if parsed.is_none() {
            problems.push(format!(
                "FORECAST_POOLS: '{entry}': the mode must be off, forecast-only or on, not '{mode}'"
            ));
        }
        let pool_id = match id.parse::<PoolId>() {
            Ok(pool_id) => pool_id,
            Err(e) => {
                problems.push(format!(
                    "FORECAST_POOLS: '{id}' is not a valid pool id: {e}"
                ));
                return None;
            }
        };
        // The forecast acts with the app's own credentials and no caller:
        // it keeps the allowlist a request keeps, as the schedule does.
        if !allowed.allows(&pool_id) {
            let list = allowed.named(get);
            problems.push(format!(
                "FORECAST_POOLS names pool '{pool_id}', which is not in {list}: list it in ALLOWED_POOLS, or remove it from FORECAST_POOLS"
            ));
            return None;
        }
        Some(ForecastPool {
            pool_id,
            mode: parsed?,
        })
    }

    /// The mode of a pool the list names, if it does.
    pub(crate) fn mode_of(&self, pool_id: &PoolId) -> Option<ForecastMode> {
        self.pools
            .iter()
            .find(|p| &p.pool_id == pool_id)
            .map(|p| p.mode)
    }

    /// No pool for the schedule: a problem, unless no window is configured
    /// at all and `FORECAST_POOLS` is set, when the reconcile runs for the
    /// forecast pools alone. Either way the schedule itself is disabled, and
    /// `problems` says why.
    pub(super) fn without_schedule_pool(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
        (reconcile, wait_seconds): (Option<Schedule>, u32),
    ) {
        let window_named = [
            "SCALE_UP_SCHEDULE",
            "SCALE_DOWN_SCHEDULE",
            "SCHEDULE_WINDOWS",
        ]
        .iter()
        .any(|name| get(name).is_some());
        if self.pools.is_empty() || window_named {
            problems.push(
                "neither SCHEDULE_POOL_ID nor BATCH_POOL_ID is set, so the schedule has no pool to keep: set SCHEDULE_POOL_ID"
                    .to_owned(),
            );
            return;
        }
        // Any other problem of the timers' settings stops this too.
        if problems.is_empty() {
            self.alone = Some(Alone {
                reconcile,
                wait_seconds,
            });
        }
        problems.push(NO_WINDOW.to_owned());
    }
}
