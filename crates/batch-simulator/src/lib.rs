//! An Azure Batch data-plane simulator: an HTTPS loopback server that behaves like
//! `https://{account}.{region}.batch.azure.com` closely enough for pool-resizer's tests,
//! the local demo (`pool-resizer dev`) and the official Python SDK (`conformance/`).
//!
//! It is a crate of its own so the deployed handler never carries it, and so it cannot
//! borrow the client's types: its wire types are written against recorded service
//! bodies, and a wrong field in the client then shows up as a failing test instead of
//! being wrong on both ends.
//!
//! What is inside, one job per module:
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | `batch-simulator` / `pool-resizer simulator` flags |
//! | `server` | TLS listener, request pipeline (faults → auth → routes), common headers |
//! | `tls` | a fresh CA and loopback leaf certificate per run |
//! | `auth`, `token` | Shared Key verification, bearer tokens, managed-identity endpoint |
//! | `clock` | scaled simulated time; timestamp and ETag formats |
//! | `world` | the state machine: agenda (the event queue), pools, nodes, tasks, faults |
//! | `model`, `command` | the records the world keeps (and their wire rendering); what a command line does |
//! | `wire` | the simulator's own JSON types (never the client's) |
//! | `odata` | `$filter` / `$select` |
//! | `errors` | Batch error bodies |
//! | [`faults`], [`events`], `control` | fault injection, event log, `/_simulator` routes |
//!
//! Use it in-process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), batch_simulator::SimulatorError> {
//! use batch_simulator::{start, SimulatorConfig};
//! let sim = start(SimulatorConfig { time_scale: 600.0, pools: vec!["p1".into()], ..Default::default() }).await?;
//! println!("{}", sim.ready_info().endpoint);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! or as a process: `batch-simulator --pool p1 --time-scale 600 --ca-file ca.pem` (or
//! `pool-resizer simulator ...`) prints one JSON line ([`ReadyInfo`]) on stdout and
//! serves until Ctrl-C / SIGTERM.

mod api;
mod auth;
pub mod cli;
mod clock;
mod command;
mod control;
mod errors;
pub mod events;
pub mod faults;
mod model;
mod odata;
mod server;
mod tls;
mod token;
mod wire;
mod world;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::{sign as sign_shared_key, string_to_sign};
pub use cli::SimulatorArgs;
pub use errors::{ApiError, SimulatorError};
pub use events::{Event, EventKind};
pub use faults::{FaultSpec, Faults};
pub use world::Timing;

/// The fixed development key used when none is given (public; not a secret).
pub const DEV_KEY: &str =
    "cG9vbC1yZXNpemVyIHNpbXVsYXRvciBkZXZlbG9wbWVudCBrZXkgLSBub3QgYSBzZWNyZXQhIQ==";

/// Data-plane API version served.
pub const API_VERSION: &str = api::API_VERSION;

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub listen: SocketAddr,
    pub account: String,
    /// Account key, base64.
    pub key: String,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Ready pools created at start (Ubuntu, standard_a1_v2, 0 nodes).
    pub pools: Vec<String>,
    pub dedicated_core_quota: u32,
    pub low_priority_core_quota: u32,
    /// Also write the CA certificate (PEM) here.
    pub ca_file: Option<PathBuf>,
    pub seed: u64,
    /// Lifetime of issued access tokens (real time).
    pub token_lifetime: Duration,
    /// Delay ranges of the state machine (simulated seconds).
    pub timing: Timing,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            account: "devaccount".into(),
            key: DEV_KEY.into(),
            time_scale: 1.0,
            pools: Vec::new(),
            dedicated_core_quota: 100,
            low_priority_core_quota: 100,
            ca_file: None,
            seed: 1,
            token_lifetime: Duration::from_secs(3600),
            timing: Timing::default(),
        }
    }
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
            ca_file: a.ca_file,
            seed: a.seed,
            token_lifetime: Duration::from_secs(a.token_lifetime_secs),
            timing: Timing::default(),
        }
    }
}

/// What the simulator prints as its one JSON line when ready.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyInfo {
    /// `https://127.0.0.1:PORT`
    pub endpoint: String,
    pub account: String,
    pub key: String,
    pub ca_file: Option<String>,
    /// `https://127.0.0.1:PORT/msi/token`
    pub identity_endpoint: String,
    pub identity_header: String,
    /// `https://127.0.0.1:PORT/_simulator`
    pub control_endpoint: String,
    pub time_scale: f64,
}

