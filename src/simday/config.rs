//! What is replayed: when the pipelines start, how many nodes each asks for, how long
//! their tasks run, how long nodes take to boot, what ADF itself adds, over how many
//! days. A small JSON file (`--config`), every field optional, or the defaults: the
//! issue's reference day, twelve runs of about ten minutes at random times in working
//! hours on a Monday, with the simulator's own recorded boot times.
//!
//! Days run back to back (`learningDays`, then `measuredDays`): the pool, its metadata and
//! the autoscale history carry over from one day to the next, and only the measured days
//! are measured. Named day types (busy, bursts, recurring...) are in [`super::presets`].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// The day, as read from the config file (camelCase keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DayConfig {
    /// The first replayed date (`YYYY-MM-DD`); a weekday or not matters to the schedule
    /// formulas. Later days follow it.
    pub date: String,
    /// Where each day's replay starts (`HH:MM`).
    pub start: String,
    /// How long each day lasts, in minutes.
    pub length_minutes: u32,
    /// Days replayed before the measured ones, for strategies that learn from the days
    /// before (their runs happen, nothing of them is measured).
    pub learning_days: u32,
    /// Days measured, after the learning days.
    pub measured_days: u32,
    /// Seeds the arrivals, the task durations, ADF's overheads and the simulator's delays.
    pub seed: u64,
    /// Pipeline start times (`HH:MM` or `HH:MM:SS`), the same every day; when empty,
    /// `runs` random ones in `window`.
    pub arrivals: Vec<String>,
    /// How many random runs to draw per day when `arrivals` is empty.
    pub runs: u32,
    /// Where the random runs fall (`HH:MM`, `HH:MM`).
    pub window: [String; 2],
    /// 0: random runs spread over the window. N: they come in N clumps, each at a random
    /// time in the window, its runs within `burstMinutes` of its start.
    pub bursts: u32,
    /// How wide a clump of runs is (minutes).
    pub burst_minutes: f64,
    /// Random runs at the same times every day (drawn once from the seed), as schedule
    /// triggers start them; otherwise each day draws its own.
    pub recurring: bool,
    /// A schedule trigger starts its pipeline this late (seconds, range), on every run.
    pub trigger_delay_seconds: [f64; 2],
    /// The activities before the Custom activity (a copy, say) take their usual time
    /// give or take this much (seconds, uniform in ±): added to every arrival.
    pub upstream_jitter_seconds: f64,
    /// Each task runs a duration drawn from this range (minutes).
    pub task_minutes: [f64; 2],
    /// Nodes each pipeline asks for (range): a pipeline with N nodes runs N tasks at once.
    pub nodes_per_run: [u32; 2],
    /// Pipelines fail before their scale-down activity (it never runs): what then
    /// bounds the bill.
    pub skip_scale_down: bool,
    /// The most nodes any strategy may hold (`MAX_DEDICATED_NODES` for pool-resizer, the
    /// cap in the formulas that have one).
    pub max_nodes: u32,
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
    /// From one activity's end to the next one's start, inside a pipeline (seconds, range).
    pub activity_transition_seconds: [f64; 2],
    /// From the Custom activity's start to its task being added to the job (seconds, range).
    pub task_submission_seconds: [f64; 2],
    /// What a call to the Function App adds when it has been idle (seconds, range).
    pub function_cold_start_seconds: [f64; 2],
    /// The Function App is cold after this long without an HTTP call (minutes).
    pub function_idle_minutes: u32,
    /// pool-resizer's inline wait (`waitSeconds`) on a scale-up.
    pub wait_seconds: u32,
    /// How long each pipeline's lease lasts (`leaseMinutes`).
    pub lease_minutes: u32,
    /// Each pipeline's `leaseIdleMinutes` (`null`: none), as the pipeline
    /// template sends it: what ends a lease whose pipeline never scales down.
    pub lease_idle_minutes: Option<u32>,
    /// The formulas' `autoScaleEvaluationInterval` (the seed article used 5).
    pub formula_interval_minutes: u32,
    /// Which strategies to replay (names as in the table); empty: all.
    pub strategies: Vec<String>,
}

