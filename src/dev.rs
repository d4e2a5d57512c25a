//! `pool-resizer dev`: the handler and an embedded Batch simulator in one
//! process, so a newcomer can try every endpoint with curl and no Azure account.
//!
//! The simulator runs `time_scale` times faster than the wall clock and the
//! handler's clock is scaled to match, so a node's four-minute boot takes a
//! few seconds and the 200-second inline wait keeps its proportion to it.

use crate::resizer::PollPolicy;
use crate::settings::Settings;
use batch_simulator::{self as simulator, SimulatorConfig};
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Where the handler listens (`func start` uses 7071).
    #[arg(long, default_value = "127.0.0.1:7071")]
    pub listen: SocketAddr,
    /// Pools the simulator starts with (ready, 0 nodes).
    #[arg(long = "pool", default_values = ["adf-pool"])]
    pub pools: Vec<String>,
    /// Simulated seconds per real second, for the simulator and the handler's waits.
    #[arg(long, default_value_t = 60.0)]
    pub time_scale: f64,
    /// Dedicated-core quota of the simulated account (Standard_A1_v2 = 1 core).
    #[arg(long, default_value_t = 20)]
    pub dedicated_core_quota: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Simulator(#[from] simulator::SimulatorError),
    #[error(transparent)]
    Startup(#[from] crate::app::StartupError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

pub async fn run(
    args: DevArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DevError> {
    let ca_file =
        std::env::temp_dir().join(format!("pool-resizer-dev-ca-{}.pem", std::process::id()));
    let sim = simulator::start(SimulatorConfig {
        time_scale: args.time_scale,
        pools: args.pools.clone(),
        dedicated_core_quota: args.dedicated_core_quota,
        ca_file: Some(ca_file.clone()),
        ..SimulatorConfig::default()
    })
    .await?;
    let info = sim.ready_info().clone();
    let values = HashMap::from([
        ("BATCH_ACCOUNT_URL", info.endpoint.clone()),
        ("BATCH_POOL_ID", args.pools[0].clone()),
        ("BATCH_ACCOUNT_NAME", info.account.clone()),
        ("BATCH_ACCOUNT_KEY", info.key.clone()),
        ("BATCH_CA_FILE", ca_file.display().to_string()),
        ("POOL_RESIZER_TIME_SCALE", args.time_scale.to_string()),
        ("ALLOWED_POOLS", args.pools.join(",")),
    ]);
    let settings = Settings::from_env(|name| values.get(name).cloned())
        .map_err(crate::app::StartupError::from)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| DevError::Listen(args.listen, e))?;
    let address = listener
        .local_addr()
        .map_err(|e| DevError::Listen(args.listen, e))?;
    print_welcome(address, &info, &args);
    let result =
        crate::app::serve_handler(listener, settings, PollPolicy::default(), shutdown).await;
    sim.shutdown().await;
    let _ = std::fs::remove_file(&ca_file);
    Ok(result?)
}

fn print_welcome(address: SocketAddr, info: &simulator::ReadyInfo, args: &DevArgs) {
    let base = format!("http://{address}/api");
    let pool = &args.pools[0];
    println!(
        "pool-resizer dev: handler on http://{address}, simulated Batch account '{}' at {} \
         (time x{}, pools: {})",
        info.account,
        info.endpoint,
        args.time_scale,
        args.pools.join(", ")
    );
    println!(
        "Try (function keys are not checked locally; in Azure add ?code=<key> or -H 'x-functions-key: <key>'):"
    );
    println!(
        "  curl -s -X POST {base}/scale-up -d '{{\"poolId\":\"{pool}\",\"dedicatedNodes\":1}}'"
    );
    println!("  curl -s '{base}/pool-status?poolId={pool}'");
    println!("  curl -s '{base}/pool-status?poolId={pool}&operation=scale-up&dedicatedNodes=1'");
    println!("  curl -s -X POST {base}/scale-down -d '{{\"poolId\":\"{pool}\"}}'");
    println!("Stop with Ctrl-C.");
}
