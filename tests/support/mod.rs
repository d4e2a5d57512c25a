//! Shared test support: the Functions host stand-in and simulator helpers.
#![allow(dead_code, unused_imports)]

pub mod host;
