//! `pool-resizer simulate-study`: every day type, many seeds, days in a row, every
//! strategy; what each costs and what it makes pipelines wait, as mean and range over
//! the seeds.
//!
//! One replay is one (day type, seed, strategy): its own simulator on its own paused
//! clock, learning days then measured days. The replays are independent, so they run
//! on as many threads as asked; the results are gathered in a fixed order, so the same
//! seeds give the same report whatever the threads and the machine's load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::config::{DayConfig, DayPlan};
use super::metrics::Metrics;
use super::presets::DayType;
use super::replay::{self, ReplayError};
use super::strategy;

/// What to replay.
#[derive(Debug, Clone)]
pub struct StudyConfig {
    /// The day types, each with its config (seed, days and strategies are set per replay).
    pub day_types: Vec<DayType>,
    /// One replay per seed per day type per strategy.
    pub seeds: Vec<u64>,
    /// Days before the measured ones.
    pub learning_days: u32,
    /// Days measured.
    pub measured_days: u32,
    /// Only these strategies; empty: all.
    pub strategies: Vec<String>,
    /// A node-hour's price (pay-as-you-go), for the money columns.
    pub price_per_hour: f64,
    /// Replays at once.
    pub threads: usize,
}

/// A value over the seeds: its mean and its range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The mean over the seeds.
    pub mean: f64,
    /// The smallest seed's value.
    pub min: f64,
    /// The largest seed's value.
    pub max: f64,
}

impl Spread {
    /// `None` when there is nothing to describe.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        Some(Spread {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One seed's numbers for one strategy, per measured day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Node-minutes billed per measured day.
    pub billed: f64,
    /// ... of which idle.
    pub idle: f64,
    /// Mean seconds from a pipeline's start to its work running (`None`: none ran).
    pub mean_wait: Option<f64>,
    /// The 95th percentile of the same.
    pub p95_wait: Option<f64>,
    /// Measured pipelines whose work never ran.
    pub not_run: usize,
    /// Batch calls of the strategy per measured day.
    pub batch_calls: f64,
    /// Failed activities and timer firings (0 in a sound replay).
    pub failed: usize,
}

/// One strategy on one day type, over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategySummary {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Node-minutes billed per measured day.
    pub billed: Spread,
    /// The same in money, at the study's price.
    pub cost: Spread,
    /// Idle node-minutes per measured day.
    pub idle: Spread,
    /// Mean time to task (seconds), over the seeds' means.
    pub mean_wait: Option<Spread>,
    /// 95th percentile of time to task (seconds), over the seeds' own.
    pub p95_wait: Option<Spread>,
    /// Measured pipelines whose work never ran, over all seeds.
    pub not_run: usize,
    /// Measured pipelines, over all seeds.
    pub runs: usize,
    /// Batch calls of the strategy per measured day, mean over the seeds.
    pub batch_calls: f64,
    /// Failed activities and timer firings, over all seeds.
    pub failed: usize,
    /// Strategies better or as good on both billed and mean wait (means), better on one,
    /// that ran every pipeline's work.
    pub dominated_by: Vec<String>,
    /// Each seed's numbers.
    pub seeds: Vec<SeedResult>,
}

/// One day type over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayTypeReport {
    /// The day type's name.
    pub name: String,
    /// What kind of day it is.
    pub what: String,
    /// Its config (the first seed's; the others differ only in `seed`).
    pub config: DayConfig,
    /// Pipelines per measured day, mean over the seeds.
    pub runs_per_day: f64,
    /// One summary per strategy, in table order.
    pub strategies: Vec<StrategySummary>,
}

/// Everything one `simulate-study` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudyReport {
    /// The seeds replayed.
    pub seeds: Vec<u64>,
    /// Days before the measured ones.
    pub learning_days: u32,
    /// Days measured.
    pub measured_days: u32,
    /// The node-hour price used for the money columns.
    pub price_per_hour: f64,
    /// One report per day type.
    pub day_types: Vec<DayTypeReport>,
}

