//! The ports: small traits the handlers depend on. Domain types in, domain types out; SDK types stay
//! inside the adapters.
use crate::event::BillingEvent;
use crate::time::UnixTime;
use async_trait::async_trait;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("publishing {event_id} failed")]
pub struct PublishError {
    pub event_id: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What to record when claiming a webhook delivery.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// Namespaced id, e.g. `stripe#evt_…` or `clerk#msg_…`.
    pub key: &'a str,
    pub event_type: &'a str,
    /// The verified raw payload, kept with the record as an audit trail.
    pub payload: &'a str,
    pub now: UnixTime,
    /// How long the claim holds before another delivery may take it over.
    pub lease: Duration,
}

/// Proves that this caller holds a claim; completing or releasing needs it, so a caller whose lease ran
/// out cannot undo a newer claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller now owns the event until the lease ends.
    Claimed(ClaimToken),
    /// The event was processed before.
    Duplicate,
    /// Another delivery holds a live claim.
    InProgress,
}

#[async_trait]
pub trait EventLog: Send + Sync {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError>;
    /// Marks the event processed; the record then lives for the retention period.
    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Gives the claim up so a retry can process the event.
    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError>;
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError>;
}

/// What Entitle keeps in sync on a user's Stripe customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomerProfile {
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Network failure, timeout, 5xx, 429, or an idempotent request still in flight (409): retry later.
    #[error("Stripe is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 4xx retrying cannot fix.
    #[error("Stripe rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl StripeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StripeError::Unavailable(_))
    }
}

/// Stripe customers. Every write carries an idempotency key.
#[async_trait]
pub trait StripeCustomers: Send + Sync {
    /// `POST /v1/customers` with only `metadata[clerkUserId]`, so every retry under the same key sends the
    /// same parameters (Stripe rejects a reused key with different ones).
    async fn create_customer(
        &self,
        user: &crate::ids::UserId,
        idempotency_key: &str,
    ) -> Result<crate::ids::StripeCustomerId, StripeError>;

    /// `POST /v1/customers/{id}` with the profile's email and name (a `None` field is left unchanged).
    async fn update_customer(
        &self,
        customer: &crate::ids::StripeCustomerId,
        profile: &CustomerProfile,
        idempotency_key: &str,
    ) -> Result<(), StripeError>;
}

/// Stripe subscriptions, as far as the webhooks need them.
#[async_trait]
pub trait StripeSubscriptions: Send + Sync {
    /// Ids of the customer's subscriptions that can still charge (not `canceled` / `incomplete_expired`).
    async fn chargeable_subscriptions(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Vec<String>, StripeError>;

    /// `at_period_end`: `POST /v1/subscriptions/{id}` `cancel_at_period_end=true`; else
    /// `DELETE /v1/subscriptions/{id}`.
    async fn cancel_subscription(
        &self,
        subscription_id: &str,
        at_period_end: bool,
        idempotency_key: &str,
    ) -> Result<(), StripeError>;
}

/// A user's row in the customers table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub user: crate::ids::UserId,
    /// `None` while a creation is in flight.
    pub customer: Option<crate::ids::StripeCustomerId>,
    /// What was last written to the Stripe customer.
    pub profile: CustomerProfile,
    pub deleted: bool,
}

