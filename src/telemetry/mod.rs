//! What operators see: log lines ([`logs`]), and metrics and one trace per
//! operation sent to Application Insights through OpenTelemetry.
//!
//! - [`settings`]: `APPLICATIONINSIGHTS_CONNECTION_STRING` (set by the
//!   platform; without it nothing is exported) and `TELEMETRY_CA_FILE`.
//! - [`export`]: the providers and their exporter, over our own HTTPS client;
//!   started by the handler, flushed within the server's shutdown bound.
//! - [`observe`]: the router's layer that turns each answer into one span and
//!   its metrics, from the JSON body every route already writes (so no
//!   handler carries telemetry code).
//! - [`metrics`]: the instruments, their names and attributes, and a local
//!   tally of the same numbers that `dev` prints.
//!
//! Never in the way: recording is a few atomic adds and one `try_send` into a
//! bounded queue; export runs on the SDK's own threads and drops what does
//! not fit; an answer never waits on it. Nothing secret goes in: attributes
//! are the operation, the pool id, status and error codes, counts, and the
//! host's invocation id (never a lease id, a key, a token or a query string).

pub mod export;
pub(crate) mod logs;
pub mod metrics;
pub(crate) mod observe;
pub(crate) mod settings;

pub use export::Telemetry;
pub(crate) use logs::escape;
pub use logs::{init_handler_logs, init_quiet_logs, init_stderr_logs, shutdown_token};
pub use metrics::{DIMENSIONS, METRICS, Tally};