/// The strategies that have pool-resizer's own rows.
pub fn is_resizer(name: &str) -> bool {
    name.starts_with("pool-resizer")
}

/// The formulas that follow the tasks (not a fixed schedule, not the floor).
pub fn is_task_formula(name: &str) -> bool {
    !is_resizer(name) && !name.starts_with("schedule") && !name.contains("floor")
}

impl DayTypeReport {
    /// The strategy called `name`.
    pub fn strategy(&self, name: &str) -> Option<&StrategySummary> {
        self.strategies.iter().find(|s| s.name == name)
    }

    /// The task-following formula that billed least (mean) and ran every pipeline's work.
    pub fn cheapest_formula(&self) -> Option<&StrategySummary> {
        self.task_formulas()
            .min_by(|a, b| a.billed.mean.total_cmp(&b.billed.mean))
    }

    /// The task-following formula whose pipelines waited least (mean) and that ran every
    /// pipeline's work.
    pub fn fastest_formula(&self) -> Option<&StrategySummary> {
        self.task_formulas().min_by(|a, b| {
            let wait = |s: &StrategySummary| s.mean_wait.map_or(f64::INFINITY, |w| w.mean);
            wait(a).total_cmp(&wait(b))
        })
    }

    fn task_formulas(&self) -> impl Iterator<Item = &StrategySummary> {
        self.strategies
            .iter()
            .filter(|s| is_task_formula(&s.name) && s.not_run == 0)
    }
}

fn per_seed(seed: u64, m: &Metrics, days: f64) -> SeedResult {
    SeedResult {
        seed,
        billed: m.billed_node_minutes / days,
        idle: m.idle_node_minutes / days,
        mean_wait: m.time_to_task.map(|s| s.mean),
        p95_wait: m.time_to_task.map(|s| s.p95),
        not_run: m.tasks_not_run,
        batch_calls: m.batch_calls as f64 / days,
        failed: m.failed_activities,
    }
}

fn summarize(
    name: String,
    description: String,
    seeds: Vec<SeedResult>,
    runs: usize,
    price_per_hour: f64,
) -> StrategySummary {
    let column = |f: &dyn Fn(&SeedResult) -> f64| -> Vec<f64> { seeds.iter().map(f).collect() };
    let some = |f: &dyn Fn(&SeedResult) -> Option<f64>| -> Vec<f64> {
        seeds.iter().filter_map(f).collect()
    };
    let zero = Spread {
        mean: 0.0,
        min: 0.0,
        max: 0.0,
    };
    let billed = Spread::of(&column(&|s| s.billed)).unwrap_or(zero);
    let money = |v: f64| v / 60.0 * price_per_hour;
    StrategySummary {
        name,
        description,
        billed,
        cost: Spread {
            mean: money(billed.mean),
            min: money(billed.min),
            max: money(billed.max),
        },
        idle: Spread::of(&column(&|s| s.idle)).unwrap_or(zero),
        mean_wait: Spread::of(&some(&|s| s.mean_wait)),
        p95_wait: Spread::of(&some(&|s| s.p95_wait)),
        not_run: seeds.iter().map(|s| s.not_run).sum(),
        runs,
        batch_calls: column(&|s| s.batch_calls).iter().sum::<f64>() / seeds.len().max(1) as f64,
        failed: seeds.iter().map(|s| s.failed).sum(),
        dominated_by: Vec::new(),
        seeds,
    }
}

