//! pool-resizer: hold Azure Batch nodes only while a pipeline needs them.
//!
//! Layers, each readable alone; doors open one way (functions -> resizer -> batch):
//! - [`functions`]: the Azure Functions custom-handler face: routes, host
//!   payloads, JSON responses, HTTP status mapping.
//! - [`service`]: what every face asks (scale, look, hold or release a lease),
//!   answered with one neutral report; [`report`] is its JSON body.
//! - [`resizer`]: the decision at the centre (`decide`: pool snapshot + want ->
//!   next step, pure) and the converge loop that drives it. No HTTP inside.
//! - [`batch`]: the Batch REST client over `azure_core`'s pipeline.
//! - [`https`]: the one HTTPS client builder (ring rustls, Mozilla's roots and
//!   an extra CA file) that the Batch client and the telemetry export share.
//! - `dev` (feature `simulator`, on by default): the handler against the
//!   local Batch simulator, which is its own crate (`batch_simulator`), so it
//!   cannot share types with [`batch`] and the deployed build leaves it out.
//! - `simday` (feature `simulator`): `simulate-day`, a day of pipelines
//!   replayed per strategy (pool-resizer, autoscale formulas, a floor).
//! - [`schedule`]: NCRONTAB expressions, the business-hours window and local-time
//!   windows with daylight saving (pure).
//! - [`cli`]: `scale-up`/`scale-down`/`status` for operators, on the same
//!   resizer path as the triggers, with live progress.
//! - [`telemetry`]: log set-up, and metrics and one span per request sent
//!   to Application Insights through OpenTelemetry (off without
//!   `APPLICATIONINSIGHTS_CONNECTION_STRING`), read from the answers at the
//!   router's edge.
//! - [`settings`], [`clock`]: typed configuration (secrets in
//!   `azure_core`'s `Secret`, which never prints), scaled time.

// pub(crate) by default: what is public is what the binaries and the tests
// use, and documented (missing_docs, unreachable_pub: [workspace.lints] in
// Cargo.toml). The module docs are for the crate's maintainers and link
// freely to private items (`cargo doc --document-private-items`).

pub mod app;
pub mod batch;
pub mod cli;
pub(crate) mod clock;
#[cfg(feature = "simulator")]
pub mod dev;
#[cfg(all(test, feature = "simulator"))]
mod docs_figures;
pub mod functions;
pub(crate) mod https;
pub(crate) mod report;
pub mod resizer;
pub mod schedule;
pub(crate) mod service;
pub mod settings;
#[cfg(feature = "simulator")]
pub mod simday;
pub mod telemetry;
