//! The Batch client: REST calls, authentication and retries. Nothing here
//! knows about scale-up or Functions; the resizer drives it.
//!
//! - [`client`]: `BatchClient` over an `azure_core` pipeline.
//! - [`shared_key`]: the Shared Key signing policy.
//! - [`credential`]: which Entra credential to use where.
//! - [`crate::https`]: the rustls HTTPS client and extra trusted CAs (shared with the telemetry export).
//! - [`models`]: the wire shapes we read, lenient by design.
//! - [`pool_id`]: ids validated before they reach a URL.

pub(crate) mod client;
pub(crate) mod credential;
pub(crate) mod error;
pub(crate) mod models;
pub(crate) mod pool_id;
pub(crate) mod shared_key;

pub use client::BatchClient;
pub(crate) use client::{BatchAuth, BatchClientOptions};
pub(crate) use error::BatchError;
pub(crate) use pool_id::PoolId;
