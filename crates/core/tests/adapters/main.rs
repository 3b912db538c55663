//! The AWS adapters against the local AWS emulator (real SDK, the template's own resources).
mod event_log;
mod helpers;
mod publisher;
mod secrets;
