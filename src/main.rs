//! `pool-resizer` command line. Thin: parse, set up logging (stderr), call the library.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pool-resizer",
    version,
    about = "Hold Azure Batch nodes only while a pipeline needs them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Azure Batch data-plane simulator (HTTPS on loopback).
    Simulator(pool_resizer::simulator::SimulatorArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Simulator(args) => pool_resizer::simulator::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "simulator failed");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
