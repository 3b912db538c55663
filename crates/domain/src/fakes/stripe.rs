//! Stripe's customers, subscriptions, prices and sessions in memory.
use crate::ids::{StripeCustomerId, UserId};
use crate::ports::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Stripe's customers and subscriptions in memory, honouring idempotency keys, with injectable failures.
#[derive(Default)]
pub struct InMemoryStripe {
    state: Mutex<StripeState>,
}

#[derive(Default)]
struct StripeState {
    customers: Vec<(String, UserId, CustomerProfile)>,
    keys: HashMap<String, String>,
    subscriptions: Vec<(String, String, String)>, // (id, customer, status)
    calls: Vec<String>,
    failures: Vec<(String, bool)>,   // (call prefix, retryable)
    prices: HashMap<String, String>, // lookup key -> price id
    sessions: Vec<RecordedCheckout>,
}

/// A checkout session the fake created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCheckout {
    pub id: String,
    pub customer: String,
    pub mode: &'static str,
    pub price_id: String,
    pub quantity: u32,
    pub idempotency_key: String,
}

impl InMemoryStripe {
    /// The next call whose description starts with `prefix` fails (retryably or not).
    pub fn fail_next(&self, prefix: &str, retryable: bool) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push((prefix.to_owned(), retryable));
    }

    pub fn customers(&self) -> Vec<(String, UserId, CustomerProfile)> {
        self.state.lock().unwrap().customers.clone()
    }

    /// Every call made, e.g. `create_customer user_1`, `update_customer cus_1`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn add_subscription(&self, id: &str, customer: &str, status: &str) {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .push((id.into(), customer.into(), status.into()));
    }

    pub fn add_price(&self, lookup_key: &str, price_id: &str) {
        self.state
            .lock()
            .unwrap()
            .prices
            .insert(lookup_key.into(), price_id.into());
    }

    pub fn checkouts(&self) -> Vec<RecordedCheckout> {
        self.state.lock().unwrap().sessions.clone()
    }

    pub fn subscription_status(&self, id: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        state
            .subscriptions
            .iter()
            .find(|s| s.0 == id)
            .map(|s| s.2.clone())
    }

    fn enter(&self, call: String) -> Result<std::sync::MutexGuard<'_, StripeState>, StripeError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(call.clone());
        if let Some(i) = state
            .failures
            .iter()
            .position(|(p, _)| call.starts_with(p.as_str()))
        {
            let (_, retryable) = state.failures.remove(i);
            return Err(if retryable {
                StripeError::Unavailable("injected outage".into())
            } else {
                StripeError::Rejected {
                    status: 400,
                    code: "parameter_invalid".into(),
                    message: "injected rejection".into(),
                }
            });
        }
        Ok(state)
    }
}

#[async_trait]
impl StripeCustomers for InMemoryStripe {
    async fn create_customer(
        &self,
        user: &UserId,
        idempotency_key: &str,
    ) -> Result<StripeCustomerId, StripeError> {
        let mut state = self.enter(format!("create_customer {user}"))?;
        if let Some(id) = state.keys.get(idempotency_key) {
            return Ok(StripeCustomerId::parse(id.clone()).unwrap());
        }
        let id = format!("cus_fake{}", state.customers.len() + 1);
        state.keys.insert(idempotency_key.to_owned(), id.clone());
        state
            .customers
            .push((id.clone(), user.clone(), Default::default()));
        Ok(StripeCustomerId::parse(id).unwrap())
    }

    async fn update_customer(
        &self,
        customer: &StripeCustomerId,
        profile: &CustomerProfile,
        _idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let mut state = self.enter(format!("update_customer {customer}"))?;
        match state
            .customers
            .iter_mut()
            .find(|c| c.0 == customer.as_str())
        {
            Some(c) => {
                if profile.email.is_some() {
                    c.2.email = profile.email.clone();
                }
                if profile.name.is_some() {
                    c.2.name = profile.name.clone();
                }
                Ok(())
            }
            None => Err(StripeError::Rejected {
                status: 404,
                code: "resource_missing".into(),
                message: "No such customer".into(),
            }),
        }
    }
}

#[async_trait]
impl StripeSubscriptions for InMemoryStripe {
    async fn chargeable_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<String>, StripeError> {
        let state = self.enter(format!("chargeable_subscriptions {customer}"))?;
        Ok(state
            .subscriptions
            .iter()
            .filter(|s| s.1 == customer.as_str() && s.2 != "canceled" && s.2 != "canceling")
            .map(|s| s.0.clone())
            .collect())
    }

    async fn cancel_subscription(
        &self,
        subscription_id: &str,
        at_period_end: bool,
        _idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let mut state = self.enter(format!("cancel_subscription {subscription_id}"))?;
        if let Some(s) = state
            .subscriptions
            .iter_mut()
            .find(|s| s.0 == subscription_id)
        {
            s.2 = if at_period_end {
                "canceling"
            } else {
                "canceled"
            }
            .into();
        }
        Ok(())
    }
}

#[async_trait]
impl StripeBilling for InMemoryStripe {
    async fn price_for_lookup_key(&self, lookup_key: &str) -> Result<Option<String>, StripeError> {
        let state = self.enter(format!("price_for_lookup_key {lookup_key}"))?;
        Ok(state.prices.get(lookup_key).cloned())
    }

    async fn current_subscription(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<String>, StripeError> {
        let state = self.enter(format!("current_subscription {customer}"))?;
        Ok(state
            .subscriptions
            .iter()
            .find(|s| s.1 == customer.as_str() && crate::entitlements::is_live_status(&s.2))
            .map(|s| s.0.clone()))
    }

    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let mut state = self.enter(format!("create_checkout_session {}", request.customer))?;
        let existing = state
            .sessions
            .iter()
            .find(|s| s.idempotency_key == idempotency_key);
        let id = match existing {
            Some(s) => s.id.clone(),
            None => {
                let id = format!("cs_test_fake{}", state.sessions.len() + 1);
                state.sessions.push(RecordedCheckout {
                    id: id.clone(),
                    customer: request.customer.to_string(),
                    mode: request.mode.as_str(),
                    price_id: request.price_id.to_owned(),
                    quantity: request.quantity,
                    idempotency_key: idempotency_key.to_owned(),
                });
                id
            }
        };
        Ok(CheckoutSession {
            url: format!("https://checkout.stripe.com/c/pay/{id}"),
            id,
        })
    }

    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        _return_url: &str,
        _idempotency_key: &str,
    ) -> Result<String, StripeError> {
        drop(self.enter(format!("create_portal_session {customer}"))?);
        Ok(format!(
            "https://billing.stripe.com/p/session/test_{customer}"
        ))
    }
}
