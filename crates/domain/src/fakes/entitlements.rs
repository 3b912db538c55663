//! The entitlements table in memory, for billing-api and the processor.
use crate::ids::SubjectId;
use crate::ports::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// The entitlements table in memory.
#[derive(Default)]
pub struct InMemoryEntitlements {
    rows: Mutex<HashMap<String, crate::entitlements::Entitlements>>,
}

impl InMemoryEntitlements {
    pub fn put(&self, entitlements: crate::entitlements::Entitlements) {
        self.rows
            .lock()
            .unwrap()
            .insert(entitlements.user_id.to_string(), entitlements);
    }
}

#[async_trait]
impl EntitlementReader for InMemoryEntitlements {
    async fn get(
        &self,
        user: &SubjectId,
    ) -> Result<Option<crate::entitlements::Entitlements>, StoreError> {
        Ok(self.rows.lock().unwrap().get(user.as_str()).cloned())
    }
}

/// The processor's side of the entitlements table in memory, with the same versioned writes and ledger.
#[derive(Default)]
pub struct InMemoryEntitlementStore {
    rows: Mutex<HashMap<String, StoredEntitlements>>,
    ledger: Mutex<HashMap<String, i64>>,
    history: Mutex<Vec<crate::entitlements::history::Version>>,
}

impl InMemoryEntitlementStore {
    /// Every version appended, oldest first.
    pub fn history(&self, user: &SubjectId) -> Vec<crate::entitlements::history::Version> {
        let all = self.history.lock().unwrap();
        all.iter()
            .filter(|v| v.entitlements.user_id == *user)
            .cloned()
            .collect()
    }

    pub fn current(&self, user: &SubjectId) -> Option<StoredEntitlements> {
        self.rows.lock().unwrap().get(user.as_str()).cloned()
    }

    /// Takes the row out of the lapse index, as a row written before the index existed.
    pub fn unindex(&self, user: &SubjectId) {
        if let Some(row) = self.rows.lock().unwrap().get_mut(user.as_str()) {
            row.indexed_lapse = None;
        }
    }

    pub fn ledger_len(&self) -> usize {
        self.ledger.lock().unwrap().len()
    }
}

#[async_trait]
impl EntitlementReader for InMemoryEntitlementStore {
    async fn get(
        &self,
        user: &SubjectId,
    ) -> Result<Option<crate::entitlements::Entitlements>, StoreError> {
        Ok(self.current(user).map(|s| s.entitlements))
    }
}

#[async_trait]
impl EntitlementStore for InMemoryEntitlementStore {
    async fn load(&self, user: &SubjectId) -> Result<Option<StoredEntitlements>, StoreError> {
        Ok(self.current(user))
    }