impl Default for DayConfig {
    fn default() -> Self {
        // The simulator's own boot and leave times (recorded from the Azure SDKs' test
        // recordings, see docs/simulator.md, *Timings*), read from it so they cannot drift.
        let t = batch_simulator::Timing::default();
        let pair = |(lo, hi): (f64, f64)| [lo, hi];
        DayConfig {
            date: "2026-02-02".into(),
            start: "00:00".into(),
            length_minutes: 24 * 60,
            learning_days: 0,
            measured_days: 1,
            seed: 7,
            arrivals: Vec::new(),
            runs: 12,
            window: ["08:00".into(), "18:00".into()],
            bursts: 0,
            burst_minutes: 10.0,
            recurring: false,
            trigger_delay_seconds: [0.0, 0.0],
            upstream_jitter_seconds: 0.0,
            task_minutes: [8.0, 12.0],
            nodes_per_run: [1, 1],
            skip_scale_down: false,
            max_nodes: 10,
            start_task_seconds: Some(30),
            allocate_seconds: pair(t.allocate),
            creating_seconds: pair(t.creating),
            starting_seconds: pair(t.starting),
            leaving_seconds: pair(t.leaving),
            adf_poll_seconds: 15,
            activity_transition_seconds: [2.0, 10.0],
            task_submission_seconds: [3.0, 10.0],
            function_cold_start_seconds: [2.0, 8.0],
            function_idle_minutes: 20,
            wait_seconds: 180,
            lease_minutes: 180,
            lease_idle_minutes: Some(15),
            formula_interval_minutes: 5,
            strategies: Vec::new(),
        }
    }
}

/// ADF's own delays around one run, drawn once per run so that every strategy's replay
/// of that run pays the same (a strategy that has no activity there pays nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Overheads {
    /// Seconds from the pipeline's start to its Custom activity's task being added.
    pub submission: f64,
    /// Seconds each activity-to-activity transition takes, in pipeline order: into the
    /// "Still starting" condition, into its "Wait for nodes" Web activity, into the
    /// Custom activity, into the scale-down.
    pub transitions: [f64; 4],
    /// Seconds a cold Function App adds to the scale-up, and to the scale-down.
    pub cold_start: [f64; 2],
}

/// One pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The run's name, also its lease id (`run-03`; `d2-run-03` on the third day of many).
    pub id: String,
    /// Which day (0: the first, learning or not).
    pub day: u32,
    /// Whether its day is measured.
    pub measured: bool,
    #[serde(with = "time::serde::rfc3339")]
    /// When the pipeline starts (its first activity).
    pub arrival: OffsetDateTime,
    /// How long each of its tasks runs once on a node.
    pub task_seconds: u32,
    /// Nodes it asks for; it runs as many tasks at once.
    pub nodes: u32,
    /// What ADF adds around it.
    pub overheads: Overheads,
}

impl Run {
    /// Its tasks' ids: the run's id for one, `<id>-t1`... for several.
    pub fn task_ids(&self) -> Vec<String> {
        if self.nodes <= 1 {
            vec![self.id.clone()]
        } else {
            (1..=self.nodes)
                .map(|k| format!("{}-t{k}", self.id))
                .collect()
        }
    }
}

/// The days with their runs drawn.
#[derive(Debug, Clone)]
pub struct DayPlan {
    /// The config the plan was drawn from.
    pub config: DayConfig,
    /// When the replay starts (the first day's start).
    pub start: OffsetDateTime,
    /// When measuring starts (the first measured day's start).
    pub measured_start: OffsetDateTime,
    /// When the replay ends (the last day's end).
    pub end: OffsetDateTime,
    /// The runs of every day, in arrival order.
    pub runs: Vec<Run>,
}

impl DayPlan {
    /// The measured runs.
    pub fn measured_runs(&self) -> Vec<Run> {
        self.runs.iter().filter(|r| r.measured).cloned().collect()
    }