/// Fill in who dominates whom on (billed, mean wait).
fn dominance(strategies: &mut [StrategySummary]) {
    let points: Vec<(String, f64, Option<f64>, bool)> = strategies
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.billed.mean,
                s.mean_wait.map(|w| w.mean),
                s.not_run == 0,
            )
        })
        .collect();
    for s in strategies.iter_mut() {
        let (Some(wait), billed) = (s.mean_wait.map(|w| w.mean), s.billed.mean) else {
            continue;
        };
        s.dominated_by = points
            .iter()
            .filter(|(name, b, w, complete)| {
                *name != s.name
                    && *complete
                    && w.is_some_and(|w| *b <= billed && w <= wait && (*b < billed || w < wait))
            })
            .map(|(name, ..)| name.clone())
            .collect();
    }
}

/// The config of one replay: the day type's, with the study's seed, days and strategies.
pub fn replay_config(study: &StudyConfig, day: &DayType, seed: u64) -> DayConfig {
    DayConfig {
        seed,
        learning_days: study.learning_days,
        measured_days: study.measured_days,
        strategies: study.strategies.clone(),
        ..day.config.clone()
    }
}

/// Run the study: every (day type, seed, strategy), `threads` at a time.
pub fn run(
    study: &StudyConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<StudyReport, StudyError> {
    check(study)?;
    let plans = plans(study)?;
    let metrics = replay_all(&plans, study.threads, progress);
    let gathered = gather(&plans, metrics)?;
    let day_types = study
        .day_types
        .iter()
        .zip(gathered)
        .map(|(day, gathered)| day_type_report(study, day, gathered))
        .collect();
    Ok(StudyReport {
        seeds: study.seeds.clone(),
        learning_days: study.learning_days,
        measured_days: study.measured_days,
        price_per_hour: study.price_per_hour,
        day_types,
    })
}

/// Refuse a study that cannot run, before any replay: an unknown strategy, no seed.
fn check(study: &StudyConfig) -> Result<(), StudyError> {
    let known = strategy::names();
    if let Some(bad) = study.strategies.iter().find(|s| !known.contains(s)) {
        return Err(StudyError::UnknownStrategy(bad.clone(), known.join(", ")));
    }
    if study.seeds.is_empty() {
        return Err(StudyError::Config("at least one seed".into()));
    }
    Ok(())
}

/// One (day type, seed) of the study, its runs drawn.
struct Planned {
    /// Which day type: its index in the study.
    day: usize,
    seed: u64,
    plan: DayPlan,
}

/// Every (day type, seed) in report order, each drawn once: a bad day type fails the
/// study before anything is replayed.
fn plans(study: &StudyConfig) -> Result<Vec<Planned>, StudyError> {
    let mut plans = Vec::new();
    for (d, day) in study.day_types.iter().enumerate() {
        for &seed in &study.seeds {
            let config = replay_config(study, day, seed);
            let plan = config
                .plan()
                .map_err(|e| StudyError::Config(format!("{}: {e}", day.name)))?;
            plans.push(Planned { day: d, seed, plan });
        }
    }
    Ok(plans)
}

/// Replay every (plan, strategy) on `threads` threads, reporting each one done to
/// `progress`; the results come back in job order (plans in order, strategies in table
/// order), whichever thread ran them.
fn replay_all(
    plans: &[Planned],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<Metrics, ReplayError>> {
    let jobs: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(p, planned)| {
            (0..strategy::all(&planned.plan.config).len()).map(move |s| (p, s))
        })
        .collect();
    let results: Vec<Mutex<Option<Result<Metrics, ReplayError>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(p, s)) = jobs.get(i) else { break };
                    let plan = &plans[p].plan;
                    let strategies = strategy::all(&plan.config);
                    let result = replay::replay(plan, strategies[s].as_ref());
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, jobs.len());
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(ReplayError {
                    strategy: "?".into(),
                    message: "the replay panicked".into(),
                })
            })
        })
        .collect()
}

/// One day type's results, gathered from its seeds' replays.
struct Gathered {
    /// Per strategy (table order), each seed's numbers.
    per_strategy: Vec<Vec<SeedResult>>,
    /// Per seed, how many runs it measured.
    runs: Vec<usize>,
}

