//! The customers table: one Stripe customer per Clerk user.
use super::{CustomerProfile, StoreError};
use crate::ids::{StripeCustomerId, SubjectId};
use crate::time::UnixTime;
use async_trait::async_trait;
use std::time::Duration;

/// A user's row in the customers table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub user: SubjectId,
    /// `None` while a creation is in flight.
    pub customer: Option<StripeCustomerId>,
    /// What was last written to the Stripe customer.
    pub profile: CustomerProfile,
    pub deleted: bool,
}

/// The customers table: one Stripe customer per Clerk user.
#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    async fn get(&self, user: &SubjectId) -> Result<Option<CustomerLink>, StoreError>;
    /// Claims the right to create the user's customer: `true` for the one caller that may call Stripe;
    /// `false` when the row exists (linked, deleted, or another caller's live claim).
    async fn claim_creation(
        &self,
        user: &SubjectId,
        now: UnixTime,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives up a creation claim that produced no customer.
    async fn release_creation(&self, user: &SubjectId) -> Result<(), StoreError>;
    async fn link(
        &self,
        user: &SubjectId,
        customer: &StripeCustomerId,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    async fn save_profile(
        &self,
        user: &SubjectId,
        profile: &CustomerProfile,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Keeps the row (and the Stripe customer's history) but marks the user deleted; creates a tombstone
    /// when there is no row, so a late `user.created` cannot create a customer afterwards.
    async fn mark_deleted(&self, user: &SubjectId, now: UnixTime) -> Result<(), StoreError>;
    async fn user_for_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StoreError>;
    /// Every user with a row (for a full reconcile).
    async fn all_users(&self) -> Result<Vec<SubjectId>, StoreError>;
    /// One page of at most `limit` users, starting after the cursor `after`, and the cursor of the next page
    /// (`None`: this was the last). Pages cover every row once, in the table's order.
    async fn users_page(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<(Vec<SubjectId>, Option<SubjectId>), StoreError>;
}
