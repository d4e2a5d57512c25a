//! `pool-resizer simulate-day`: a day of ADF pipelines, replayed once per way of sizing
//! the pool, to measure what each costs (billed and idle node-minutes) and what it makes
//! pipelines wait (time from a pipeline's start to its task running).
//!
//! The reason to run pool-resizer rather than an autoscale formula is money and waiting
//! time; this is where both are measured, on the simulator (whose autoscale evaluates
//! formulas as Batch does) with the real resizer code. It is also how a user tries their
//! own day (`--config`, their arrival times) before choosing a strategy: see
//! `docs/cost.md`.
//!
//! | file | job |
//! |---|---|
//! | [`config`] | the day: arrivals, task lengths, boot times (JSON, seeded) |
//! | [`strategy`] | the strategies; a new one is one `impl Strategy` |
//! | [`replay`] | one strategy's day, on a paused clock against its own simulator |
//! | [`adf`] | the replay's own Batch calls (jobs, tasks, setup) |
//! | [`flight`] | calls that take no simulated time on the paused clock |
//! | [`metrics`] | the event log to numbers |
//! | [`report`] | table, JSON, the Markdown page |
//! | [`chart`] | the charts (plotters, SVG) |

pub(crate) mod adf;
pub mod chart;
pub mod config;
pub(crate) mod flight;
pub mod metrics;
pub(crate) mod replay;
pub mod report;
pub(crate) mod strategy;

use std::path::PathBuf;

use config::DayConfig;
use report::{DayReport, StrategyReport};

#[derive(Debug, Clone, clap::Args)]
/// `simulate-day`'s flags; each overrides the config file's field.
pub struct DayArgs {
    /// A JSON day (see docs/cost.md); flags below override its fields.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Seed of the arrivals, the task lengths and the simulator's delays.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Number of random runs in the working-hours window (ignored with explicit arrivals).
    #[arg(long)]
    pub(crate) runs: Option<u32>,
    /// Only these strategies (repeatable): "pool-resizer", "pending-tasks formula",
    /// "schedule formula 06-07", "schedule formula 08-18", "1-node floor".
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
    #[error(transparent)]
    /// The replay against the simulator failed.
    Replay(#[from] replay::ReplayError),
    #[error("drawing the chart: {0}")]
    /// plotters could not draw a chart.
    Chart(#[from] chart::ChartError),
    #[error("writing {0}: {1}")]
    /// A result file could not be written.
    Write(PathBuf, std::io::Error),
}

impl DayArgs {
    /// The day these arguments describe.
    pub(crate) fn day(&self) -> Result<DayConfig, DayError> {
        let mut c = match &self.config {
            Some(path) => DayConfig::from_file(path)?,
            None => DayConfig::default(),
        };
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
        start: plan.start,
        runs: plan.runs,
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
        "{} runs, seed {}; replayed in {:.1} s",
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
