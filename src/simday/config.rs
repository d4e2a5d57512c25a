//! What day is replayed: when the pipelines start, how long their tasks run, how long
//! nodes take to boot. A small JSON file (`--config`), every field optional, or the
//! defaults: the issue's reference day, twelve runs of about ten minutes at random
//! times in working hours on a Monday.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// The day, as read from the config file (camelCase keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DayConfig {
    /// The replayed date (`YYYY-MM-DD`); a weekday matters to the schedule formulas.
    pub date: String,
    /// Where the replay starts (`HH:MM`) and how long it lasts.
    pub start: String,
    /// How long the replay lasts, in minutes.
    pub length_minutes: u32,
    /// Seeds the arrivals, the task durations and the simulator's delays.
    pub seed: u64,
    /// Pipeline start times (`HH:MM` or `HH:MM:SS`); when empty, `runs` random ones
    /// in `window`.
    pub arrivals: Vec<String>,
    /// How many random runs to draw when `arrivals` is empty.
    pub runs: u32,
    /// Where the random runs fall (`HH:MM`, `HH:MM`).
    pub window: [String; 2],
    /// Each task runs a duration drawn from this range (minutes).
    pub task_minutes: [f64; 2],
    /// The pool's start task (`sleep N`, waitForSuccess); `null`: none, the
    /// nodes are ready once booted.
    pub start_task_seconds: Option<u32>,
    /// From a resize to the VMs' existence, then the two boot phases (seconds, ranges).
    pub allocate_seconds: [f64; 2],
    /// How long a node is `creating` (seconds, range).
    pub creating_seconds: [f64; 2],
    /// How long a node is `starting` before its start task (seconds, range).
    pub starting_seconds: [f64; 2],
    /// From removal to gone (seconds, range): still billed.
    pub leaving_seconds: [f64; 2],
    /// How often ADF looks at its Custom activity's task.
    pub adf_poll_seconds: u32,
    /// pool-resizer's inline wait (`waitSeconds`) and lease length.
    pub wait_seconds: u32,
    /// How long each pipeline's lease lasts (`leaseMinutes`).
    pub lease_minutes: u32,
    /// The formulas' `autoScaleEvaluationInterval` (the seed article used 5).
    pub formula_interval_minutes: u32,
    /// Which strategies to replay (names as in the table); empty: all.
    pub strategies: Vec<String>,
}

impl Default for DayConfig {
    fn default() -> Self {
        DayConfig {
            date: "2026-02-02".into(),
            start: "00:00".into(),
            length_minutes: 24 * 60,
            seed: 7,
            arrivals: Vec::new(),
            runs: 12,
            window: ["08:00".into(), "18:00".into()],
            task_minutes: [8.0, 12.0],
            start_task_seconds: Some(30),
            allocate_seconds: [15.0, 40.0],
            creating_seconds: [50.0, 100.0],
            starting_seconds: [80.0, 140.0],
            leaving_seconds: [15.0, 30.0],
            adf_poll_seconds: 15,
            wait_seconds: 180,
            lease_minutes: 180,
            formula_interval_minutes: 5,
            strategies: Vec::new(),
        }
    }
}

/// One pipeline run of the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The run's name, also its lease id.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    /// When the pipeline starts.
    pub arrival: OffsetDateTime,
    /// How long its task runs once on a node.
    pub task_seconds: u32,
}

/// The day with its runs drawn.
#[derive(Debug, Clone)]
pub struct DayPlan {
    /// The config the plan was drawn from.
    pub config: DayConfig,
    /// When the replay starts.
    pub start: OffsetDateTime,
    /// When it ends.
    pub end: OffsetDateTime,
    /// The runs, in arrival order.
    pub runs: Vec<Run>,
}

#[derive(Debug, thiserror::Error)]
#[error("day config: {0}")]
/// A day config that cannot be replayed, and why.
pub struct ConfigError(pub String);

fn time_of_day(s: &str) -> Result<Time, ConfigError> {
    let long = format_description!("[hour]:[minute]:[second]");
    let short = format_description!("[hour]:[minute]");
    Time::parse(s, long)
        .or_else(|_| Time::parse(s, short))
        .map_err(|_| ConfigError(format!("'{s}' is not a time of day (HH:MM)")))
}

fn range(name: &str, r: [f64; 2]) -> Result<(f64, f64), ConfigError> {
    if !(r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1]) {
        return Err(ConfigError(format!(
            "{name} must be [low, high] with 0 <= low <= high"
        )));
    }
    Ok((r[0], r[1]))
}

