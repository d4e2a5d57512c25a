//! What the integration tests share:
//! - `app`: `spawn_app()` and `TestApp`, the simulator and the handler wired
//!   as in Azure, and the steps scenarios are told in;
//! - `host`: the Functions host stand-in that runs the handler binary;
//! - `schema`: the answer contract every answer is checked against;
//! - `batch`: a signed Batch client of the tests' own, for arranging the
//!   world behind the handler's back;
//! - `faults`: the simulator's faults, by what Batch does;
//! - `ingestion`: a loopback HTTPS stand-in of Application Insights' ingestion endpoint.

pub(crate) mod app;
pub(crate) mod batch;
pub(crate) mod faults;
pub(crate) mod host;
pub(crate) mod ingestion;
pub(crate) mod schema;
