//! `pool-resizer`: the custom handler, the local simulator, and the tools
//! around them. Thin: parse, set up logs, call the library.

use clap::{Parser, Subcommand};
use pool_resizer::resizer::PollPolicy;
use pool_resizer::settings::Settings;
use pool_resizer::telemetry;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pool-resizer",
    version,
    about = "Resizes Azure Batch pools on demand; an Azure Functions custom handler."
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve().await,
        }
    })
}

async fn serve() -> ExitCode {
    telemetry::init_handler_logs();
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match pool_resizer::app::run_handler(
        settings,
        PollPolicy::default(),
        telemetry::shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