impl DayConfig {
    /// Read a config file; absent fields keep their defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Check the values and draw the runs (seeded: one seed, one day).
    pub fn plan(&self) -> Result<DayPlan, ConfigError> {
        let date = Date::parse(&self.date, format_description!("[year]-[month]-[day]"))
            .map_err(|_| ConfigError(format!("'{}' is not a date (YYYY-MM-DD)", self.date)))?;
        let at = |t: Time| date.with_time(t).assume_utc();
        let start = at(time_of_day(&self.start)?);
        if self.length_minutes == 0 {
            return Err(ConfigError("lengthMinutes must be at least 1".into()));
        }
        let end = start + time::Duration::minutes(self.length_minutes.into());
        for (name, r) in [
            ("taskMinutes", self.task_minutes),
            ("allocateSeconds", self.allocate_seconds),
            ("creatingSeconds", self.creating_seconds),
            ("startingSeconds", self.starting_seconds),
            ("leavingSeconds", self.leaving_seconds),
        ] {
            range(name, r)?;
        }
        if self.adf_poll_seconds == 0 || self.formula_interval_minutes < 5 {
            return Err(ConfigError(
                "adfPollSeconds must be at least 1 and formulaIntervalMinutes at least 5".into(),
            ));
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut arrivals: Vec<OffsetDateTime> = if self.arrivals.is_empty() {
            let (lo, hi) = (
                at(time_of_day(&self.window[0])?),
                at(time_of_day(&self.window[1])?),
            );
            if hi <= lo {
                return Err(ConfigError("window must end after it starts".into()));
            }
            let span = (hi - lo).whole_seconds();
            (0..self.runs)
                .map(|_| lo + time::Duration::seconds(rng.random_range(0..span)))
                .collect()
        } else {
            self.arrivals
                .iter()
                .map(|a| time_of_day(a).map(at))
                .collect::<Result<_, _>>()?
        };
        arrivals.sort();
        if let Some(bad) = arrivals.iter().find(|a| **a < start || **a >= end) {
            return Err(ConfigError(format!(
                "arrival {} is outside the replayed span",
                bad.time()
            )));
        }
        let (lo, hi) = range("taskMinutes", self.task_minutes)?;
        let runs = arrivals
            .into_iter()
            .enumerate()
            .map(|(i, arrival)| {
                let minutes = if hi > lo {
                    rng.random_range(lo..hi)
                } else {
                    lo
                };
                Run {
                    id: format!("run-{:02}", i + 1),
                    arrival,
                    task_seconds: (minutes * 60.0).round() as u32,
                }
            })
            .collect();
        Ok(DayPlan {
            config: self.clone(),
            start,
            end,
            runs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_day_is_twelve_runs_in_working_hours_drawn_from_the_seed() {
        let plan = DayConfig::default().plan().unwrap();
        assert_eq!(plan.runs.len(), 12);
        assert_eq!(plan.start.weekday(), time::Weekday::Monday);
        for r in &plan.runs {
            assert!((8..18).contains(&r.arrival.hour()), "{r:?}");
            assert!((480..=720).contains(&r.task_seconds), "{r:?}");
        }
        assert_eq!(plan.runs, DayConfig::default().plan().unwrap().runs);
        let other = DayConfig {
            seed: 8,
            ..DayConfig::default()
        };
        assert_ne!(plan.runs, other.plan().unwrap().runs);
    }

    #[test]
    fn explicit_arrivals_and_bad_values() {
        let c: DayConfig =
            serde_json::from_str(r#"{"arrivals": ["10:30", "09:15:20"], "taskMinutes": [5, 5]}"#)
                .unwrap();
        let plan = c.plan().unwrap();
        let times: Vec<String> = plan
            .runs
            .iter()
            .map(|r| r.arrival.time().to_string())
            .collect();
        assert_eq!(times, vec!["9:15:20.0", "10:30:00.0"]);
        assert_eq!(plan.runs[0].task_seconds, 300);
        assert!(serde_json::from_str::<DayConfig>(r#"{"runz": 3}"#).is_err());
        let late = DayConfig {
            start: "08:00".into(),
            length_minutes: 60,
            arrivals: vec!["09:30".into()],
            ..DayConfig::default()
        };
        assert!(late.plan().is_err());
    }
}
