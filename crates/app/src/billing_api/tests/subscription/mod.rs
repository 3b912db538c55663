//! The subscription lifecycle routes.
mod change;
mod lifecycle;
