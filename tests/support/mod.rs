//! Shared test support: the Functions host stand-in and `spawn_app()`.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod host;
pub mod schema;
