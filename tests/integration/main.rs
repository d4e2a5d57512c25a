//! The integration tests, as one test binary (`cargo test --test integration`).
//!
//! One binary rather than one per file: the crate and its dependencies are
//! linked once instead of twenty times, and the modules share `helpers`
//! as an ordinary module tree. Every module below was a file of its own in
//! `tests/`; run one with `cargo test --test integration timers::`.
//!
//! All of them run in one process, so none may change what the process
//! shares: no `std::env::set_var`, no current-directory change, no global
//! tracing subscriber, no fixed port, no signal to this process. The handler
//! runs as a child process (`helpers::host::FunctionsHost`), so a SIGTERM
//! test signals that child, never the test binary; settings reach it through
//! the child's environment, never this one's.

mod helpers;

mod answers_under_failure;
mod beyond_resizing;
mod cli;
mod deploy_rules;
mod deploy_templates;
#[cfg(all(unix, feature = "simulator"))]
mod dev;
#[cfg(unix)]
mod doc_commands;
mod docs;
mod forecast;
mod forecast_pools;
mod functions_edge;
mod fuzz_http;
mod house;
mod leases;
mod package;
mod platform;
mod races;
mod reliability;
mod rhythm;
mod scenarios;
#[cfg(feature = "simulator")]
mod simulate_day;
mod simulator_api;
mod simulator_autoscale;
mod simulator_fixtures;
mod standalone;
mod status_urls;
mod telemetry;
mod timers;
