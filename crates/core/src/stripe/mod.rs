//! Everything that speaks Stripe, in one place: the transport and its error rule ([`client`], on the
//! shared [`crate::adapters::http`] core), the one pager every list uses ([`client::StripeClient::list_all`]),
//! the views of Stripe's API answers ([`objects`]), the views of its webhook payloads and their
//! normalization into the domain's `BillingEvent` ([`events`]), webhook signatures ([`signature`]), and the
//! ports implemented on the client: reads ([`reader`]), Checkout and the portal ([`billing`]), subscription
//! changes and stops ([`lifecycle`], [`schedules`]), meter events ([`meter_events`]) and the catalog's
//! objects ([`catalog`]).
//!
//! Two families of views, on purpose: API answers are parsed with miniserde (only the fields named, no
//! generic code per type: most of a Stripe-calling function's binary was parsing), webhook payloads with
//! serde borrowing from the verified body (they accept every API version's layout: `subscription_details`
//! before 2025-03-31, `parent` after).
pub mod billing;
pub mod catalog;
pub mod client;
pub mod events;
pub mod lifecycle;
pub mod meter_events;
mod objects;
pub mod reader;
mod schedules;
pub mod signature;

pub use client::StripeClient;