/// The customers table: one Stripe customer per Clerk user.
#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    async fn get(&self, user: &crate::ids::UserId) -> Result<Option<CustomerLink>, StoreError>;
    /// Claims the right to create the user's customer: `true` for the one caller that may call Stripe;
    /// `false` when the row exists (linked, deleted, or another caller's live claim).
    async fn claim_creation(
        &self,
        user: &crate::ids::UserId,
        now: UnixTime,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives up a creation claim that produced no customer.
    async fn release_creation(&self, user: &crate::ids::UserId) -> Result<(), StoreError>;
    async fn link(
        &self,
        user: &crate::ids::UserId,
        customer: &crate::ids::StripeCustomerId,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    async fn save_profile(
        &self,
        user: &crate::ids::UserId,
        profile: &CustomerProfile,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Keeps the row (and the Stripe customer's history) but marks the user deleted; creates a tombstone
    /// when there is no row, so a late `user.created` cannot create a customer afterwards.
    async fn mark_deleted(
        &self,
        user: &crate::ids::UserId,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    async fn user_for_customer(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<crate::ids::UserId>, StoreError>;
    /// Every user with a row (for a full reconcile).
    async fn all_users(&self) -> Result<Vec<crate::ids::UserId>, StoreError>;
}

/// Reads a user's stored entitlements.
#[async_trait]
pub trait EntitlementReader: Send + Sync {
    async fn get(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<crate::entitlements::Entitlements>, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Subscription,
    Payment,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMode::Subscription => "subscription",
            CheckoutMode::Payment => "payment",
        }
    }
}

/// A Stripe Checkout session to create for a signed-in user.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub user: &'a crate::ids::UserId,
    pub customer: &'a crate::ids::StripeCustomerId,
    pub mode: CheckoutMode,
    pub price_id: &'a str,
    pub quantity: u32,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub allow_promotion_codes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// The Stripe calls behind billing-api.
#[async_trait]
pub trait StripeBilling: Send + Sync {
    /// The price id behind a lookup key, `None` when Stripe has no such active price.
    async fn price_for_lookup_key(&self, lookup_key: &str) -> Result<Option<String>, StripeError>;
    /// A subscription of the customer's that is `active`, `trialing` or `past_due`.
    async fn current_subscription(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<String>, StripeError>;
    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError>;
    /// The billing portal session's URL.
    async fn create_portal_session(
        &self,
        customer: &crate::ids::StripeCustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    /// Network failure, timeout, 5xx, 429: retry later.
    #[error("Clerk is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 4xx retrying cannot fix (e.g. the user no longer exists: 404).
    #[error("Clerk rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClerkError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClerkError::Unavailable(_))
    }
}

/// Mirrors a user's billing state into Clerk, so the frontend can read it from the session.
#[async_trait]
pub trait ClerkUsers: Send + Sync {
    /// `PATCH /v1/users/{user_id}/metadata` with `{"public_metadata": {"billing": <billing>}}` — Clerk deep-merges
    /// metadata, so other keys of public_metadata are kept and `billing` is replaced as a whole object.
    /// A deep merge alone would keep every key (at any depth) of the old `billing` that the new one lacks, so
    /// implementations read the current one (`GET /v1/users/{user_id}`) and send those keys as `null`, which
    /// Clerk deletes. `billing` = `null` removes it.
    async fn set_billing_metadata(
        &self,
        user: &crate::ids::UserId,
        billing: &serde_json::Value,
    ) -> Result<(), ClerkError>;
}

/// `(price id, lookup key, quantity)` of a Checkout line.
pub type LineItem = (String, Option<String>, u64);

/// Stripe's current state, read before applying an event (so the result does not depend on the order events
/// arrive in).
#[async_trait]
pub trait StripeReader: Send + Sync {
    /// `None` when Stripe has no such subscription.
    async fn subscription(
        &self,
        id: &str,
    ) -> Result<Option<crate::entitlements::SubscriptionState>, StripeError>;
    /// The customer's subscriptions, newest first.
    async fn customer_subscriptions(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Vec<crate::entitlements::SubscriptionState>, StripeError>;
    /// The `clerkUserId` in the customer's metadata.
    async fn customer_user(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<crate::ids::UserId>, StripeError>;
    /// Each line of a Checkout session.
    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError>;
}

/// A user's entitlements row with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntitlements {
    pub entitlements: crate::entitlements::Entitlements,
    /// Bumped by every change; writes are conditional on it.
    pub version: u64,
    /// What the last change replaced, for its `entitlements.changed` announcement.
    pub previous: Option<crate::entitlements::Entitlements>,
    /// The last version announced on the topic.
    pub announced_version: u64,
    /// A digest of the billing metadata last written to Clerk.
    pub clerk_digest: Option<String>,
}

/// One credit change, recorded once (its key makes a replay a no-op).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// e.g. `checkout#cs_…`.
    pub key: String,
    pub credits: i64,
    pub reason: String,
    pub at: UnixTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved {
        version: u64,
    },
    /// The row changed since it was read: read again and recompute.
    Conflict,
    /// The ledger entry exists: this change was applied before.
    AlreadyApplied,
}

#[async_trait]
pub trait EntitlementStore: Send + Sync {
    async fn load(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<StoredEntitlements>, StoreError>;
    /// Writes `next` if the row is still at `expected_version` (`None`: no row yet), keeping `previous` for the
    /// announcement; with a ledger entry, records it in the same transaction.
    async fn save(
        &self,
        next: &crate::entitlements::Entitlements,
        expected_version: Option<u64>,
        previous: Option<&crate::entitlements::Entitlements>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<SaveOutcome, StoreError>;
    async fn mark_announced(
        &self,
        user: &crate::ids::UserId,
        version: u64,
    ) -> Result<(), StoreError>;
    async fn mark_clerk_synced(
        &self,
        user: &crate::ids::UserId,
        digest: &str,
    ) -> Result<(), StoreError>;
    /// Users whose plan lapses by a date (`past_due` or canceling) — for the hourly sweep.
    async fn lapsing(&self) -> Result<Vec<crate::ids::UserId>, StoreError>;
}

/// Where a record that can never be applied goes, with the reason, so nothing vanishes silently.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError>;
}
