//! `batch-simulator`: the simulator on its own, for scripts and other languages'
//! SDKs (the same flags and ready line as `pool-resizer simulator`).
//!
//! ```sh
//! batch-simulator --pool p1 --time-scale 600 --ca-file ca.pem
//! ```

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "batch-simulator",
    version,
    about = "Run the Azure Batch data-plane simulator (HTTPS on loopback)."
)]
struct Cli {
    #[command(flatten)]
    args: batch_simulator::SimulatorArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // stdout carries the one ready line; logs go to stderr so scripts can read it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    // Many clients at once (tests, benchmarks): the multi-thread runtime.
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
    match runtime.block_on(batch_simulator::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
