//! `pool-resizer simulate-day`: a day (or days in a row) of ADF pipelines, replayed once
//! per way of sizing the pool, to measure what each costs (billed and idle node-minutes)
//! and what it makes pipelines wait (time from a pipeline's start to its work running).
//! `pool-resizer simulate-study`: the same over every day type and many seeds, with
//! means and ranges: the numbers docs/cost.md cites.
//!
//! The reason to run pool-resizer rather than an autoscale formula is money and waiting
//! time; this is where both are measured, on the simulator (whose autoscale evaluates
//! formulas as Batch does) with the real resizer code. It is also how a user tries their
//! own day (`--config`, their arrival times) before choosing a strategy: see
//! `docs/cost.md`.
//!
//! | file | job |
//! |---|---|
//! | [`config`] | the days: arrivals, nodes, task lengths, boot times, ADF's overheads (JSON, seeded) |
//! | [`presets`] | the named day types (sparse, busy, bursts, recurring...) |
//! | [`strategy`] | the strategies, a file per kind (pool-resizer's modes, formulas, schedules, floor); a new one is one `impl Strategy` and its row in `all` |
//! | [`replay`] | one strategy's days, on a paused clock against its own simulator |
//! | [`study`] | every day type x seed x strategy, summarized over the seeds |
//! | [`adf`] | the replay's own Batch calls (jobs, tasks, setup) |
//! | [`flight`] | calls that take no simulated time on the paused clock |
//! | [`metrics`] | the event log to numbers |
//! | [`report`] | tables, JSON, the Markdown pages |
//! | [`chart`] | the charts (plotters, SVG) |

pub(crate) mod adf;
pub mod chart;
pub mod config;
pub(crate) mod flight;
pub mod metrics;
pub mod presets;
pub(crate) mod replay;
pub mod report;
pub(crate) mod strategy;
pub mod study;

use std::path::PathBuf;

use config::DayConfig;
use report::{DayReport, StrategyReport};

#[derive(Debug, Clone, clap::Args)]
/// `simulate-day`'s flags; each overrides the config file's field.
pub struct DayArgs {
    /// A JSON day (see docs/cost.md); flags below override its fields.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Start from this named day type instead of the reference day (see simulate-study).
    #[arg(long)]
    pub(crate) day_type: Option<String>,
    /// Seed of the arrivals, the task lengths and the simulator's delays.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Number of random runs in the working-hours window (ignored with explicit arrivals).
    #[arg(long)]
    pub(crate) runs: Option<u32>,
    /// Days replayed before the measured ones.
    #[arg(long)]
    pub(crate) learning_days: Option<u32>,
    /// Days measured.
    #[arg(long)]
    pub(crate) measured_days: Option<u32>,
    /// Only these strategies (repeatable), by their names in the table.
    #[arg(long = "strategy")]
    pub(crate) strategies: Vec<String>,
    /// Write simulated-day.json, .md, .svg and -busy.svg here. The default
    /// keeps tracked files alone; the reference day in docs/ is rewritten
    /// with `--out docs`.
    #[arg(long, default_value = "target/simulated-day")]
    pub(crate) out: PathBuf,
    /// Print the table only; write no file.
    #[arg(long)]
    pub(crate) no_files: bool,
}

