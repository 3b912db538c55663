//! Stripe's current objects for the processor.
use crate::ids::{StripeCustomerId, SubjectId};
use crate::ports::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Stripe's current objects for the processor, set by the test.
#[derive(Default)]
pub struct InMemoryStripeState {
    subscriptions: Mutex<HashMap<String, (String, crate::entitlements::SubscriptionState)>>,
    customers: Mutex<HashMap<String, SubjectId>>,
    line_items: Mutex<HashMap<String, Vec<LineItem>>>,
}

impl InMemoryStripeState {
    pub fn set_subscription(&self, customer: &str, state: crate::entitlements::SubscriptionState) {
        self.subscriptions
            .lock()
            .unwrap()
            .insert(state.id.clone(), (customer.to_owned(), state));
    }

    pub fn set_customer_user(&self, customer: &str, user: &SubjectId) {
        self.customers
            .lock()
            .unwrap()
            .insert(customer.to_owned(), user.clone());
    }

    pub fn set_line_items(&self, session: &str, items: Vec<LineItem>) {
        self.line_items
            .lock()
            .unwrap()
            .insert(session.to_owned(), items);
    }
}

#[async_trait]
impl StripeReader for InMemoryStripeState {
    async fn subscription(
        &self,
        id: &str,
    ) -> Result<Option<crate::entitlements::SubscriptionState>, StripeError> {
        Ok(self
            .subscriptions
            .lock()
            .unwrap()
            .get(id)
            .map(|(_, s)| s.clone()))
    }

    async fn customer_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<crate::entitlements::SubscriptionState>, StripeError> {
        Ok(self
            .subscriptions
            .lock()
            .unwrap()
            .values()
            .filter(|(c, _)| c == customer.as_str())
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn customer_user(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StripeError> {
        Ok(self
            .customers
            .lock()
            .unwrap()
            .get(customer.as_str())
            .cloned())
    }

    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError> {
        Ok(self
            .line_items
            .lock()
            .unwrap()
            .get(session_id)
            .cloned()
            .unwrap_or_default())
    }
}