/// A running simulator.
pub struct Simulator {
    info: ReadyInfo,
    ca_pem: String,
    shared: Arc<server::Shared>,
    shutdown_tx: watch::Sender<bool>,
    server: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("endpoint", &self.info.endpoint)
            .finish_non_exhaustive()
    }
}

/// Bind, generate certificates, start serving; returns once the listener is ready.
pub async fn start(config: SimulatorConfig) -> Result<Simulator, SimulatorError> {
    if !(config.time_scale.is_finite() && config.time_scale > 0.0) {
        return Err(SimulatorError::Config(
            "time scale must be a positive number".into(),
        ));
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(config.key.trim())
        .map_err(|e| SimulatorError::Key(e.to_string()))?;
    let certs = tls::generate()?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimulatorError::Bind {
                addr: config.listen,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind {
            addr: config.listen,
            source,
        })?;
    let host = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    let endpoint = format!("https://{host}:{}", addr.port());
    if let Some(path) = &config.ca_file {
        std::fs::write(path, &certs.ca_pem).map_err(|source| SimulatorError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }

    let clock = clock::SimClock::new(config.time_scale);
    let mut world = world::World::new(
        world::WorldConfig {
            dedicated_core_quota: config.dedicated_core_quota,
            low_priority_core_quota: config.low_priority_core_quota,
            seed: config.seed,
            timing: config.timing.clone(),
        },
        // Pre-created pools are born an hour ago so they are steady by "now".
        clock.now() - time::Duration::hours(1),
    );
    for id in &config.pools {
        world
            .create_pool(world::NewPool::default_ubuntu(id))
            .map_err(|e| SimulatorError::Config(format!("pool {id}: {}", e.message)))?;
    }
    world.advance_to(clock.now());
    let world = Arc::new(Mutex::new(world));

    let mut secret = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let identity_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let faults = Faults::new(world.clone(), clock.clone());
    let shared = Arc::new(server::Shared {
        world,
        clock,
        account: config.account.clone(),
        key,
        base_url: endpoint.clone(),
        identity_header: identity_header.clone(),
        tokens: token::TokenStore::default(),
        token_lifetime: config.token_lifetime,
        faults,
    });
    let info = ReadyInfo {
        endpoint: endpoint.clone(),
        account: config.account.clone(),
        key: config.key.clone(),
        ca_file: config.ca_file.as_ref().map(|p| p.display().to_string()),
        identity_endpoint: format!("{endpoint}/msi/token"),
        identity_header,
        control_endpoint: format!("{endpoint}/_simulator"),
        time_scale: config.time_scale,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(certs.server_config);
    let server = tokio::spawn(server::serve(
        listener,
        acceptor,
        shared.clone(),
        shutdown_rx.clone(),
    ));
    let ticker = {
        let shared = shared.clone();
        let mut rx = shutdown_rx;
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(50));
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = iv.tick() => { drop(shared.lock_world()); }
                    _ = rx.changed() => break,
                }
            }
        })
    };
    tracing::info!(endpoint = %info.endpoint, account = %info.account, time_scale = config.time_scale, "simulator ready");
    Ok(Simulator {
        info,
        ca_pem: certs.ca_pem,
        shared,
        shutdown_tx,
        server,
        ticker,
    })
}

impl Simulator {
    /// The same data as the JSON ready line.
    pub fn ready_info(&self) -> &ReadyInfo {
        &self.info
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The whole event log.
    pub fn events(&self) -> Vec<Event> {
        self.events_since(0)
    }

    /// Events with `seq > since`.
    pub fn events_since(&self, since: u64) -> Vec<Event> {
        self.shared.lock_world().events().since(since)
    }

    /// Fault injection (same as `POST /_simulator/faults`).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Simulated now.
    pub fn now(&self) -> time::OffsetDateTime {
        self.shared.clock.now()
    }

    /// Mint a token for any audience and lifetime (to test 401 paths).
    pub fn issue_token(&self, resource: &str, lifetime: Duration) -> String {
        self.shared
            .tokens
            .issue(resource, lifetime, None)
            .access_token
    }

    /// Stop serving; open connections get up to 2 s to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = self.server.await;
        let _ = self.ticker.await;
    }
}

/// Start, print [`ReadyInfo`] as one JSON line on stdout, serve until Ctrl-C / SIGTERM.
pub async fn run(args: SimulatorArgs) -> Result<(), SimulatorError> {
    let sim = start(args.into()).await?;
    let line = serde_json::to_string(sim.ready_info())
        .map_err(|e| SimulatorError::Config(e.to_string()))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
