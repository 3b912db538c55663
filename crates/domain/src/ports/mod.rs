//! The ports: one small trait per file, that the handlers depend on. Domain types in, domain types out; SDK
//! types stay inside the adapters.
mod clerk_users;
mod customer_directory;
mod dead_letters;
mod entitlement_reader;
mod entitlement_store;
mod errors;
mod event_log;
mod event_publisher;
mod stripe_billing;
mod stripe_customers;
mod stripe_reader;
mod stripe_subscriptions;
mod subscription_lifecycle;
pub mod usage;
mod usage_meter;
mod work_queue;

pub use crate::plans::CheckoutMode;
pub use clerk_users::{ClerkUsers, OrganizationMembers};
pub use customer_directory::{CustomerDirectory, CustomerLink};
pub use dead_letters::DeadLetters;
pub use entitlement_reader::EntitlementReader;
pub use entitlement_store::{
    lapse_shard, Appended, EntitlementHistory, EntitlementStore, LapseCursor, LapseKey, Lapsing,
    LapsingPage, LedgerEntry, SaveOutcome, StoredEntitlements, LAPSE_SHARDS,
};
pub use errors::{ClerkError, PublishError, StoreError, StripeError};
pub use event_log::{Claim, ClaimRequest, ClaimToken, EventLog};
pub use event_publisher::EventPublisher;
pub use stripe_billing::{CheckoutRequest, CheckoutSession, SeatLine, StripeBilling, Trial};
pub use stripe_customers::{CustomerProfile, StripeCustomers};
pub use stripe_reader::{LineItem, StripeReader};
pub use stripe_subscriptions::StripeSubscriptions;
pub use subscription_lifecycle::{
    CancelNow, InvoicePreview, ItemDetails, PeriodEndChange, PhaseItem, PhasePrice, PlanChange,
    PlanItemError, PreviewLine, Proration, ScheduledChange, SeatQuantity, StartPreview,
    SubscriptionDetails, SubscriptionLifecycle,
};
pub use usage_meter::{MeterEvent, Reported, UsageMeter};
pub use work_queue::WorkQueue;
