//! In-memory fakes of the ports, for the handlers' unit tests (never for integration tests).
use crate::event::BillingEvent;
use crate::ports::{
    Claim, ClaimRequest, ClaimToken, EventLog, EventPublisher, PublishError, StoreError,
};
use crate::time::UnixTime;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Records what was published; can be told to fail.
#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<BillingEvent>>,
    fail: AtomicBool,
}

impl RecordingPublisher {
    pub fn failing() -> Self {
        let p = Self::default();
        p.fail.store(true, Ordering::SeqCst);
        p
    }

    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<BillingEvent> {
        self.published.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(PublishError {
                event_id: event.id.to_string(),
                source: "the topic is unavailable".into(),
            });
        }
        self.published.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// The customers table in memory.
#[derive(Default)]
pub struct InMemoryCustomerDirectory {
    rows: Mutex<HashMap<String, (crate::ports::CustomerLink, i64)>>,
}

impl InMemoryCustomerDirectory {
    pub fn row(&self, user: &crate::ids::UserId) -> Option<crate::ports::CustomerLink> {
        self.rows
            .lock()
            .unwrap()
            .get(user.as_str())
            .map(|(l, _)| l.clone())
    }
}

#[async_trait]
impl crate::ports::CustomerDirectory for InMemoryCustomerDirectory {
    async fn get(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<crate::ports::CustomerLink>, StoreError> {
        Ok(self.row(user))
    }

    async fn claim_creation(
        &self,
        user: &crate::ids::UserId,
        now: UnixTime,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some((link, lease_until)) = rows.get(user.as_str()) {
            if link.customer.is_some() || link.deleted || *lease_until >= now.secs() {
                return Ok(false);
            }
        }
        let link = crate::ports::CustomerLink {
            user: user.clone(),
            customer: None,
            profile: Default::default(),
            deleted: false,
        };
        rows.insert(user.as_str().to_owned(), (link, now.plus(lease).secs()));
        Ok(true)
    }

    async fn release_creation(&self, user: &crate::ids::UserId) -> Result<(), StoreError> {
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
        user: &crate::ids::UserId,
        customer: &crate::ids::StripeCustomerId,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let (link, _) = rows.entry(user.as_str().to_owned()).or_insert_with(|| {
            let link = crate::ports::CustomerLink {
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
        user: &crate::ids::UserId,
        profile: &crate::ports::CustomerProfile,
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

    async fn mark_deleted(
        &self,
        user: &crate::ids::UserId,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let (link, _) = rows.entry(user.as_str().to_owned()).or_insert_with(|| {
            let link = crate::ports::CustomerLink {
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

    async fn all_users(&self) -> Result<Vec<crate::ids::UserId>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .map(|(l, _)| l.user.clone())
            .collect())
    }

    async fn user_for_customer(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<crate::ids::UserId>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .find(|(l, _)| l.customer.as_ref() == Some(customer))
            .map(|(l, _)| l.user.clone()))
    }
}

/// Stripe's customers and subscriptions in memory, honouring idempotency keys, with injectable failures.
#[derive(Default)]
pub struct InMemoryStripe {
    state: Mutex<StripeState>,
}

#[derive(Default)]
struct StripeState {
    customers: Vec<(String, crate::ids::UserId, crate::ports::CustomerProfile)>,
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

    pub fn customers(&self) -> Vec<(String, crate::ids::UserId, crate::ports::CustomerProfile)> {
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

    fn enter(
        &self,
        call: String,
    ) -> Result<std::sync::MutexGuard<'_, StripeState>, crate::ports::StripeError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(call.clone());
        if let Some(i) = state
            .failures
            .iter()
            .position(|(p, _)| call.starts_with(p.as_str()))
        {
            let (_, retryable) = state.failures.remove(i);
            return Err(if retryable {
                crate::ports::StripeError::Unavailable("injected outage".into())
            } else {
                crate::ports::StripeError::Rejected {
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
impl crate::ports::StripeCustomers for InMemoryStripe {
    async fn create_customer(
        &self,
        user: &crate::ids::UserId,
        idempotency_key: &str,
    ) -> Result<crate::ids::StripeCustomerId, crate::ports::StripeError> {
        let mut state = self.enter(format!("create_customer {user}"))?;
        if let Some(id) = state.keys.get(idempotency_key) {
            return Ok(crate::ids::StripeCustomerId::parse(id.clone()).unwrap());
        }
        let id = format!("cus_fake{}", state.customers.len() + 1);
        state.keys.insert(idempotency_key.to_owned(), id.clone());
        state
            .customers
            .push((id.clone(), user.clone(), Default::default()));
        Ok(crate::ids::StripeCustomerId::parse(id).unwrap())
    }

    async fn update_customer(
        &self,
        customer: &crate::ids::StripeCustomerId,
        profile: &crate::ports::CustomerProfile,
        _idempotency_key: &str,
    ) -> Result<(), crate::ports::StripeError> {
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
            None => Err(crate::ports::StripeError::Rejected {
                status: 404,
                code: "resource_missing".into(),
                message: "No such customer".into(),
            }),
        }
    }
}

#[async_trait]
impl crate::ports::StripeSubscriptions for InMemoryStripe {
    async fn chargeable_subscriptions(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Vec<String>, crate::ports::StripeError> {
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
    ) -> Result<(), crate::ports::StripeError> {
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
impl crate::ports::StripeBilling for InMemoryStripe {
    async fn price_for_lookup_key(
        &self,
        lookup_key: &str,
    ) -> Result<Option<String>, crate::ports::StripeError> {
        let state = self.enter(format!("price_for_lookup_key {lookup_key}"))?;
        Ok(state.prices.get(lookup_key).cloned())
    }

    async fn current_subscription(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<String>, crate::ports::StripeError> {
        let state = self.enter(format!("current_subscription {customer}"))?;
        Ok(state
            .subscriptions
            .iter()
            .find(|s| {
                s.1 == customer.as_str()
                    && matches!(s.2.as_str(), "active" | "trialing" | "past_due")
            })
            .map(|s| s.0.clone()))
    }

    async fn create_checkout_session(
        &self,
        request: &crate::ports::CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<crate::ports::CheckoutSession, crate::ports::StripeError> {
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
        Ok(crate::ports::CheckoutSession {
            url: format!("https://checkout.stripe.com/c/pay/{id}"),
            id,
        })
    }

    async fn create_portal_session(
        &self,
        customer: &crate::ids::StripeCustomerId,
        _return_url: &str,
        _idempotency_key: &str,
    ) -> Result<String, crate::ports::StripeError> {
        drop(self.enter(format!("create_portal_session {customer}"))?);
        Ok(format!(
            "https://billing.stripe.com/p/session/test_{customer}"
        ))
    }
}

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
impl crate::ports::EntitlementReader for InMemoryEntitlements {
    async fn get(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<crate::entitlements::Entitlements>, StoreError> {
        Ok(self.rows.lock().unwrap().get(user.as_str()).cloned())
    }
}

/// The processor's side of the entitlements table in memory, with the same versioned writes and ledger.
#[derive(Default)]
pub struct InMemoryEntitlementStore {
    rows: Mutex<HashMap<String, crate::ports::StoredEntitlements>>,
    ledger: Mutex<HashMap<String, i64>>,
}

impl InMemoryEntitlementStore {
    pub fn current(&self, user: &crate::ids::UserId) -> Option<crate::ports::StoredEntitlements> {
        self.rows.lock().unwrap().get(user.as_str()).cloned()
    }

    pub fn ledger_len(&self) -> usize {
        self.ledger.lock().unwrap().len()
    }
}

#[async_trait]
impl crate::ports::EntitlementReader for InMemoryEntitlementStore {
    async fn get(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<crate::entitlements::Entitlements>, StoreError> {
        Ok(self.current(user).map(|s| s.entitlements))
    }
}

#[async_trait]
impl crate::ports::EntitlementStore for InMemoryEntitlementStore {
    async fn load(
        &self,
        user: &crate::ids::UserId,
    ) -> Result<Option<crate::ports::StoredEntitlements>, StoreError> {
        Ok(self.current(user))
    }

    async fn save(
        &self,
        next: &crate::entitlements::Entitlements,
        expected_version: Option<u64>,
        previous: Option<&crate::entitlements::Entitlements>,
        ledger: Option<&crate::ports::LedgerEntry>,
    ) -> Result<crate::ports::SaveOutcome, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let mut entries = self.ledger.lock().unwrap();
        let key = next.user_id.as_str().to_owned();
        if let Some(entry) = ledger {
            if entries.contains_key(&format!("{key}#{}", entry.key)) {
                return Ok(crate::ports::SaveOutcome::AlreadyApplied);
            }
        }
        if rows.get(&key).map(|r| r.version) != expected_version {
            return Ok(crate::ports::SaveOutcome::Conflict);
        }
        let version = expected_version.unwrap_or(0) + 1;
        let (announced_version, clerk_digest) = rows
            .get(&key)
            .map(|r| (r.announced_version, r.clerk_digest.clone()))
            .unwrap_or((0, None));
        rows.insert(
            key.clone(),
            crate::ports::StoredEntitlements {
                entitlements: next.clone(),
                version,
                previous: previous.cloned(),
                announced_version,
                clerk_digest,
            },
        );
        if let Some(entry) = ledger {
            entries.insert(format!("{key}#{}", entry.key), entry.credits);
        }
        Ok(crate::ports::SaveOutcome::Saved { version })
    }

    async fn mark_announced(
        &self,
        user: &crate::ids::UserId,
        version: u64,
    ) -> Result<(), StoreError> {
        if let Some(row) = self.rows.lock().unwrap().get_mut(user.as_str()) {
            row.announced_version = row.announced_version.max(version);
        }
        Ok(())
    }

    async fn mark_clerk_synced(
        &self,
        user: &crate::ids::UserId,
        digest: &str,
    ) -> Result<(), StoreError> {
        if let Some(row) = self.rows.lock().unwrap().get_mut(user.as_str()) {
            row.clerk_digest = Some(digest.to_owned());
        }
        Ok(())
    }

    async fn lapsing(&self) -> Result<Vec<crate::ids::UserId>, StoreError> {
        use crate::entitlements::Status;
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .filter(|r| matches!(r.entitlements.status, Status::PastDue | Status::Canceling))
            .map(|r| r.entitlements.user_id.clone())
            .collect())
    }
}

/// Stripe's current objects for the processor, set by the test.
#[derive(Default)]
pub struct InMemoryStripeState {
    subscriptions: Mutex<HashMap<String, (String, crate::entitlements::SubscriptionState)>>,
    customers: Mutex<HashMap<String, crate::ids::UserId>>,
    line_items: Mutex<HashMap<String, Vec<crate::ports::LineItem>>>,
}

impl InMemoryStripeState {
    pub fn set_subscription(&self, customer: &str, state: crate::entitlements::SubscriptionState) {
        self.subscriptions
            .lock()
            .unwrap()
            .insert(state.id.clone(), (customer.to_owned(), state));
    }

    pub fn set_customer_user(&self, customer: &str, user: &crate::ids::UserId) {
        self.customers
            .lock()
            .unwrap()
            .insert(customer.to_owned(), user.clone());
    }

    pub fn set_line_items(&self, session: &str, items: Vec<crate::ports::LineItem>) {
        self.line_items
            .lock()
            .unwrap()
            .insert(session.to_owned(), items);
    }
}

#[async_trait]
impl crate::ports::StripeReader for InMemoryStripeState {
    async fn subscription(
        &self,
        id: &str,
    ) -> Result<Option<crate::entitlements::SubscriptionState>, crate::ports::StripeError> {
        Ok(self
            .subscriptions
            .lock()
            .unwrap()
            .get(id)
            .map(|(_, s)| s.clone()))
    }

    async fn customer_subscriptions(
        &self,
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Vec<crate::entitlements::SubscriptionState>, crate::ports::StripeError> {
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
        customer: &crate::ids::StripeCustomerId,
    ) -> Result<Option<crate::ids::UserId>, crate::ports::StripeError> {
        Ok(self
            .customers
            .lock()
            .unwrap()
            .get(customer.as_str())
            .cloned())
    }

    async fn checkout_line_items(
        &self,
        session_id: &str,
    ) -> Result<Vec<crate::ports::LineItem>, crate::ports::StripeError> {
        Ok(self
            .line_items
            .lock()
            .unwrap()
            .get(session_id)
            .cloned()
            .unwrap_or_default())
    }
}

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

    pub fn billing(&self, user: &crate::ids::UserId) -> Option<serde_json::Value> {
        self.billing.lock().unwrap().get(user.as_str()).cloned()
    }
}

#[async_trait]
impl crate::ports::ClerkUsers for InMemoryClerk {
    async fn set_billing_metadata(
        &self,
        user: &crate::ids::UserId,
        billing: &serde_json::Value,
    ) -> Result<(), crate::ports::ClerkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(crate::ports::ClerkError::Unavailable(
                "injected outage".into(),
            ));
        }
        self.billing
            .lock()
            .unwrap()
            .insert(user.as_str().to_owned(), billing.clone());
        Ok(())
    }
}

/// Records dead-lettered bodies.
#[derive(Default)]
pub struct RecordingDeadLetters {
    pub letters: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl crate::ports::DeadLetters for RecordingDeadLetters {
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError> {
        self.letters
            .lock()
            .unwrap()
            .push((body.to_owned(), reason.to_owned()));
        Ok(())
    }
}
