//! The processed-event log in memory.
use crate::ports::*;
use crate::time::UnixTime;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub completed: bool,
    pub token: String,
    pub lease_until: i64,
    pub payload: String,
}

#[derive(Default)]
pub struct InMemoryEventLog {
    records: Mutex<HashMap<String, Record>>,
    next: AtomicU64,
}

impl InMemoryEventLog {
    pub fn record(&self, key: &str) -> Option<Record> {
        self.records.lock().unwrap().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl EventLog for InMemoryEventLog {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut records = self.records.lock().unwrap();
        if let Some(existing) = records.get(request.key) {
            if existing.completed {
                return Ok(Claim::Duplicate);
            }
            if existing.lease_until >= request.now.secs() {
                return Ok(Claim::InProgress);
            }
        }
        let token = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        records.insert(
            request.key.to_owned(),
            Record {
                completed: false,
                token: token.clone(),
                lease_until: request.now.plus(request.lease).secs(),
                payload: request.payload.to_owned(),
            },
        );
        Ok(Claim::Claimed(ClaimToken(token)))
    }

    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        match records.get_mut(key) {
            Some(r) if r.token == token.0 => {
                r.completed = true;
                Ok(())
            }
            _ => Err(StoreError::new("complete", "claim lost")),
        }
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        if records
            .get(key)
            .is_some_and(|r| r.token == token.0 && !r.completed)
        {
            records.remove(key);
        }
        Ok(())
    }
}
