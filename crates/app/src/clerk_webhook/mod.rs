//! The Clerk webhook function: verify (Svix), de-duplicate, keep the user's Stripe customer in sync, publish.
pub use entitle_core::clerk_events as clerk;

pub mod deps;
pub mod handler;
pub mod sync;
