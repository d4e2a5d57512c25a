//! The records the world keeps, and how each looks on the wire.
//!
//! Plain data with a `to_wire` each: no scheduling, no locking. What changes them, and
//! when, is the business of `crate::world`; keeping the two apart lets the rendering be
//! compared with the recorded bodies on its own (`tests/integration/simulator_fixtures.rs`).

pub mod job;
pub mod node;
pub mod pool;

use std::collections::BTreeMap;

/// Pools by id; sorted, because list answers page through them in id order.
pub type Pools = BTreeMap<String, pool::Pool>;

/// Jobs by id.
pub type Jobs = BTreeMap<String, job::Job>;
