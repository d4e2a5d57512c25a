//! pool-resizer: hold Azure Batch nodes only while a pipeline needs them.
//!
//! Layers, each readable alone; doors open one way (functions -> resizer -> batch):
//! - [`functions`]: the Azure Functions custom-handler face: routes, host
//!   payloads, JSON responses, HTTP status mapping.
//! - [`resizer`]: the decision at the centre (`decide`: pool snapshot + want ->
//!   next step, pure) and the converge loop that drives it. No HTTP inside.
//! - [`batch`]: the Batch REST client over `azure_core`'s pipeline.
//! - `dev` (feature `simulator`, on by default): the handler against the
//!   local Batch simulator, which is its own crate (`batch_simulator`), so it
//!   cannot share types with [`batch`] and the deployed build leaves it out.
//! - `simday` (feature `simulator`): `simulate-day`, a day of pipelines
//!   replayed per strategy (pool-resizer, autoscale formulas, a floor).
//! - [`schedule`]: NCRONTAB expressions and the business-hours window (pure).
//! - [`cli`]: `scale-up`/`scale-down`/`status` for operators, on the same
//!   resizer path as the triggers, with live progress.
//! - [`settings`], [`clock`], [`secret`]: typed configuration, scaled time,
//!   values that never print.

pub mod app;
pub mod batch;
pub mod cli;
pub mod clock;
#[cfg(feature = "simulator")]
pub mod dev;
pub mod functions;
pub mod resizer;
pub mod schedule;
pub mod secret;
pub mod settings;
#[cfg(feature = "simulator")]
pub mod simday;
pub mod telemetry;
