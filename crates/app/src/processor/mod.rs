//! The entitlement processor's use cases: a queue message applied ([`run::run`]: a billing event, or the
//! processor's own work), the hourly sweep, a reconcile (one user, or a fan-out of all), overage reported to
//! Stripe's meter, and the Clerk mirror + `entitlements.changed` after each change.
//!
//! Layers, each using only those below it: `handler` (the Lambda invocation: SQS batches, the sweep and
//! reconcile events, partial batch responses) → `run` → `apply` / `maintenance` → `sync`, `credits`, `overage`, `seats`,
//! `publish` → `failure`, `deps`.
pub mod apply;
pub mod credits;
pub mod deps;
pub mod failure;
pub mod handler;
pub mod history;
pub mod maintenance;
pub mod overage;
pub mod publish;
pub mod run;
pub mod seats;
pub mod sync;

pub use deps::Deps;
pub use failure::Failure;
