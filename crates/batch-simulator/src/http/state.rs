//! What every handler and layer shares: the world, the clock, the account's secrets,
//! the token store and the fault rules.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::SimClock;
use crate::faults::Faults;
use crate::token::TokenStore;
use crate::world::World;

/// The router's state: cheap to clone into every request.
pub(crate) type SimulatorState = Arc<Shared>;

/// Everything the request pipeline needs, shared by all connections.
pub(crate) struct Shared {
    pub world: Arc<Mutex<World>>,
    pub clock: SimClock,
    pub account: String,
    /// The decoded account key.
    pub key: Vec<u8>,
    /// `https://127.0.0.1:PORT`, for `url`, `odata.metadata` and `Location` values.
    pub base_url: String,
    pub identity_header: String,
    pub tokens: TokenStore,
    pub token_lifetime: Duration,
    pub faults: Faults,
}

impl Shared {
    /// Lock the world and bring it to simulated now, so every answer shows the world as
    /// it is at the moment of asking. A poisoned lock is recovered: the world stays
    /// usable even if a handler panicked.
    pub(crate) fn lock_world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        w.advance_to(self.clock.now());
        w
    }
}
