//! The entitlements table as the processor writes it: versioned rows and the credit ledger.
use super::StoreError;
use crate::entitlements::history::{Provenance, Version};
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
    /// The catalog version ([`catalog_version`](crate::entitlements::history::catalog_version)) the row was
    /// last computed under (`None`: before history was kept).
    pub catalog: Option<String>,
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

/// A version to append to the subject's history with the write that makes it (`expires_at`: its retention).
#[derive(Debug, Clone, Copy)]
pub struct Appended<'a> {
    pub provenance: &'a Provenance,
    pub expires_at: UnixTime,
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
    ) -> Result<SaveOutcome, StoreError> {
        self.save_version(next, expected_version, previous, ledger, None)
            .await
    }
    /// [`Self::save`], appending the new version to the history in the same transaction (never updated,
    /// never deleted before `expires_at`; a lost race appends nothing).
    async fn save_version(
        &self,
        next: &Entitlements,
        expected_version: Option<u64>,
        previous: Option<&Entitlements>,
        ledger: Option<&LedgerEntry>,
        history: Option<Appended<'_>>,
    ) -> Result<SaveOutcome, StoreError>;
    async fn mark_announced(&self, user: &SubjectId, version: u64) -> Result<(), StoreError>;
    async fn mark_clerk_synced(&self, user: &SubjectId, digest: &str) -> Result<(), StoreError>;
    /// Users with a grant that lapses by a date (`past_due`, canceling, or a canceling add-on;
    /// [`Entitlements::lapses`](crate::entitlements::Entitlements::lapses)) — for the hourly sweep.
    async fn lapsing(&self) -> Result<Vec<SubjectId>, StoreError>;
}

/// The versions the processor appended: each read is one query.
#[async_trait]
pub trait EntitlementHistory: Send + Sync {
    /// The version in force at `at`: the last one applied at or before it (`None`: none yet then).
    async fn version_at(
        &self,
        subject: &SubjectId,
        at: UnixTime,
    ) -> Result<Option<Version>, StoreError>;
    /// The last `limit` versions applied, newest first.
    async fn latest(&self, subject: &SubjectId, limit: usize) -> Result<Vec<Version>, StoreError>;
    /// The versions applied from `from` to `to` (inclusive), oldest first, at most `limit`.
    async fn versions(
        &self,
        subject: &SubjectId,
        from: UnixTime,
        to: UnixTime,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError>;
}
