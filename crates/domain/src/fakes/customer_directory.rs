//! The customers table in memory.
use crate::ids::{StripeCustomerId, SubjectId};
use crate::ports::*;
use crate::time::UnixTime;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// The customers table in memory.
#[derive(Default)]
pub struct InMemoryCustomerDirectory {
    rows: Mutex<HashMap<String, (CustomerLink, i64)>>,
}

impl InMemoryCustomerDirectory {
    pub fn row(&self, user: &SubjectId) -> Option<CustomerLink> {
        self.rows
            .lock()
            .unwrap()
            .get(user.as_str())
            .map(|(l, _)| l.clone())
    }
}

#[async_trait]
impl CustomerDirectory for InMemoryCustomerDirectory {
    async fn get(&self, user: &SubjectId) -> Result<Option<CustomerLink>, StoreError> {
        Ok(self.row(user))
    }

    async fn claim_creation(
        &self,
        user: &SubjectId,
        now: UnixTime,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some((link, lease_until)) = rows.get(user.as_str()) {
            if link.customer.is_some() || link.deleted || *lease_until >= now.secs() {
                return Ok(false);
            }
        }
        let link = CustomerLink {
            user: user.clone(),
            customer: None,
            profile: Default::default(),
            deleted: false,
        };
        rows.insert(user.as_str().to_owned(), (link, now.plus(lease).secs()));
        Ok(true)
    }

    async fn release_creation(&self, user: &SubjectId) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        if rows
            .get(user.as_str())
            .is_some_and(|(l, _)| l.customer.is_none() && !l.deleted)
        {
            rows.remove(user.as_str());
        }
        Ok(())
    }

    async fn link(
        &self,
        user: &SubjectId,
        customer: &StripeCustomerId,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let (link, _) = rows.entry(user.as_str().to_owned()).or_insert_with(|| {
            let link = CustomerLink {
                user: user.clone(),
                customer: None,
                profile: Default::default(),
                deleted: false,
            };
            (link, 0)
        });
        match &link.customer {
            Some(existing) if existing != customer => {
                Err(StoreError::new("link", "already linked"))
            }
            _ => {
                link.customer = Some(customer.clone());
                Ok(())
            }
        }
    }

    async fn save_profile(
        &self,
        user: &SubjectId,
        profile: &CustomerProfile,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        match self.rows.lock().unwrap().get_mut(user.as_str()) {
            Some((link, _)) => {
                link.profile = profile.clone();
                Ok(())
            }
            None => Err(StoreError::new("save profile", "no row")),
        }
    }

    async fn mark_deleted(&self, user: &SubjectId, _now: UnixTime) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let (link, _) = rows.entry(user.as_str().to_owned()).or_insert_with(|| {
            let link = CustomerLink {
                user: user.clone(),
                customer: None,
                profile: Default::default(),
                deleted: true,
            };
            (link, 0)
        });
        link.deleted = true;
        Ok(())
    }

    async fn all_users(&self) -> Result<Vec<SubjectId>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .map(|(l, _)| l.user.clone())
            .collect())
    }

    async fn users_page(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<(Vec<SubjectId>, Option<SubjectId>), StoreError> {
        let mut users = self.all_users().await?;
        users.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        users.retain(|u| after.is_none_or(|after| u.as_str() > after.as_str()));
        let more = users.len() > limit;
        users.truncate(limit);
        let next = if more { users.last().cloned() } else { None };
        Ok((users, next))
    }

    async fn user_for_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .find(|(l, _)| l.customer.as_ref() == Some(customer))
            .map(|(l, _)| l.user.clone()))
    }
}
