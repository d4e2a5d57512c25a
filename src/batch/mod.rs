//! The Batch client: REST calls, authentication and retries. Nothing here
//! knows about scale-up or Functions; the resizer drives it.
//!
//! - [`client`]: `BatchClient` over an `azure_core` pipeline.
//! - [`shared_key`]: the Shared Key signing policy.
//! - [`credential`]: which Entra credential to use where.
//! - [`transport`]: the rustls HTTPS client and extra trusted CAs.
//! - [`models`]: the wire shapes we read, lenient by design.
//! - [`pool_id`]: ids validated before they reach a URL.

pub mod client;
pub mod credential;
pub mod error;
pub mod models;
pub mod pool_id;
pub mod shared_key;
pub mod transport;

pub use client::{API_VERSION, BATCH_SCOPE, BatchAuth, BatchClient, BatchClientOptions};
pub use error::BatchError;
pub use pool_id::PoolId;
