//! An in-memory [`UsageStore`], for the handlers' unit tests: the same guard semantics as the DynamoDB
//! adapter (a change applies only if its guard holds and its record is new), under one lock.
use crate::entitlements::Entitlements;
use crate::ids::SubjectId;
use crate::ports::usage::{CounterKey, Flag, Record, Snapshot, UsageStore, WriteOutcome};
use crate::ports::StoreError;
use crate::usage::ledger::LedgerRow;
use crate::usage::{Change, Counter};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct InMemoryUsage {
    counters: Mutex<HashMap<(SubjectId, String), Counter>>,
    records: Mutex<HashMap<String, Record>>,
    /// Credits movements in the order applied: (counter, record).
    ledger: Mutex<Vec<((SubjectId, String), Record)>>,
    versions: Mutex<HashMap<(SubjectId, String), i64>>,
    entitlements: Mutex<HashMap<SubjectId, Entitlements>>,
    flags: Mutex<HashSet<(SubjectId, String, &'static str)>>,
    /// When set, every call fails (a DynamoDB outage).
    pub down: AtomicBool,
    /// Calls made, by kind, to check round trips.
    pub reads: AtomicUsize,
    pub writes: AtomicUsize,
}

fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::LimitReached => "limitReached",
        Flag::CreditsLow => "creditsLow",
    }
}

impl InMemoryUsage {
    pub fn put_entitlements(&self, entitlements: Entitlements) {
        self.entitlements
            .lock()
            .unwrap()
            .insert(entitlements.user_id.clone(), entitlements);
    }

    pub fn counter(&self, user: &SubjectId, name: &str) -> Counter {
        self.counters
            .lock()
            .unwrap()
            .get(&(user.clone(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().values().cloned().collect()
    }

    fn fail_if_down(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("usage", "the fake store is down"));
        }
        Ok(())
    }
}

#[async_trait]
impl UsageStore for InMemoryUsage {
    async fn snapshot_with(
        &self,
        counter: &CounterKey,
        member: Option<&CounterKey>,
        record_key: Option<&str>,
    ) -> Result<Snapshot, StoreError> {
        self.fail_if_down()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Snapshot {
            entitlements: self
                .entitlements
                .lock()
                .unwrap()
                .get(&counter.user)
                .cloned(),
            counter: self.counter(&counter.user, &counter.name),
            member: member
                .map(|m| self.counter(&m.user, &m.name))
                .unwrap_or_default(),
            record: record_key.and_then(|k| self.records.lock().unwrap().get(k).cloned()),
        })
    }

    async fn counters(
        &self,
        user: &SubjectId,
        keys: &[CounterKey],
    ) -> Result<(Option<Entitlements>, Vec<Counter>), StoreError> {
        self.fail_if_down()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok((
            self.entitlements.lock().unwrap().get(user).cloned(),
            keys.iter().map(|k| self.counter(user, &k.name)).collect(),
        ))
    }

    async fn write_with(
        &self,
        counter: &CounterKey,
        change: &Change,
        member: Option<(&CounterKey, &Change)>,
        record: Option<&Record>,
    ) -> Result<WriteOutcome, StoreError> {
        self.fail_if_down()?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut counters = self.counters.lock().unwrap();
        let mut records = self.records.lock().unwrap();
        let key = (counter.user.clone(), counter.name.clone());
        let current = counters.get(&key).cloned().unwrap_or_default();
        if !current.admits(change) || record.is_some_and(|r| records.contains_key(&r.key)) {
            return Ok(WriteOutcome::Conflict);
        }
        if let Some((m, m_change)) = member {
            let m_key = (m.user.clone(), m.name.clone());
            let m_current = counters.get(&m_key).cloned().unwrap_or_default();
            if !m_current.admits(m_change) {
                return Ok(WriteOutcome::Conflict);
            }
            counters.insert(m_key, m_current.applied(m_change));
        }
        counters.insert(key.clone(), current.applied(change));
        if let Some(record) = record {
            records.insert(record.key.clone(), record.clone());
            if record.credits != 0 && record.expires_at.is_none() {
                self.ledger.lock().unwrap().push((key, record.clone()));
            }
        }
        Ok(WriteOutcome::Applied)
    }

    async fn ledger(
        &self,
        counter: &CounterKey,
        limit: usize,
    ) -> Result<(Counter, Vec<LedgerRow>), StoreError> {
        self.fail_if_down()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        let key = (counter.user.clone(), counter.name.clone());
        let rows = self
            .ledger
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|(k, _)| *k == key)
            .take(limit)
            .map(|(_, r)| LedgerRow {
                key: r.key.clone(),
                credits: r.credits,
                reason: r.reason.clone(),
                at: r.at,
            })
            .collect();
        Ok((self.counter(&counter.user, &counter.name), rows))
    }

    async fn set_flag(&self, counter: &CounterKey, flag: Flag) -> Result<bool, StoreError> {
        self.fail_if_down()?;
        Ok(self.flags.lock().unwrap().insert((
            counter.user.clone(),
            counter.name.clone(),
            flag_name(flag),
        )))
    }

    async fn clear_flag(&self, counter: &CounterKey, flag: Flag) -> Result<(), StoreError> {
        self.fail_if_down()?;
        self.flags.lock().unwrap().remove(&(
            counter.user.clone(),
            counter.name.clone(),
            flag_name(flag),
        ));
        Ok(())
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        self.fail_if_down()?;
        Ok(self.records.lock().unwrap().get(key).cloned())
    }

    async fn put_record(&self, record: &Record) -> Result<WriteOutcome, StoreError> {
        self.fail_if_down()?;
        let mut records = self.records.lock().unwrap();
        if records.contains_key(&record.key) {
            return Ok(WriteOutcome::Conflict);
        }
        records.insert(record.key.clone(), record.clone());
        Ok(WriteOutcome::Applied)
    }

    async fn counted(&self, counter: &CounterKey) -> Result<(i64, i64), StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let key = (counter.user.clone(), counter.name.clone());
        let version = self
            .versions
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(0);
        let value = self
            .counters
            .lock()
            .unwrap()
            .get(&key)
            .map(|c| c.value)
            .unwrap_or(0);
        Ok((value, version))
    }

    async fn set_count(
        &self,
        counter: &CounterKey,
        value: i64,
        expected: i64,
    ) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let key = (counter.user.clone(), counter.name.clone());
        let mut versions = self.versions.lock().unwrap();
        if versions.get(&key).copied().unwrap_or(0) != expected {
            return Ok(false);
        }
        versions.insert(key.clone(), expected + 1);
        let mut counters = self.counters.lock().unwrap();
        let entry = counters.entry(key).or_default();
        entry.value = value;
        entry.reserved = value;
        Ok(true)
    }
}
