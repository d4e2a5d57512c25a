//! An Azure Batch data-plane simulator: an HTTPS loopback server that behaves like
//! `https://{account}.{region}.batch.azure.com` closely enough for pool-resizer's tests,
//! the local demo (`pool-resizer dev`) and the official Python SDK (`conformance/`).
//!
//! It is a crate of its own so the deployed handler never carries it, and so it cannot
//! borrow the client's types: its wire types are written against recorded service
//! bodies, and a wrong field in the client then shows up as a failing test instead of
//! being wrong on both ends.
//!
//! # How a request travels
//!
//! ```text
//! TCP -> TLS (tls) -> hyper -> http::serve (drops connections on request)
//!   /_simulator/...   http::control                       no auth, never faulted
//!   everything else   envelope -> faults -> body limit    http::layers
//!     /msi/token      http::identity                      (the managed-identity endpoint)
//!     Batch routes    api-version -> auth -> router        http::{pools, nodes, jobs}
//! ```
//!
//! Handlers lock the `world` (pools, nodes, jobs, tasks and the queue of
//! things that will happen to them), bring it to simulated now, act, and render.
//!
//! # Modules, one job each, dependencies pointing down
//!
//! | module | job |
//! |---|---|
//! | [`config`], [`cli`] | how to start one ([`SimulatorConfig`], `--flags`) |
//! | `http` | routes, layers, the TLS listener |
//! | `auth`, `token` | Shared Key verification; bearer tokens and their store |
//! | [`faults`] | fault injection (a handle shared by HTTP and Rust callers) |
//! | `world` | the state machine: agenda, pools, nodes, tasks, faults |
//! | `model` | the records the world keeps, and how they look on the wire |
//! | [`versions`] | the published api-versions and how each renders |
//! | [`autoscale`] | the autoscale formula language (parse, evaluate) |
//! | `wire`, `odata`, `errors` | JSON types, `$filter`/`$select`, Batch error bodies |
//! | `clock`, `command`, [`events`], `tls` | scaled time, what a command line does, the event log, certificates |
//!
//! # Use it in-process
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

mod auth;
mod autoscale;
mod cli;
mod clock;
mod command;
mod config;
mod errors;
mod events;
mod faults;
mod http;
mod model;
mod odata;
mod tls;
mod token;
mod versions;
mod wire;
mod world;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::{sign as sign_shared_key, string_to_sign};
pub use cli::SimulatorArgs;
pub use config::{DEV_KEY, SimulatorConfig};
pub use errors::{ErrorReply, SimulatorError};
pub use events::{Event, EventKind};
pub use faults::{FaultSpec, Faults};
pub use tls::CaPair;
pub use world::Timing;

/// The data-plane api-version the simulator documents and tests first (every version in
/// [`API_VERSIONS`] is served).
pub const API_VERSION: &str = http::API_VERSION;

/// Every published data-plane api-version, oldest first (see the `versions` module).
pub const API_VERSIONS: &[&str] = versions::PUBLISHED;

/// What the simulator prints as its one JSON line when ready.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyInfo {
    /// `https://127.0.0.1:PORT`
    pub endpoint: String,
    /// The account name to sign requests with.
    pub account: String,
    /// The account key, base64.
    pub key: String,
    /// Where the CA certificate was written, when asked to.
    pub ca_file: Option<String>,
    /// `https://127.0.0.1:PORT/msi/token`
    pub identity_endpoint: String,
    /// The `X-IDENTITY-HEADER` value the managed-identity endpoint expects.
    pub identity_header: String,
    /// `https://127.0.0.1:PORT/_simulator`
    pub control_endpoint: String,
    /// Simulated seconds per real second.
    pub time_scale: f64,
}

/// Writes `text` to `path` so that a reader sees the old file or the new one,
/// never half of it: a client reading the CA file while a simulator restarts.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

