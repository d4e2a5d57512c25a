//! The records the world keeps, and how each looks on the wire.
//!
//! Plain data with a `to_wire` each: no scheduling, no locking. What changes them, and
//! when, is the business of `crate::world`; keeping the two apart lets the rendering be
//! compared with the recorded bodies on its own (`tests/integration/simulator_fixtures.rs`).

pub(crate) mod job;
pub(crate) mod node;
pub(crate) mod pool;

use std::collections::BTreeMap;

/// Pools by id, as Batch keeps them: case-preserving and case-insensitive. `P1` and `p1`
/// are one pool (creating `p1` beside `P1` is 409 `PoolExists`; `GET /pools/p1` finds it,
/// and it answers with its own id, `P1`), so the map is keyed by [`pool_key`] and each pool
/// keeps the id it was created with.
#[derive(Debug, Default)]
pub(crate) struct Pools(BTreeMap<String, pool::Pool>);

/// The key a pool id is known by, whatever its case.
pub(crate) fn pool_key(id: &str) -> String {
    id.to_ascii_lowercase()
}

impl Pools {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&pool::Pool> {
        self.0.get(&pool_key(id))
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut pool::Pool> {
        self.0.get_mut(&pool_key(id))
    }

    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.0.contains_key(&pool_key(id))
    }

    pub(crate) fn insert(&mut self, id: String, pool: pool::Pool) -> Option<pool::Pool> {
        self.0.insert(pool_key(&id), pool)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<pool::Pool> {
        self.0.remove(&pool_key(id))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &pool::Pool> {
        self.0.values()
    }
}

impl std::ops::Index<&str> for Pools {
    type Output = pool::Pool;

    fn index(&self, id: &str) -> &pool::Pool {
        self.get(id).unwrap_or_else(|| panic!("no pool '{id}'"))
    }
}

/// Jobs by id.
pub(crate) type Jobs = BTreeMap<String, job::Job>;
