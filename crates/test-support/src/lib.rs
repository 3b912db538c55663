//! Helpers for the functions' tests: fixtures, API Gateway requests of every shape, and taps on the local
//! AWS emulator's topic. Dev-dependency only.
pub mod aws;
pub mod clerk;
mod fake_process;
pub mod fixtures;
pub mod http;
pub mod jwt;
pub mod stripe;