/// A running simulator.
pub struct Simulator {
    info: ReadyInfo,
    ca_pem: String,
    state: http::SimulatorState,
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
    let certs = tls::generate(config.ca.as_ref())?;
    let (listener, endpoint) = bind(config.listen).await?;
    if let Some(path) = &config.ca_file {
        write_whole(path, &certs.ca_pem).map_err(|source| SimulatorError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    let clock = match (config.frozen_clock, config.start_time) {
        (true, _) => clock::SimClock::frozen(),
        (false, Some(t)) => clock::SimClock::starting_at(t, config.time_scale),
        (false, None) => clock::SimClock::new(config.time_scale),
    };
    let world = Arc::new(Mutex::new(first_world(&config, &clock)?));
    let mut secret = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let identity_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let faults = Faults::new(world.clone(), clock.clone());
    let state: http::SimulatorState = Arc::new(http::Shared {
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
    let server = tokio::spawn(http::serve(
        listener,
        acceptor,
        http::router(state.clone()),
        shutdown_rx.clone(),
    ));
    let ticker = tokio::spawn(tick(state.clone(), config.tick, shutdown_rx));
    tracing::info!(endpoint = %info.endpoint, account = %info.account, time_scale = config.time_scale, "simulator ready");
    Ok(Simulator {
        info,
        ca_pem: certs.ca_pem,
        state,
        shutdown_tx,
        server,
        ticker,
    })
}

/// The listener, and the `https://` endpoint it answers on (the port the
/// OS chose when asked for 0).
async fn bind(listen: std::net::SocketAddr) -> Result<(TcpListener, String), SimulatorError> {
    let refused = |source| SimulatorError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(refused)?;
    let addr = listener.local_addr().map_err(refused)?;
    let host = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    Ok((listener, format!("https://{host}:{}", addr.port())))
}

/// The world at start: its configured pools already steady, brought to now.
fn first_world(
    config: &SimulatorConfig,
    clock: &clock::SimClock,
) -> Result<world::World, SimulatorError> {
    let mut world = world::World::new(
        world::WorldConfig {
            dedicated_core_quota: config.dedicated_core_quota,
            low_priority_core_quota: config.low_priority_core_quota,
            metadata_limit_bytes: config.metadata_limit_bytes,
            seed: config.seed,
            timing: config.timing.clone(),
        },
        // Pre-created pools are born an hour ago so they are steady by "now".
        clock.now() - time::Duration::hours(1),
    );
    world.keep_events(config.event_log_capacity);
    for id in &config.pools {
        world
            .create_pool(world::NewPool::default_ubuntu(id))
            .map_err(|e| SimulatorError::Config(format!("pool {id}: {}", e.message)))?;
    }
    world.advance_to(clock.now());
    Ok(world)
}

/// Advancing the world also happens before every answer; the ticker makes
/// the event log move while nobody asks, so a test reading it sees what
/// happened by now. Without a `tick`, it only waits for the shutdown.
async fn tick(
    state: http::SimulatorState,
    tick: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(tick) = tick else {
        let _ = shutdown.changed().await;
        return;
    };
    let mut iv = tokio::time::interval(tick);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = iv.tick() => { drop(state.lock_world()); }
            _ = shutdown.changed() => break,
        }
    }
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

    /// The event log: every event it still keeps (the newest
    /// [`SimulatorConfig::event_log_capacity`]).
    pub fn events(&self) -> Vec<Event> {
        self.events_since(0)
    }

    /// Kept events with `seq > since`.
    pub fn events_since(&self, since: u64) -> Vec<Event> {
        self.state.lock_world().events().since(since)
    }

    /// Events the log has dropped so far, the oldest first: `events()` starts at
    /// `seq == events_dropped() + 1`.
    pub fn events_dropped(&self) -> u64 {
        self.state.lock_world().events().dropped()
    }

    /// Fault injection (same as `POST /_simulator/faults`).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Simulated now.
    pub fn now(&self) -> time::OffsetDateTime {
        self.state.clock.now()
    }

    /// Move simulated time forward by `by` (on a frozen clock, the only way it moves).
    pub fn advance(&self, by: Duration) {
        self.state.clock.advance(by);
        drop(self.state.lock_world());
    }

    /// Make a pool's nodes (or one) older by `by`, as `POST /_simulator/age` does: their
    /// `allocationTime`, `lastBootTime`, `stateTransitionTime` and start task times move
    /// that far into the past. Returns the ids of the nodes aged.
    pub fn age_nodes(
        &self,
        pool: &str,
        node: Option<&str>,
        by: Duration,
    ) -> Result<Vec<String>, ErrorReply> {
        age_nodes(&self.state, pool, node, by)
    }

    /// Mint a token for any audience and lifetime (to test 401 paths).
    pub fn issue_token(&self, resource: &str, lifetime: Duration) -> String {
        self.state
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

/// Shared by [`Simulator::age_nodes`] and the control route.
pub(crate) fn age_nodes(
    state: &http::SimulatorState,
    pool: &str,
    node: Option<&str>,
    by: Duration,
) -> Result<Vec<String>, ErrorReply> {
    let by = time::Duration::try_from(by)
        .ok()
        .filter(|by| *by <= time::Duration::days(3650))
        .ok_or_else(|| {
            ErrorReply::invalid_property("seconds", by.as_secs().to_string(), "at most ten years")
        })?;
    state.lock_world().age_nodes(pool, node, by)
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
