//! How a simulator is set up: the one value [`crate::start`] takes.
//!
//! Every field has a default, so a test names only what it cares about:
//!
//! ```
//! use batch_simulator::SimulatorConfig;
//! let config = SimulatorConfig { time_scale: 600.0, pools: vec!["p1".into()], ..Default::default() };
//! assert_eq!(config.account, "devaccount");
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::tls::CaPair;
use crate::world::Timing;

/// What [`SimulatorConfig::metadata_limit_bytes`] is unless set: Batch refuses
/// oversized pool metadata with `MetadataTooLarge` but documents no number, so
/// this is an assumption (names and values, UTF-8, added up); a test that
/// needs the refusal sets a small limit of its own.
pub(crate) const METADATA_LIMIT_BYTES: usize = 16 * 1024;

/// The fixed development key used when none is given (public; not a secret).
pub const DEV_KEY: &str =
    "cG9vbC1yZXNpemVyIHNpbXVsYXRvciBkZXZlbG9wbWVudCBrZXkgLSBub3QgYSBzZWNyZXQhIQ==";

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Where to listen; port 0 picks a free one (the ready line says which).
    pub listen: SocketAddr,
    /// The Batch account name the URLs and Shared Key use.
    pub account: String,
    /// Account key, base64.
    pub key: String,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Ready pools created at start (Ubuntu, standard_a1_v2, 0 nodes).
    pub pools: Vec<String>,
    /// Dedicated cores the account may hold; a resize past it fails allocation as Batch does.
    pub dedicated_core_quota: u32,
    /// Spot/low-priority cores the account may hold.
    pub low_priority_core_quota: u32,
    /// A pool's metadata (names and values, UTF-8 bytes, added up) above this
    /// is refused with 400 `MetadataTooLarge`, on create and on PATCH.
    pub metadata_limit_bytes: usize,
    /// Also write the CA certificate (PEM) here.
    pub ca_file: Option<PathBuf>,
    /// Sign the server certificate with this CA instead of a fresh one, so a
    /// CA file a client was given by an earlier start keeps working.
    pub ca: Option<CaPair>,
    /// Seeds the delays drawn from [`crate::Timing`], so a run can be replayed.
    pub seed: u64,
    /// Lifetime of issued access tokens (real time).
    pub token_lifetime: Duration,
    /// Delay ranges of the state machine (simulated seconds).
    pub timing: Timing,
    /// Simulated time stands still and moves only by [`crate::Simulator::advance`]
    /// (`time_scale` is then ignored): for replaying recorded traffic.
    pub frozen_clock: bool,
    /// The simulated clock's first reading; `None`: the wall clock's now. A replayed day
    /// sets it, so formulas reading `time()` see that day's hours.
    pub start_time: Option<time::OffsetDateTime>,
    /// How often (real time) the world is advanced while nobody asks, so the event log
    /// moves on its own; `None`: only requests advance it. A replay on a paused clock
    /// turns it off: every tick would be a stop on its way through the day.
    pub tick: Option<Duration>,
    /// The event log keeps the newest this many events and counts the ones it drops
    /// (`crate::events`); `usize::MAX` keeps them all, for a bounded run that needs them.
    pub event_log_capacity: usize,
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
            metadata_limit_bytes: METADATA_LIMIT_BYTES,
            ca_file: None,
            ca: None,
            seed: 1,
            token_lifetime: Duration::from_secs(3600),
            timing: Timing::default(),
            frozen_clock: false,
            start_time: None,
            tick: Some(Duration::from_millis(50)),
            event_log_capacity: crate::events::DEFAULT_EVENT_LOG_CAPACITY,
        }
    }
}