    async fn save_version(
        &self,
        next: &crate::entitlements::Entitlements,
        expected_version: Option<u64>,
        previous: Option<&crate::entitlements::Entitlements>,
        ledger: Option<&LedgerEntry>,
        history: Option<Appended<'_>>,
    ) -> Result<SaveOutcome, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let mut entries = self.ledger.lock().unwrap();
        let key = next.user_id.as_str().to_owned();
        if let Some(entry) = ledger {
            if entries.contains_key(&format!("{key}#{}", entry.key)) {
                return Ok(SaveOutcome::AlreadyApplied);
            }
        }
        if rows.get(&key).map(|r| r.version) != expected_version {
            return Ok(SaveOutcome::Conflict);
        }
        let version = expected_version.unwrap_or(0) + 1;
        let (announced_version, clerk_digest, catalog) = rows
            .get(&key)
            .map(|r| {
                (
                    r.announced_version,
                    r.clerk_digest.clone(),
                    r.catalog.clone(),
                )
            })
            .unwrap_or((0, None, None));
        rows.insert(
            key.clone(),
            StoredEntitlements {
                entitlements: next.clone(),
                version,
                previous: previous.cloned(),
                announced_version,
                clerk_digest,
                catalog: history
                    .as_ref()
                    .map(|h| h.provenance.catalog.clone())
                    .or(catalog),
                indexed_lapse: next.lapses_at(),
            },
        );
        if let Some(entry) = ledger {
            entries.insert(format!("{key}#{}", entry.key), entry.credits);
        }
        if let Some(appended) = history {
            self.history
                .lock()
                .unwrap()
                .push(crate::entitlements::history::Version {
                    version,
                    applied_at: next.updated_at.clone().unwrap_or_default(),
                    entitlements: next.clone(),
                    provenance: appended.provenance.clone(),
                });
        }
        Ok(SaveOutcome::Saved { version })
    }

    async fn mark_announced(&self, user: &SubjectId, version: u64) -> Result<(), StoreError> {
        if let Some(row) = self.rows.lock().unwrap().get_mut(user.as_str()) {
            row.announced_version = row.announced_version.max(version);
        }
        Ok(())
    }

    async fn reindex(
        &self,
        entitlements: &crate::entitlements::Entitlements,
        version: u64,
    ) -> Result<(), StoreError> {
        if let Some(row) = self
            .rows
            .lock()
            .unwrap()
            .get_mut(entitlements.user_id.as_str())
        {
            if row.version == version {
                row.indexed_lapse = entitlements.lapses_at();
            }
        }
        Ok(())
    }

    async fn mark_clerk_synced(&self, user: &SubjectId, digest: &str) -> Result<(), StoreError> {
        if let Some(row) = self.rows.lock().unwrap().get_mut(user.as_str()) {
            row.clerk_digest = Some(digest.to_owned());
        }
        Ok(())
    }

    /// The index's order: by shard, then instant, then user; a page stays within its shard, as a query does.
    async fn lapsing(
        &self,
        until: crate::time::UnixTime,
        from: &LapseCursor,
        limit: usize,
    ) -> Result<LapsingPage, StoreError> {
        let mut shard: Vec<(i64, SubjectId)> = self
            .rows
            .lock()
            .unwrap()
            .values()
            .filter(|r| lapse_shard(&r.entitlements.user_id) == from.shard)
            .filter_map(|r| {
                let at = r.indexed_lapse?;
                (at <= until).then(|| (at.secs(), r.entitlements.user_id.clone()))
            })
            .filter(|(at, user)| {
                from.after
                    .as_ref()
                    .is_none_or(|a| (*at, user.as_str()) > (a.at, a.user_id.as_str()))
            })
            .collect();
        shard.sort_by(|a, b| (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
        let more = shard.len() > limit;
        shard.truncate(limit);
        let rows: Vec<Lapsing> = shard
            .into_iter()
            .map(|(at, user)| Lapsing {
                resume: LapseCursor {
                    shard: from.shard,
                    after: Some(LapseKey {
                        user_id: user.clone(),
                        at,
                    }),
                },
                user,
                at: crate::time::UnixTime::from_secs(at),
            })
            .collect();
        let next = match rows.last() {
            Some(last) if more => Some(last.resume.clone()),
            _ => (from.shard + 1 < LAPSE_SHARDS).then(|| LapseCursor {
                shard: from.shard + 1,
                after: None,
            }),
        };
        Ok(LapsingPage { rows, next })
    }
}

#[async_trait]
impl EntitlementHistory for InMemoryEntitlementStore {
    async fn version_at(
        &self,
        subject: &SubjectId,
        at: crate::time::UnixTime,
    ) -> Result<Option<crate::entitlements::history::Version>, StoreError> {
        let at = at.to_rfc3339();
        Ok(self
            .history(subject)
            .into_iter()
            .rev()
            .find(|v| v.applied_at <= at))
    }

    async fn latest(
        &self,
        subject: &SubjectId,
        limit: usize,
    ) -> Result<Vec<crate::entitlements::history::Version>, StoreError> {
        Ok(self
            .history(subject)
            .into_iter()
            .rev()
            .take(limit)
            .collect())
    }

    async fn versions(
        &self,
        subject: &SubjectId,
        from: crate::time::UnixTime,
        to: crate::time::UnixTime,
        limit: usize,
    ) -> Result<Vec<crate::entitlements::history::Version>, StoreError> {
        let (from, to) = (from.to_rfc3339(), to.to_rfc3339());
        Ok(self
            .history(subject)
            .into_iter()
            .filter(|v| v.applied_at >= from && v.applied_at <= to)
            .take(limit)
            .collect())
    }
}