#[derive(Debug, thiserror::Error)]
/// Why a simulated day could not be replayed or written.
pub enum DayError {
    #[error(transparent)]
    /// The day config is invalid.
    Config(#[from] config::ConfigError),
    #[error("unknown strategy '{0}'; known: {1}")]
    /// A `--strategy` no one knows (the name, the known ones).
    UnknownStrategy(String, String),
    #[error("unknown day type '{0}'; known: {1}")]
    /// A `--day-type` no one knows (the name, the known ones).
    UnknownDayType(String, String),
    #[error(transparent)]
    /// The study could not run.
    Study(#[from] study::StudyError),
    #[error(transparent)]
    /// The replay against the simulator failed.
    Replay(#[from] replay::ReplayError),
    #[error("drawing the chart: {0}")]
    /// plotters could not draw a chart.
    Chart(#[from] chart::ChartError),
    #[error("writing {0}: {1}")]
    /// A result file could not be written.
    Write(PathBuf, std::io::Error),
    #[error("reading the study {0}: {1}")]
    /// `--redraw`'s study could not be read.
    Read(PathBuf, String),
}

impl DayArgs {
    /// The day these arguments describe.
    pub(crate) fn day(&self) -> Result<DayConfig, DayError> {
        let mut c = match (&self.config, &self.day_type) {
            (Some(path), _) => DayConfig::from_file(path)?,
            (None, Some(name)) => {
                presets::get(name)
                    .ok_or_else(|| {
                        DayError::UnknownDayType(name.clone(), presets::names().join(", "))
                    })?
                    .config
            }
            (None, None) => DayConfig::default(),
        };
        if let Some(days) = self.learning_days {
            c.learning_days = days;
        }
        if let Some(days) = self.measured_days {
            c.measured_days = days;
        }
        if let Some(seed) = self.seed {
            c.seed = seed;
        }
        if let Some(runs) = self.runs {
            c.runs = runs;
        }
        if !self.strategies.is_empty() {
            c.strategies = self.strategies.clone();
        }
        Ok(c)
    }
}

/// Replay `config` once per strategy (in parallel, each on a paused clock of its own).
pub fn simulate(config: &DayConfig) -> Result<DayReport, DayError> {
    let known = strategy::names();
    if let Some(bad) = config.strategies.iter().find(|s| !known.contains(s)) {
        return Err(DayError::UnknownStrategy(bad.clone(), known.join(", ")));
    }
    let plan = config.plan()?;
    let strategies = strategy::all(config);
    let results: Vec<Result<StrategyReport, replay::ReplayError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = strategies
            .iter()
            .map(|s| {
                let plan = &plan;
                scope.spawn(move || {
                    replay::replay(plan, s.as_ref()).map(|metrics| StrategyReport {
                        name: s.name().to_string(),
                        description: s.description(),
                        metrics,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(replay::ReplayError {
                        strategy: "?".into(),
                        message: "the replay panicked".into(),
                    })
                })
            })
            .collect()
    });
    Ok(DayReport {
        config: config.clone(),
        start: plan.measured_start,
        minutes: plan.measured_minutes(),
        runs: plan.measured_runs(),
        strategies: results.into_iter().collect::<Result<_, _>>()?,
    })
}

/// The command: replay, print the table, write the files.
pub fn run(args: &DayArgs) -> Result<(), DayError> {
    let config = args.day()?;
    let began = std::time::Instant::now();
    let report = simulate(&config)?;
    println!("{}", report::text_table(&report));
    println!(
        "{} measured runs, seed {}; replayed in {:.1} s",
        report.runs.len(),
        config.seed,
        began.elapsed().as_secs_f64()
    );
    if args.no_files {
        return Ok(());
    }
    let write = |name: &str, text: String| {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| DayError::Write(path.clone(), e))?;
        println!("wrote {}", path.display());
        Ok::<_, DayError>(())
    };
    std::fs::create_dir_all(&args.out).map_err(|e| DayError::Write(args.out.clone(), e))?;
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    write("simulated-day.json", json + "\n")?;
    write("simulated-day.svg", chart::day(&report)?)?;
    write("simulated-day-busy.svg", chart::busy_hours(&report)?)?;
    write(
        "simulated-day.md",
        report::markdown_page(&report, "simulated-day.svg", "simulated-day-busy.svg"),
    )?;
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
/// `simulate-study`'s flags.
pub struct StudyArgs {
    /// Only these day types (repeatable); all when none: sparse, busy, saturated, bursts,
    /// long, multi-node, recurring, no-scale-down.
    #[arg(long = "day-type")]
    pub(crate) day_types: Vec<String>,
    /// Seeds per day type: 1, 2, ... N.
    #[arg(long, default_value_t = 20)]
    pub(crate) seeds: u64,
    /// Days replayed before the measured ones (for strategies that learn: a
    /// forecast needs a rhythm seen on three days).
    #[arg(long, default_value_t = 3)]
    pub(crate) learning_days: u32,
    /// Days measured after them.
    #[arg(long, default_value_t = 2)]
    pub(crate) measured_days: u32,
    /// Only these strategies (repeatable), by their names in the tables.
    #[arg(long = "strategy")]
    pub(crate) strategies: Vec<String>,
    /// A node-hour's price, for the money columns. The default is an assumption:
    /// Standard_D2s_v3, Linux, pay-as-you-go, East US list price; set your own.
    #[arg(long, default_value_t = DEFAULT_PRICE_PER_HOUR)]
    pub(crate) price_per_hour: f64,
    /// Replays at once (default: the machine's cores).
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Write simulated-study.json, .md and one `simulated-study-<day type>.svg` per day type here
    /// (`--out docs` rewrites what docs/cost.md cites).
    #[arg(long, default_value = "target/study")]
    pub(crate) out: PathBuf,
    /// Print the headline only; write no file.
    #[arg(long)]
    pub(crate) no_files: bool,
    /// Also render the study's tables again into this doc, between its
    /// `<!-- study:KEY -->` and `<!-- /study:KEY -->` markers (`headline`, or a day type).
    #[arg(long)]
    pub(crate) update_doc: Option<PathBuf>,
    /// Replay nothing: read a study written before (its simulated-study.json) and
    /// write its files, and with --update-doc its tables, again: after a change to how
    /// they are drawn, the same figures in seconds.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["day_types", "seeds", "strategies", "jobs", "learning_days", "measured_days", "price_per_hour"])]
    pub(crate) redraw: Option<PathBuf>,
}

/// The study's default node-hour price (an assumption, see [`StudyArgs::price_per_hour`]).
pub const DEFAULT_PRICE_PER_HOUR: f64 = 0.096;

impl StudyArgs {
    /// The study these arguments describe.
    pub fn study(&self) -> Result<study::StudyConfig, DayError> {
        let day_types = if self.day_types.is_empty() {
            presets::all()
        } else {
            self.day_types
                .iter()
                .map(|name| {
                    presets::get(name).ok_or_else(|| {
                        DayError::UnknownDayType(name.clone(), presets::names().join(", "))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        if !(self.price_per_hour.is_finite() && self.price_per_hour >= 0.0) {
            return Err(DayError::Study(study::StudyError::Config(
                "--price-per-hour must be 0 or more".into(),
            )));
        }
        Ok(study::StudyConfig {
            day_types,
            seeds: (1..=self.seeds.max(1)).collect(),
            learning_days: self.learning_days,
            measured_days: self.measured_days,
            strategies: self.strategies.clone(),
            price_per_hour: self.price_per_hour,
            threads: self.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            }),
        })
    }
}

/// The file a day type's chart is written to.
pub fn study_chart_name(day_type: &str) -> String {
    format!("simulated-study-{day_type}.svg")
}

/// Write a study's JSON, page and charts into `out`; the paths written.
pub fn write_study(
    report: &study::StudyReport,
    out: &std::path::Path,
) -> Result<Vec<PathBuf>, DayError> {
    let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    write_study_as(report, &json, out)
}

/// [`write_study`] with the JSON as given: a redrawn study keeps the JSON it was read
/// from byte for byte (read back, a field added since would show its default, not
/// what the replays used).
fn write_study_as(
    report: &study::StudyReport,
    json: &str,
    out: &std::path::Path,
) -> Result<Vec<PathBuf>, DayError> {
    std::fs::create_dir_all(out).map_err(|e| DayError::Write(out.to_path_buf(), e))?;
    let mut written = Vec::new();
    let mut write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| DayError::Write(path.clone(), e))?;
        written.push(path);
        Ok::<_, DayError>(())
    };
    write("simulated-study.json", json.to_owned())?;
    write(
        "simulated-study.md",
        report::study_page(report, &study_chart_name),
    )?;
    for day in &report.day_types {
        write(&study_chart_name(&day.name), chart::study_day(day)?)?;
    }
    Ok(written)
}

/// The command: run the study, print the headline, write the files.
pub fn run_study(args: &StudyArgs) -> Result<(), DayError> {
    let (report, json) = match &args.redraw {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| DayError::Read(path.clone(), e.to_string()))?;
            let report = serde_json::from_str(&text)
                .map_err(|e| DayError::Read(path.clone(), e.to_string()))?;
            (report, text)
        }
        None => {
            let report = replay_study(args)?;
            let json = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
            (report, json)
        }
    };
    if args.no_files {
        return Ok(());
    }
    for path in write_study_as(&report, &json, &args.out)? {
        println!("wrote {}", path.display());
    }
    if let Some(doc) = &args.update_doc {
        let text = std::fs::read_to_string(doc).map_err(|e| DayError::Write(doc.clone(), e))?;
        let updated = report::update_doc(&text, &report).map_err(|e| {
            DayError::Study(study::StudyError::Config(format!("{}: {e}", doc.display())))
        })?;
        std::fs::write(doc, updated).map_err(|e| DayError::Write(doc.clone(), e))?;
        println!("updated the study's tables in {}", doc.display());
    }
    Ok(())
}

/// The study's replays, and its headline printed.
fn replay_study(args: &StudyArgs) -> Result<study::StudyReport, DayError> {
    let config = args.study()?;
    let began = std::time::Instant::now();
    let progress = |done: usize, all: usize| {
        if done.is_multiple_of(20) || done == all {
            eprintln!(
                "{done}/{all} replays, {:.0} s",
                began.elapsed().as_secs_f64()
            );
        }
    };
    let report = study::run(&config, &progress)?;
    println!("{}", report::study_headline(&report));
    println!(
        "{} day types x {} seeds x {} strategies, {}+{} days each; replayed in {:.1} s",
        report.day_types.len(),
        report.seeds.len(),
        report.day_types.first().map_or(0, |d| d.strategies.len()),
        report.learning_days,
        report.measured_days,
        began.elapsed().as_secs_f64()
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        day: DayArgs,
    }

    /// A newcomer trying `simulate-day` must not rewrite tracked files in docs/.
    #[test]
    fn files_go_to_target_unless_asked() {
        let default = Command::parse_from(["simulate-day"]).day;
        assert_eq!(default.out, PathBuf::from("target/simulated-day"));
        let asked = Command::parse_from(["simulate-day", "--out", "docs"]).day;
        assert_eq!(asked.out, PathBuf::from("docs"));
    }
}
