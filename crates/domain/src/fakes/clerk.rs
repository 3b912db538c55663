//! Clerk's user metadata in memory.
use crate::ids::UserId;
use crate::ports::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Clerk's user metadata in memory; can fail its next calls.
#[derive(Default)]
pub struct InMemoryClerk {
    billing: Mutex<HashMap<String, serde_json::Value>>,
    failures: AtomicU64,
    pub calls: AtomicU64,
}

impl InMemoryClerk {
    pub fn fail_next(&self, count: u64) {
        self.failures.store(count, Ordering::SeqCst);
    }

    pub fn billing(&self, user: &UserId) -> Option<serde_json::Value> {
        self.billing.lock().unwrap().get(user.as_str()).cloned()
    }
}

#[async_trait]
impl ClerkUsers for InMemoryClerk {
    async fn set_billing_metadata(
        &self,
        user: &UserId,
        billing: &serde_json::Value,
    ) -> Result<(), ClerkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ClerkError::Unavailable("injected outage".into()));
        }
        self.billing
            .lock()
            .unwrap()
            .insert(user.as_str().to_owned(), billing.clone());
        Ok(())
    }
}