    /// Minutes from the measured start to the end.
    pub fn measured_minutes(&self) -> f64 {
        (self.end - self.measured_start).as_seconds_f64() / 60.0
    }
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

/// A value drawn from `[lo, hi]` (exactly `lo` when the range is a point).
fn draw(rng: &mut StdRng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// One RNG per day and purpose, from the seed: a day's draws do not depend on how many
/// were made for the days before, and day 0's arrivals and task lengths are those a
/// single-day replay of the same seed draws.
fn rng_for(seed: u64, day: u32, purpose: u64) -> StdRng {
    if day == 0 && purpose == 0 {
        return StdRng::seed_from_u64(seed);
    }
    let mix = seed
        ^ u64::from(day)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03);
    StdRng::seed_from_u64(mix)
}

impl DayConfig {
    /// Read a config file; absent fields keep their defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Days replayed in all.
    pub fn total_days(&self) -> u32 {
        self.learning_days + self.measured_days
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.length_minutes == 0 || self.length_minutes > 24 * 60 {
            return Err(ConfigError(
                "lengthMinutes must be between 1 and 1440".into(),
            ));
        }
        if self.measured_days == 0 {
            return Err(ConfigError("measuredDays must be at least 1".into()));
        }
        for (name, r) in [
            ("taskMinutes", self.task_minutes),
            ("allocateSeconds", self.allocate_seconds),
            ("creatingSeconds", self.creating_seconds),
            ("startingSeconds", self.starting_seconds),
            ("leavingSeconds", self.leaving_seconds),
            ("triggerDelaySeconds", self.trigger_delay_seconds),
            (
                "activityTransitionSeconds",
                self.activity_transition_seconds,
            ),
            ("taskSubmissionSeconds", self.task_submission_seconds),
            ("functionColdStartSeconds", self.function_cold_start_seconds),
        ] {
            range(name, r)?;
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(self.upstream_jitter_seconds) || !non_negative(self.burst_minutes) {
            return Err(ConfigError(
                "upstreamJitterSeconds and burstMinutes must be 0 or more".into(),
            ));
        }
        if self.nodes_per_run[0] == 0 || self.nodes_per_run[0] > self.nodes_per_run[1] {
            return Err(ConfigError(
                "nodesPerRun must be [low, high] with 1 <= low <= high".into(),
            ));
        }
        if self.nodes_per_run[1] > self.max_nodes {
            return Err(ConfigError(format!(
                "nodesPerRun asks up to {} nodes, above maxNodes {}",
                self.nodes_per_run[1], self.max_nodes
            )));
        }
        if self.adf_poll_seconds == 0 || self.formula_interval_minutes < 5 {
            return Err(ConfigError(
                "adfPollSeconds must be at least 1 and formulaIntervalMinutes at least 5".into(),
            ));
        }
        Ok(())
    }

    /// The day's scheduled start times (before any jitter), from `rng`.
    fn times(
        &self,
        rng: &mut StdRng,
        at: &dyn Fn(Time) -> OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, ConfigError> {
        if !self.arrivals.is_empty() {
            return self
                .arrivals
                .iter()
                .map(|a| time_of_day(a).map(at))
                .collect();
        }
        let (lo, hi) = (
            at(time_of_day(&self.window[0])?),
            at(time_of_day(&self.window[1])?),
        );
        if hi <= lo {
            return Err(ConfigError("window must end after it starts".into()));
        }
        let span = (hi - lo).whole_seconds();
        if self.bursts == 0 {
            return Ok((0..self.runs)
                .map(|_| lo + time::Duration::seconds(rng.random_range(0..span)))
                .collect());
        }
        let width = (self.burst_minutes * 60.0).round() as i64;
        let starts: Vec<OffsetDateTime> = (0..self.bursts)
            .map(|_| lo + time::Duration::seconds(rng.random_range(0..span)))
            .collect();
        Ok((0..self.runs)
            .map(|i| {
                let start = starts[i as usize % starts.len()];
                start + time::Duration::seconds(rng.random_range(0..=width))
            })
            .collect())
    }

    /// Check the values and draw the runs of every day (seeded: one seed, one plan).
    pub fn plan(&self) -> Result<DayPlan, ConfigError> {
        self.check()?;
        let date = Date::parse(&self.date, format_description!("[year]-[month]-[day]"))
            .map_err(|_| ConfigError(format!("'{}' is not a date (YYYY-MM-DD)", self.date)))?;
        let first = date.with_time(time_of_day(&self.start)?).assume_utc();
        let length = time::Duration::minutes(self.length_minutes.into());
        let day_start = |d: u32| first + time::Duration::days(d.into());
        let total = self.total_days();
        // Recurring days: the times of day are drawn once, from day 0's generator.
        let recurring_times = if self.recurring {
            let at = |t: Time| date.with_time(t).assume_utc();
            Some(self.times(&mut rng_for(self.seed, 0, 0), &at)?)
        } else {
            None
        };
        let mut runs = Vec::new();
        for d in 0..total {
            let day = Day {
                index: d,
                date: date + time::Duration::days(d.into()),
                start: day_start(d),
                end: day_start(d) + length,
                several: total > 1,
            };
            runs.extend(self.day_runs(&day, recurring_times.as_deref())?);
        }
        Ok(DayPlan {
            config: self.clone(),
            start: first,
            measured_start: day_start(self.learning_days),
            end: day_start(total - 1) + length,
            runs,
        })
    }

    /// One day's runs, in arrival order: their scheduled times (this day's draw, or
    /// the recurring ones moved to this day), then each run's own draws.
    fn day_runs(
        &self,
        day: &Day,
        recurring_times: Option<&[OffsetDateTime]>,
    ) -> Result<Vec<Run>, ConfigError> {
        let at = |t: Time| day.date.with_time(t).assume_utc();
        let mut rng = rng_for(self.seed, day.index, 0);
        let mut scheduled = match recurring_times {
            Some(times) => {
                // The same times of day, on this day.
                let shift = time::Duration::days(day.index.into());
                times.iter().map(|t| *t + shift).collect()
            }
            None => self.times(&mut rng, &at)?,
        };
        scheduled.sort();
        // Task lengths from the day's own generator, after its times (as a single
        // day always drew them).
        let (lo, hi) = range("taskMinutes", self.task_minutes)?;
        let lengths: Vec<u32> = scheduled
            .iter()
            .map(|_| (draw(&mut rng, (lo, hi)) * 60.0).round() as u32)
            .collect();
        // Everything else from generators of its own.
        let mut extra = rng_for(self.seed, day.index, 1);
        let mut day_runs: Vec<Run> = Vec::new();
        for (i, (t, task_seconds)) in scheduled.into_iter().zip(lengths).enumerate() {
            day_runs.push(self.run(&mut extra, day, i, t, task_seconds)?);
        }
        day_runs.sort_by_key(|r| r.arrival);
        Ok(day_runs)
    }

    /// The `i`th run of `day`, scheduled at `t`: its delay, jitter, nodes and ADF's
    /// overheads drawn from `extra`, in that order (the order is part of the seed's
    /// meaning: the same seed gives the same day).
    fn run(
        &self,
        extra: &mut StdRng,
        day: &Day,
        i: usize,
        t: OffsetDateTime,
        task_seconds: u32,
    ) -> Result<Run, ConfigError> {
        let delay = draw(
            extra,
            range("triggerDelaySeconds", self.trigger_delay_seconds)?,
        );
        let jitter = if self.upstream_jitter_seconds > 0.0 {
            extra.random_range(-self.upstream_jitter_seconds..self.upstream_jitter_seconds)
        } else {
            0.0
        };
        let arrival = (t + time::Duration::seconds_f64(delay + jitter))
            .clamp(day.start, day.end - time::Duration::seconds(1));
        if t < day.start || t >= day.end {
            return Err(ConfigError(format!(
                "arrival {} is outside the replayed span",
                t.time()
            )));
        }
        let nodes = if self.nodes_per_run[1] > self.nodes_per_run[0] {
            extra.random_range(self.nodes_per_run[0]..=self.nodes_per_run[1])
        } else {
            self.nodes_per_run[0]
        };
        let overheads = self.overheads(extra)?;
        let id = if day.several {
            format!("d{}-run-{:02}", day.index + 1, i + 1)
        } else {
            format!("run-{:02}", i + 1)
        };
        Ok(Run {
            id,
            day: day.index,
            measured: day.index >= self.learning_days,
            arrival,
            task_seconds,
            nodes,
            overheads,
        })
    }

    /// What ADF adds around one run, drawn from `extra`: the task's submission, the
    /// four transitions, the two cold starts.
    fn overheads(&self, extra: &mut StdRng) -> Result<Overheads, ConfigError> {
        let transition = range(
            "activityTransitionSeconds",
            self.activity_transition_seconds,
        )?;
        let cold = range("functionColdStartSeconds", self.function_cold_start_seconds)?;
        Ok(Overheads {
            submission: draw(
                extra,
                range("taskSubmissionSeconds", self.task_submission_seconds)?,
            ),
            transitions: [
                draw(extra, transition),
                draw(extra, transition),
                draw(extra, transition),
                draw(extra, transition),
            ],
            cold_start: [draw(extra, cold), draw(extra, cold)],
        })
    }
}

/// One day of the plan, as its runs are drawn.
struct Day {
    /// Which day (0: the first, learning or not).
    index: u32,
    date: Date,
    /// Where its replayed span starts and ends: a run's arrival stays inside.
    start: OffsetDateTime,
    end: OffsetDateTime,
    /// Whether the plan has more than one day: then run ids say which day.
    several: bool,
}

#[cfg(test)]
mod tests;
