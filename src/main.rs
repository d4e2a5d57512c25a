//! `pool-resizer`: the custom handler, the local simulator, and the tools
//! around them. Thin: parse, set up logs, call the library.
//!
//! `dev` and `simulator` exist only with the `simulator` feature (default);
//! the Function App is built without it and serves the same handler.

use clap::{Parser, Subcommand};
#[cfg(feature = "simulator")]
use pool_resizer::dev;
use pool_resizer::resizer::Operation;
use pool_resizer::resizer::PollPolicy;
use pool_resizer::settings::Settings;
use pool_resizer::{cli, telemetry};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pool-resizer",
    version,
    about = "Hold Azure Batch nodes only while a pipeline needs them: an Azure Functions custom handler."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Functions custom handler on FUNCTIONS_CUSTOMHANDLER_PORT
    /// (what host.json starts). Settings come from the environment.
    Serve,
    /// The handler on :7071 against an embedded Batch simulator: try it with curl.
    #[cfg(feature = "simulator")]
    Dev(dev::DevArgs),
    /// Run the Azure Batch data-plane simulator (HTTPS on loopback).
    #[cfg(feature = "simulator")]
    Simulator(batch_simulator::SimulatorArgs),
    /// Replay a day of ADF pipelines once per strategy (pool-resizer, autoscale
    /// formulas, a 1-node floor) on the simulator; print and write what each costs.
    #[cfg(feature = "simulator")]
    SimulateDay(pool_resizer::simday::DayArgs),
    /// Replay every day type over many seeds and days in a row, once per strategy;
    /// print and write means and ranges (what docs/cost.md cites).
    #[cfg(feature = "simulator")]
    SimulateStudy(pool_resizer::simday::StudyArgs),
    /// Bring a pool to at least N ready nodes, directly against Batch, with
    /// live progress. Exit 0 done, 1 failed, 2 bad usage, 3 still converging.
    ScaleUp(cli::ScaleUpArgs),
    /// Bring a pool down to at most N nodes (running tasks finish first).
    ScaleDown(cli::ScaleDownArgs),
    /// Show the pool and its nodes by state.
    Status(cli::CommonArgs),
    /// Stop every route and timer from resizing the pool until `unpause`.
    Pause(cli::PauseArgs),
    /// Let routes and timers resize the pool again.
    Unpause(cli::CommonArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The handler runs on one thread: its work is waiting on Batch, a
    // Consumption instance has about one core, and skipping the worker pool
    // starts it ~3 ms sooner (median 4-6 ms instead of 7-8 ms to the first
    // answer) and holds less memory, at the same loopback throughput
    // (docs/benchmarks.md). The simulator and `dev` serve many clients at
    // once in tests, so they keep the multi-thread runtime.
    // The operator CLI, like the handler, only waits on Batch.
    let mut builder = match cli.command {
        Command::Serve
        | Command::ScaleUp(_)
        | Command::ScaleDown(_)
        | Command::Status(_)
        | Command::Pause(_)
        | Command::Unpause(_) => tokio::runtime::Builder::new_current_thread(),
        #[cfg(feature = "simulator")]
        Command::Dev(_) | Command::Simulator(_) => tokio::runtime::Builder::new_multi_thread(),
        // Its replays build runtimes of their own (paused clocks), one per strategy.
        #[cfg(feature = "simulator")]
        Command::SimulateDay(args) => {
            telemetry::init_quiet_logs();
            return report(pool_resizer::simday::run(&args));
        }
        #[cfg(feature = "simulator")]
        Command::SimulateStudy(args) => {
            telemetry::init_quiet_logs();
            return report(pool_resizer::simday::run_study(&args));
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve().await,
            #[cfg(feature = "simulator")]
            Command::Dev(args) => {
                telemetry::init_handler_logs();
                report(dev::run(args, telemetry::shutdown_token()).await)
            }
            #[cfg(feature = "simulator")]
            Command::Simulator(args) => {
                telemetry::init_stderr_logs();
                report(batch_simulator::run(args).await)
            }
            // Returned before the runtime was built.
            #[cfg(feature = "simulator")]
            Command::SimulateDay(_) | Command::SimulateStudy(_) => ExitCode::SUCCESS,
            Command::ScaleUp(args) => {
                let command = cli::Command::Scale(Operation::ScaleUp, args.into());
                cli::run(command, telemetry::shutdown_token()).await
            }
            Command::ScaleDown(args) => {
                let command = cli::Command::Scale(Operation::ScaleDown, args.into());
                cli::run(command, telemetry::shutdown_token()).await
            }
            Command::Status(args) => {
                cli::run(cli::Command::Status(args), telemetry::shutdown_token()).await
            }
            Command::Pause(args) => {
                cli::run(cli::Command::Pause(args), telemetry::shutdown_token()).await
            }
            Command::Unpause(args) => {
                cli::run(cli::Command::Unpause(args), telemetry::shutdown_token()).await
            }
        }
    })
}

async fn serve() -> ExitCode {
    telemetry::init_handler_logs();
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(e) => return report::<()>(Err(e)),
    };
    report(
        pool_resizer::app::run_handler(
            settings,
            PollPolicy::default(),
            telemetry::shutdown_token(),
        )
        .await,
    )
}

fn report<T>(result: Result<T, impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
