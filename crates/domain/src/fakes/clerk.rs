//! Clerk's user metadata in memory.
use crate::ids::{OrgId, SubjectId, UserId};
use crate::ports::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

    pub fn billing(&self, user: &SubjectId) -> Option<serde_json::Value> {
        self.billing.lock().unwrap().get(user.as_str()).cloned()
    }
}

#[async_trait]
impl ClerkUsers for InMemoryClerk {
    async fn set_billing_metadata(
        &self,
        user: &SubjectId,
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

/// Organization memberships in memory: `(org, user)` → the role's permissions.
#[derive(Default)]
pub struct InMemoryMembers {
    members: Mutex<HashMap<(String, String), Vec<String>>>,
    invitations: Mutex<HashMap<String, u64>>,
    pub calls: AtomicUsize,
}

impl InMemoryMembers {
    /// `user` joins `org` with these permissions (`org:sys_billing:manage`, …).
    pub fn join(&self, org: &str, user: &str, permissions: &[&str]) {
        self.members.lock().unwrap().insert(
            (org.to_owned(), user.to_owned()),
            permissions.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// `user` leaves `org`.
    pub fn leave(&self, org: &str, user: &str) {
        self.members
            .lock()
            .unwrap()
            .remove(&(org.to_owned(), user.to_owned()));
    }

    /// `org` has `count` pending invitations.
    pub fn set_pending_invitations(&self, org: &str, count: u64) {
        self.invitations
            .lock()
            .unwrap()
            .insert(org.to_owned(), count);
    }
}

#[async_trait]
impl OrganizationMembers for InMemoryMembers {
    async fn permissions(
        &self,
        org: &OrgId,
        user: &UserId,
    ) -> Result<Option<Vec<String>>, ClerkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .members
            .lock()
            .unwrap()
            .get(&(org.as_str().to_owned(), user.as_str().to_owned()))
            .cloned())
    }

    async fn count(&self, org: &OrgId, invitations: bool) -> Result<u64, ClerkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let members = self
            .members
            .lock()
            .unwrap()
            .keys()
            .filter(|(o, _)| o == org.as_str())
            .count() as u64;
        let pending = if invitations {
            self.invitations
                .lock()
                .unwrap()
                .get(org.as_str())
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        Ok(members + pending)
    }
}