/// The replays' metrics (in job order) per day type and strategy; the first failed
/// replay fails the study.
fn gather(
    plans: &[Planned],
    metrics: Vec<Result<Metrics, ReplayError>>,
) -> Result<Vec<Gathered>, StudyError> {
    let mut metrics = metrics.into_iter();
    let mut per_day: Vec<Gathered> = Vec::new();
    for Planned { day: d, seed, plan } in plans {
        let n = strategy::all(&plan.config).len();
        if per_day.len() <= *d {
            per_day.push(Gathered {
                per_strategy: vec![Vec::new(); n],
                runs: Vec::new(),
            });
        }
        per_day[*d].runs.push(plan.measured_runs().len());
        let days = f64::from(plan.config.measured_days);
        for results in per_day[*d].per_strategy.iter_mut().take(n) {
            let m = metrics
                .next()
                .ok_or_else(|| StudyError::Config("lost a replay".into()))??;
            results.push(per_seed(*seed, &m, days));
        }
    }
    Ok(per_day)
}

/// One day type's report: each strategy summarized over the seeds, who dominates whom.
fn day_type_report(study: &StudyConfig, day: &DayType, gathered: Gathered) -> DayTypeReport {
    let config = replay_config(study, day, study.seeds[0]);
    let names = strategy::all(&config);
    let total_runs: usize = gathered.runs.iter().sum();
    let mut strategies: Vec<StrategySummary> = names
        .iter()
        .zip(gathered.per_strategy)
        .map(|(s, seeds)| {
            summarize(
                s.name().to_string(),
                s.description(),
                seeds,
                total_runs,
                study.price_per_hour,
            )
        })
        .collect();
    dominance(&mut strategies);
    DayTypeReport {
        name: day.name.to_string(),
        what: day.what.to_string(),
        config,
        runs_per_day: total_runs as f64
            / (gathered.runs.len().max(1) as f64 * f64::from(study.measured_days)),
        strategies,
    }
}

#[derive(Debug, thiserror::Error)]
/// Why a study could not run.
pub enum StudyError {
    #[error("{0}")]
    /// The study or a day type is invalid.
    Config(String),
    #[error("unknown strategy '{0}'; known: {1}")]
    /// A `--strategy` no one knows (the name, the known ones).
    UnknownStrategy(String, String),
    #[error(transparent)]
    /// A replay failed.
    Replay(#[from] ReplayError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, billed: f64, wait: f64, not_run: usize) -> StrategySummary {
        let seed = SeedResult {
            seed: 1,
            billed,
            idle: 0.0,
            mean_wait: Some(wait),
            p95_wait: Some(wait),
            not_run,
            batch_calls: 1.0,
            failed: 0,
        };
        summarize(name.into(), String::new(), vec![seed], 1, 0.06)
    }

    #[test]
    fn spreads_money_and_dominance() {
        assert_eq!(
            Spread::of(&[1.0, 3.0, 2.0]),
            Some(Spread {
                mean: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Spread::of(&[]), None);
        let mut s = vec![
            summary("pool-resizer", 100.0, 300.0, 0),
            summary("active-tasks formula", 90.0, 300.0, 0),
            summary("schedule formula 06-07", 10.0, 10.0, 5),
            summary("1-node floor", 1440.0, 10.0, 0),
        ];
        assert!((s[0].cost.mean - 0.1).abs() < 1e-12);
        dominance(&mut s);
        assert_eq!(s[0].dominated_by, vec!["active-tasks formula"]);
        assert!(
            s[1].dominated_by.is_empty(),
            "a schedule that ran nothing dominates no one"
        );
        assert!(s[3].dominated_by.is_empty());
        assert!(is_task_formula("Microsoft pending-tasks example"));
        assert!(!is_task_formula("schedule formula 08-18"));
        assert!(!is_task_formula("pool-resizer keep-warm"));
    }
}
