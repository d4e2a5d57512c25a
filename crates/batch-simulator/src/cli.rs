//! Command-line flags, shared by `batch-simulator` and `pool-resizer simulator`.
//!
//! [`SimulatorArgs`] is a `clap::Args` group rather than a whole parser, so a host
//! binary can mount it as a subcommand and the flags stay the same in both places.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{DEV_KEY, SimulatorConfig};
use crate::world::Timing;

/// Run the Azure Batch data-plane simulator (HTTPS on loopback).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "SIMULATOR_LISTEN")]
    pub listen: SocketAddr,
    /// Batch account name.
    #[arg(long, default_value = "devaccount")]
    pub account: String,
    /// Account key (base64) for Shared Key auth. Default: a fixed, public dev key.
    #[arg(long, default_value = DEV_KEY, hide_default_value = true)]
    pub key: String,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Create a ready pool with this id at start (repeatable): standard_a1_v2, Ubuntu,
    /// 0 nodes, steady, start task `/bin/bash -c "sleep 30"` (waitForSuccess).
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
    /// Dedicated core quota of the account.
    #[arg(long, default_value_t = 100)]
    pub dedicated_core_quota: u32,
    /// Low-priority/Spot core quota of the account.
    #[arg(long, default_value_t = 100)]
    pub low_priority_core_quota: u32,
    /// A pool's metadata above this many bytes (names and values) is refused
    /// with `MetadataTooLarge` (Batch documents no number: an assumption).
    #[arg(long, default_value_t = crate::config::METADATA_LIMIT_BYTES)]
    pub metadata_limit_bytes: usize,
    /// Write the generated CA certificate (PEM) to this file.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Seed for the deterministic jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifetime of issued access tokens, in real seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime_secs: u64,
    /// The event log keeps the newest this many events; older ones are dropped and counted.
    #[arg(long, default_value_t = crate::events::DEFAULT_EVENT_LOG_CAPACITY)]
    pub event_log_capacity: usize,
}

impl From<SimulatorArgs> for SimulatorConfig {
    fn from(a: SimulatorArgs) -> Self {
        Self {
            listen: a.listen,
            account: a.account,
            key: a.key,
            time_scale: a.time_scale,
            pools: a.pools,
            dedicated_core_quota: a.dedicated_core_quota,
            low_priority_core_quota: a.low_priority_core_quota,
            metadata_limit_bytes: a.metadata_limit_bytes,
            ca_file: a.ca_file,
            ca: None,
            seed: a.seed,
            token_lifetime: Duration::from_secs(a.token_lifetime_secs),
            timing: Timing::default(),
            frozen_clock: false,
            start_time: None,
            tick: Some(Duration::from_millis(50)),
            event_log_capacity: a.event_log_capacity,
        }
    }
}
