//! The entitlements table as the processor writes it: versioned rows and the credit ledger.
use super::StoreError;
use crate::entitlements::history::{Provenance, Version};
use crate::entitlements::Entitlements;
use crate::ids::SubjectId;
use crate::time::UnixTime;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
    /// The lapse instant the row is found under by the hourly sweep (`None`: not in the lapse index). Every
    /// write sets it to [`Entitlements::lapses_at`]; a row written before the index existed has none until it
    /// is written again or [reindexed](EntitlementStore::reindex).
    pub indexed_lapse: Option<UnixTime>,
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
    /// Puts the row at `version` in the lapse index under `entitlements`' lapse instant, or takes it out when
    /// nothing lapses — nothing else changes (no new version, no history, no announcement). For rows written
    /// before the index existed (a reconcile that finds nothing to change calls it). A row no longer at
    /// `version` was rewritten, index entry included: nothing to do.
    async fn reindex(&self, entitlements: &Entitlements, version: u64) -> Result<(), StoreError>;
    async fn mark_clerk_synced(&self, user: &SubjectId, digest: &str) -> Result<(), StoreError>;
    /// One page of the rows whose grant lapses by `until` ([`Entitlements::lapses_at`]), from `from`, at most
    /// `limit`: a query of the sparse lapse index (each write of a row sets or removes its entry), never a
    /// scan of the table — for the hourly sweep.
    async fn lapsing(
        &self,
        until: UnixTime,
        from: &LapseCursor,
        limit: usize,
    ) -> Result<LapsingPage, StoreError>;
}

/// The lapse index's shards: rows spread over this many partitions by [`lapse_shard`], so that the writes of
/// many rows lapsing at once do not all land on one index partition. Part of the stored form: changing it
/// means rewriting every row (`entitle reconcile --all`).
pub const LAPSE_SHARDS: u32 = 4;

/// A user's lapse shard: FNV-1a of the id, so it is the same in every process and release.
pub fn lapse_shard(user: &SubjectId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in user.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % LAPSE_SHARDS
}

/// Where a walk of the lapse index resumes: a shard (`0..LAPSE_SHARDS`) and the last row read in it
/// (`None`: from the shard's start). `LapseCursor::default()` is the start of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LapseCursor {
    pub shard: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<LapseKey>,
}

/// A row of the lapse index: the user and the lapse instant (Unix seconds) it is sorted by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LapseKey {
    pub user_id: SubjectId,
    pub at: i64,
}

/// A row due to lapse, and the cursor that resumes the walk after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapsing {
    pub user: SubjectId,
    pub at: UnixTime,
    pub resume: LapseCursor,
}

/// A page of [`EntitlementStore::lapsing`]: its rows in index order, and where the walk goes on (`None`:
/// every shard was read to its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapsingPage {
    pub rows: Vec<Lapsing>,
    pub next: Option<LapseCursor>,
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
