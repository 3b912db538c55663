//! The usage port: counters, holds and idempotency records (which double as the credits ledger). Every
//! change is one atomic, conditional write; `Conflict` means "read again and decide again", never "applied".
use crate::entitlements::Entitlements;
use crate::ids::SubjectId;
use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::usage::ledger::LedgerRow;
use crate::usage::{Change, Counter};
use async_trait::async_trait;

/// Where a counter lives: the user and `<limit>` or `<limit>#<period>` (a metered counter's key carries its
/// period, so a new period starts from nothing). `expires_at`: when a metered counter may be deleted (TTL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub user: SubjectId,
    pub name: String,
    pub expires_at: Option<UnixTime>,
}

/// A change recorded once under its key: an idempotency record (`expires_at` set, kept ≥ 48 h) or a
/// credits ledger row (kept). A replay finds it and answers with `response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub user: SubjectId,
    /// Digest of the request: the same key with another body is a conflict.
    pub fingerprint: String,
    /// The JSON answered the first time.
    pub response: String,
    /// What the change did to the credits balance, for the ledger (0 for other limits).
    pub credits: i64,
    pub reason: String,
    pub at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

/// What one read returns: the user's entitlements, the counter, the member's counter (when one was asked
/// for; zero otherwise) and the record of the idempotency key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub entitlements: Option<Entitlements>,
    pub counter: Counter,
    pub member: Counter,
    pub record: Option<Record>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// The counter moved past the guard, a hold to remove is gone, or the record exists: read again.
    Conflict,
}

/// Per-counter announcements made at most once (per counter, hence per period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    LimitReached,
    CreditsLow,
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Entitlements, counter and record in one strongly consistent read.
    async fn snapshot(
        &self,
        counter: &CounterKey,
        record_key: Option<&str>,
    ) -> Result<Snapshot, StoreError> {
        self.snapshot_with(counter, None, record_key).await
    }
    /// [`Self::snapshot`], with a member's counter inside an organization's pool read in the same read.
    async fn snapshot_with(
        &self,
        counter: &CounterKey,
        member: Option<&CounterKey>,
        record_key: Option<&str>,
    ) -> Result<Snapshot, StoreError>;
    /// The user's entitlements and the given counters (missing ones are zero), in one read.
    async fn counters(
        &self,
        user: &SubjectId,
        keys: &[CounterKey],
    ) -> Result<(Option<Entitlements>, Vec<Counter>), StoreError>;
    /// Applies `change` if its guard holds, together with `record` if its key is new — atomically.
    async fn write(
        &self,
        counter: &CounterKey,
        change: &Change,
        record: Option<&Record>,
    ) -> Result<WriteOutcome, StoreError> {
        self.write_with(counter, change, None, record).await
    }
    /// [`Self::write`], with a member's counter changed in the same transaction: all of it applies (every
    /// guard holds and the record is new) or none of it.
    async fn write_with(
        &self,
        counter: &CounterKey,
        change: &Change,
        member: Option<(&CounterKey, &Change)>,
        record: Option<&Record>,
    ) -> Result<WriteOutcome, StoreError>;
    /// Sets `flag` on the counter; `true` only for the one caller that set it.
    async fn set_flag(&self, counter: &CounterKey, flag: Flag) -> Result<bool, StoreError>;
    /// Clears `flag` (e.g. credits bought: the next fall below the threshold is announced again).
    async fn clear_flag(&self, counter: &CounterKey, flag: Flag) -> Result<(), StoreError>;
    /// The credits counter and its ledger's newest `limit` movements (newest first), in one strongly
    /// consistent query. Every record with a credits change and no expiry written with
    /// [`Self::write_with`] is a movement of the counter it changed.
    async fn ledger(
        &self,
        counter: &CounterKey,
        limit: usize,
    ) -> Result<(Counter, Vec<LedgerRow>), StoreError>;
    /// The record under `key`, if any (a ledger row, an idempotency record).
    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError>;
    /// Stores `record` alone if its key is new (`Conflict`: one is there already — read it).
    async fn put_record(&self, record: &Record) -> Result<WriteOutcome, StoreError>;
    /// A counted (not consumed) value, an organization's seats: `(value, version)`, `(0, 0)` when none.
    async fn counted(&self, counter: &CounterKey) -> Result<(i64, i64), StoreError>;
    /// Sets the counted value to `value` if its version is still `expected` (0: none stored yet), making it
    /// `expected + 1`; `false` when another write came first (read again).
    async fn set_count(
        &self,
        counter: &CounterKey,
        value: i64,
        expected: i64,
    ) -> Result<bool, StoreError>;
}
