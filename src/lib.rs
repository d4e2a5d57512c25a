//! pool-resizer: hold Azure Batch nodes only while a pipeline needs them.
//!
//! Layers, each readable alone; doors open one way (functions -> resizer -> batch):
//! - [`functions`]: the Azure Functions custom-handler face: routes, host
//!   payloads, JSON responses, HTTP status mapping.
//! - [`resizer`]: the decision at the centre (`decide`: pool snapshot + want ->
//!   next step, pure) and the converge loop that drives it. No HTTP inside.
//! - [`batch`]: the Batch REST client over `azure_core`'s pipeline.
//! - [`simulator`]: a faithful local Batch service; shares no types with `batch`.
//! - [`schedule`]: NCRONTAB expressions and the business-hours window (pure).
//! - [`cli`]: `scale-up`/`scale-down`/`status` for operators, on the same
//!   resizer path as the triggers, with live progress.
//! - [`settings`], [`clock`], [`secret`]: typed configuration, scaled time,
//!   values that never print.

pub mod app;
pub mod batch;
pub mod cli;
pub mod clock;
pub mod dev;
pub mod functions;
pub mod resizer;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod simulator;
pub mod telemetry;
