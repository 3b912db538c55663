//! The entitlements table as the processor writes it: versioned rows and the credit ledger.
use super::StoreError;
use crate::entitlements::Entitlements;
use crate::ids::SubjectId;
use crate::time::UnixTime;
use async_trait::async_trait;

/// A user's entitlements row with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntitlements {
    pub entitlements: Entitlements,
    /// Bumped by every change; writes are conditional on it.
    pub version: u64,
    /// What the last change replaced, for its `entitlements.changed` announcement.
    pub previous: Option<Entitlements>,
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
    async fn load(&self, user: &SubjectId) -> Result<Option<StoredEntitlements>, StoreError>;
    /// Writes `next` if the row is still at `expected_version` (`None`: no row yet), keeping `previous` for the
    /// announcement; with a ledger entry, records it in the same transaction.
    async fn save(
        &self,
        next: &Entitlements,
        expected_version: Option<u64>,
        previous: Option<&Entitlements>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<SaveOutcome, StoreError>;
    async fn mark_announced(&self, user: &SubjectId, version: u64) -> Result<(), StoreError>;
    async fn mark_clerk_synced(&self, user: &SubjectId, digest: &str) -> Result<(), StoreError>;
    /// Users with a grant that lapses by a date (`past_due`, canceling, or a canceling add-on;
    /// [`Entitlements::lapses`](crate::entitlements::Entitlements::lapses)) — for the hourly sweep.
    async fn lapsing(&self) -> Result<Vec<SubjectId>, StoreError>;
}
