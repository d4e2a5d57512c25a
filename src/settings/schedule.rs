//! What the timer functions keep (`docs/schedules.md`): the window, its
//! pool and nodes, read from settings only the timers use, so their
//! problems disable the timers and leave the HTTP functions working.

use super::reader::{self, whole_number};
use crate::batch::PoolId;
use crate::schedule::windows::{self, Windows};
use crate::schedule::{Schedule, ScheduleNow, Window};
use std::fmt;

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
/// settings, each naming its setting. Kept apart from [`super::SettingsError`]
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

/// The schedule's settings as read, each `None` that has a problem; the
/// checks against the other settings come after ([`super::checks`]).
pub(super) struct ScheduleRead {
    pub(super) up: Option<Schedule>,
    pub(super) down: Option<Schedule>,
    pub(super) reconcile: Option<Schedule>,
    pub(super) pool_id: Option<PoolId>,
    pub(super) dedicated: u32,
    pub(super) low_priority: u32,
    pub(super) wait_seconds: u32,
    pub(super) windows: Option<Windows>,
}

impl ScheduleRead {
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        default_pool_id: Option<&PoolId>,
        problems: &mut Vec<String>,
    ) -> Self {
        let up = reader::schedule(
            get,
            problems,
            "SCALE_UP_SCHEDULE",
            Some(DEFAULT_SCALE_UP_SCHEDULE),
        );
        let down = reader::schedule(
            get,
            problems,
            "SCALE_DOWN_SCHEDULE",
            Some(DEFAULT_SCALE_DOWN_SCHEDULE),
        );
        let reconcile = reader::schedule(get, problems, "SCHEDULE_RECONCILE_SCHEDULE", None);
        let windows_text = get("SCHEDULE_WINDOWS");
        // With local windows the two schedules only say when the host fires
        // two of the timers; alone, they are the window's edges.
        if let (None, Some(up), Some(down)) = (&windows_text, &up, &down)
            && up == down
        {
            problems.push(format!(
                "SCALE_UP_SCHEDULE and SCALE_DOWN_SCHEDULE are both '{up}': the window would never open"
            ));
        }
        host_time_zone_is_utc(get, problems);
        let time_zone = windows_time_zone(get, windows_text.is_some(), problems);
        if windows_text.is_some()
            && reconcile.is_none()
            && get("SCHEDULE_RECONCILE_SCHEDULE").is_none()
        {
            problems.push(
                "SCHEDULE_WINDOWS is set but SCHEDULE_RECONCILE_SCHEDULE is not: the reconcile timer is what opens and closes \
                 local windows (the host does not start a timer whose schedule setting is missing); set it, e.g. '0 */15 * * * *'"
                    .to_owned(),
            );
        }
        let pool_id = match get("SCHEDULE_POOL_ID") {
            None => default_pool_id.cloned(),
            Some(_) => reader::pool_id(get, problems, "SCHEDULE_POOL_ID"),
        };
        let dedicated = whole_number(get, problems, "SCHEDULE_DEDICATED_NODES", 1, 10_000);
        let low_priority = whole_number(get, problems, "SCHEDULE_LOW_PRIORITY_NODES", 0, 10_000);
        let wait_seconds = whole_number(
            get,
            problems,
            "TIMER_WAIT_SECONDS",
            DEFAULT_TIMER_WAIT_SECONDS,
            3_600,
        );
        let windows = match (&windows_text, time_zone) {
            (Some(text), Some(zone)) => match Windows::parse(text, zone, (dedicated, low_priority))
            {
                Ok(windows) => Some(windows),
                Err(e) => {
                    problems.push(format!("SCHEDULE_WINDOWS: {e}"));
                    None
                }
            },
            _ => None,
        };
        ScheduleRead {
            up,
            down,
            reconcile,
            pool_id,
            dedicated,
            low_priority,
            wait_seconds,
            windows,
        }
    }

    /// The settings, when the schedule's reading and its checks found no problem.
    pub(super) fn settled(
        self,
        problems: Vec<String>,
    ) -> Result<ScheduleSettings, ScheduleDisabled> {
        match (problems.is_empty(), self.up, self.down, self.pool_id) {
            (true, Some(up), Some(down), Some(pool_id)) => Ok(ScheduleSettings {
                window: Window { up, down },
                reconcile: self.reconcile,
                pool_id,
                dedicated: self.dedicated,
                low_priority: self.low_priority,
                wait_seconds: self.wait_seconds,
                windows: self.windows,
            }),
            _ => Err(ScheduleDisabled(problems)),
        }
    }
}

/// The host would fire timers in `WEBSITE_TIME_ZONE` while the handler
/// judges the window in UTC: the two would disagree about when it is open.
/// (Flex Consumption and Linux plans do not support it anyway.)
fn host_time_zone_is_utc(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) {
    if let Some(zone) = get("WEBSITE_TIME_ZONE")
        && !["UTC", "Etc/UTC", "Coordinated Universal Time"]
            .iter()
            .any(|utc| zone.eq_ignore_ascii_case(utc))
    {
        problems.push(format!(
            "WEBSITE_TIME_ZONE is '{zone}', but schedules are UTC only: remove it and write SCALE_UP_SCHEDULE/SCALE_DOWN_SCHEDULE in UTC, \
             or give local business hours as SCHEDULE_WINDOWS with SCHEDULE_TIME_ZONE (the handler does daylight saving itself)"
        ));
    }
}

/// `SCHEDULE_TIME_ZONE`, UTC when unset: local-time windows' zone is the
/// handler's business, never the host's, so it means nothing without them.
fn windows_time_zone(
    get: &impl Fn(&str) -> Option<String>,
    windows_set: bool,
    problems: &mut Vec<String>,
) -> Option<jiff::tz::TimeZone> {
    let Some(name) = get("SCHEDULE_TIME_ZONE") else {
        return Some(jiff::tz::TimeZone::UTC);
    };
    match windows::time_zone(&name) {
        Ok(zone) if !windows_set && zone.iana_name() != Some("UTC") => {
            problems.push(format!(
                "SCHEDULE_TIME_ZONE is '{name}', but SCHEDULE_WINDOWS is not set: SCALE_UP_SCHEDULE and SCALE_DOWN_SCHEDULE stay UTC \
                 (the host fires them in UTC); set SCHEDULE_WINDOWS for local business hours, or remove SCHEDULE_TIME_ZONE"
            ));
            None
        }
        Ok(zone) => Some(zone),
        Err(e) => {
            problems.push(format!("SCHEDULE_TIME_ZONE: {e}"));
            None
        }
    }
}
