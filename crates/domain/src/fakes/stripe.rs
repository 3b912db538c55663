//! Stripe's customers, subscriptions, prices and sessions in memory.
use crate::ids::{StripeCustomerId, SubjectId};
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
    customers: Vec<(String, SubjectId, CustomerProfile)>,
    keys: HashMap<String, String>,
    subscriptions: Vec<(String, String, String)>, // (id, customer, status)
    calls: Vec<String>,
    failures: Vec<(String, bool)>,   // (call prefix, retryable)
    prices: HashMap<String, String>, // lookup key -> price id
    sessions: Vec<RecordedCheckout>,
    /// Subscriptions the lifecycle port acts on, by id.
    plan_subscriptions: Vec<SubscriptionDetails>,
    /// Idempotency key -> the answer a lifecycle write gave, replayed for the same key.
    lifecycle_answers: HashMap<String, SubscriptionDetails>,
    /// Price id -> unit amount, for previews.
    amounts: HashMap<String, i64>,
    /// Schedule id -> the change it makes (`None` once released).
    schedules: HashMap<String, Option<ScheduledChange>>,
}

/// A checkout session the fake created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCheckout {
    pub id: String,
    pub customer: String,
    pub mode: &'static str,
    pub price_id: String,
    pub quantity: u32,
    /// Metered prices added without a quantity (overage).
    pub metered_price_ids: Vec<String>,
    pub idempotency_key: String,
    pub trial: Option<Trial>,
    /// A seat plan's seat line: `(price id, quantity)`.
    pub seats: Option<(String, u64)>,
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

    pub fn customers(&self) -> Vec<(String, SubjectId, CustomerProfile)> {
        self.state.lock().unwrap().customers.clone()
    }

    /// Every call made, e.g. `create_customer user_1`, `update_customer cus_1`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// A subscription on no price in particular, for both the webhooks' port and the lifecycle port.
    pub fn add_subscription(&self, id: &str, customer: &str, status: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .subscriptions
            .push((id.into(), customer.into(), status.into()));
        state.plan_subscriptions.push(SubscriptionDetails {
            id: id.into(),
            customer: customer.into(),
            status: status.into(),
            items: Vec::new(),
            cancel_at_period_end: false,
            current_period_end: None,
            trial_end: None,
            user: None,
            schedule: None,
            writes: 0,
        });
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

    /// `canceling` for a live subscription canceled at the period end.
    pub fn subscription_status(&self, id: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        if let Some(sub) = state.plan_subscriptions.iter().find(|s| s.id == id) {
            let canceling = sub.cancel_at_period_end && sub.status != "canceled";
            return Some(if canceling {
                "canceling".into()
            } else {
                sub.status.clone()
            });
        }
        state
            .subscriptions
            .iter()
            .find(|s| s.0 == id)
            .map(|s| s.2.clone())
    }

    /// Adds a subscription for the lifecycle port (cancel, resume, change).
    /// Adds a subscription, or replaces the one with its id (keeping its place in creation order).
    pub fn add_plan_subscription(&self, subscription: SubscriptionDetails) {
        let mut state = self.state.lock().unwrap();
        match state
            .plan_subscriptions
            .iter_mut()
            .find(|s| s.id == subscription.id)
        {
            Some(existing) => *existing = subscription,
            None => state.plan_subscriptions.push(subscription),
        }
    }

    /// A subscription of the lifecycle port as it is now.
    pub fn plan_subscription(&self, id: &str) -> Option<SubscriptionDetails> {
        let state = self.state.lock().unwrap();
        state
            .plan_subscriptions
            .iter()
            .find(|s| s.id == id)
            .cloned()
    }

    /// The unit amount of a price, used by previews.
    pub fn set_amount(&self, price_id: &str, amount: i64) {
        self.state
            .lock()
            .unwrap()
            .amounts
            .insert(price_id.into(), amount);
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
        user: &SubjectId,
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

    async fn live_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<crate::entitlements::SubscriptionState>, StripeError> {
        let state = self.enter(format!("live_subscriptions {customer}"))?;
        // The fake's subscriptions carry no items: each counts as a plan subscription.
        Ok(state
            .subscriptions
            .iter()
            .filter(|s| s.1 == customer.as_str() && crate::entitlements::is_live_status(&s.2))
            .map(|s| crate::entitlements::SubscriptionState {
                id: s.0.clone(),
                status: s.2.clone(),
                items: Vec::new(),
                current_period_end: None,
                cancel_at_period_end: false,
                trial_end: None,
                next_phase: None,
            })
            .collect())
    }

    async fn create_checkout_session_with_metered(
        &self,
        request: &CheckoutRequest<'_>,
        metered_price_ids: &[String],
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
                    metered_price_ids: metered_price_ids.to_vec(),
                    idempotency_key: idempotency_key.to_owned(),
                    trial: request.trial,
                    seats: request.seats.map(|l| (l.price_id.to_owned(), l.quantity)),
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
        configuration: &str,
        _idempotency_key: &str,
    ) -> Result<String, StripeError> {
        drop(self.enter(format!("create_portal_session {customer} {configuration}"))?);
        Ok(format!(
            "https://billing.stripe.com/p/session/test_{customer}"
        ))
    }

    async fn setup_portal_configuration(&self) -> Result<Option<String>, StripeError> {
        drop(self.enter("setup_portal_configuration".to_owned())?);
        Ok(Some("bpc_entitle_setup".to_owned()))
    }
}

fn no_such_subscription(id: &str) -> StripeError {
    StripeError::Rejected {
        status: 404,
        code: "resource_missing".into(),
        message: format!("No such subscription: '{id}'"),
    }
}

fn no_such_item() -> StripeError {
    StripeError::Rejected {
        status: 400,
        code: "resource_missing".into(),
        message: "No such subscription item".into(),
    }
}

impl StripeState {
    fn plan_subscription(&mut self, id: &str) -> Result<&mut SubscriptionDetails, StripeError> {
        self.plan_subscriptions
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| no_such_subscription(id))
    }

    /// Runs a write once per idempotency key, like Stripe: a replay gets the first answer.
    fn write(
        &mut self,
        key: &str,
        apply: impl FnOnce(&mut Self) -> Result<SubscriptionDetails, StripeError>,
    ) -> Result<SubscriptionDetails, StripeError> {
        if let Some(answer) = self.lifecycle_answers.get(key) {
            return Ok(answer.clone());
        }
        let answer = apply(self)?;
        self.lifecycle_answers
            .insert(key.to_owned(), answer.clone());
        Ok(answer)
    }
}

#[async_trait]
impl SubscriptionLifecycle for InMemoryStripe {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionDetails>, StripeError> {
        let state = self.enter(format!("subscription {id}"))?;
        Ok(state
            .plan_subscriptions
            .iter()
            .find(|s| s.id == id)
            .cloned())
    }

    async fn subscriptions(&self, customer: &str) -> Result<Vec<SubscriptionDetails>, StripeError> {
        let state = self.enter(format!("subscriptions {customer}"))?;
        Ok(state
            .plan_subscriptions
            .iter()
            .rev()
            .filter(|s| s.customer == customer)
            .cloned()
            .collect())
    }

    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
        writes: u64,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut state = self.enter(format!(
            "set_cancel_at_period_end {id} {cancel} {idempotency_key}"
        ))?;
        state.write(idempotency_key, |state| {
            let sub = state.plan_subscription(id)?;
            if sub.status == "canceled" {
                return Err(StripeError::Rejected {
                    status: 400,
                    code: "parameter_invalid".into(),
                    message: "A canceled subscription can only update its metadata.".into(),
                });
            }
            if sub.schedule.is_some() {
                // As Stripe: a subscription managed by a schedule changes its cancelation through it.
                return Err(StripeError::Rejected {
                    status: 400,
                    code: "parameter_invalid".into(),
                    message: "The subscription is managed by a subscription schedule".into(),
                });
            }
            sub.cancel_at_period_end = cancel;
            sub.writes = writes;
            Ok(sub.clone())
        })
    }

    async fn cancel_now(
        &self,
        id: &str,
        options: CancelNow,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut state = self.enter(format!(
            "cancel_now {id} prorate={} invoice_now={} {idempotency_key}",
            options.prorate, options.invoice_now
        ))?;
        state.write(idempotency_key, |state| {
            let sub = state.plan_subscription(id)?;
            if sub.status == "canceled" {
                return Err(no_such_subscription(id));
            }
            sub.status = "canceled".into();
            sub.cancel_at_period_end = false;
            Ok(sub.clone())
        })
    }

    async fn preview_plan_change(
        &self,
        change: &PlanChange<'_>,
    ) -> Result<InvoicePreview, StripeError> {
        let mut state = self.enter(format!(
            "preview_plan_change {} {} {}",
            change.subscription,
            change.price_id,
            change.proration.as_str()
        ))?;
        let sub = state.plan_subscription(change.subscription)?.clone();
        let amount = |price: &str| state.amounts.get(price).copied().unwrap_or(0);
        let item = sub
            .items
            .iter()
            .find(|item| item.id == change.item_id)
            .ok_or_else(no_such_item)?;
        let quantity = i64::try_from(change.quantity).unwrap_or(i64::MAX);
        let (old, new) = (
            amount(&item.price_id) * quantity,
            amount(change.price_id) * quantity,
        );
        // Half the period is left: the unused half of the old price is credited, the rest of the new charged.
        let mut lines = Vec::new();
        if change.proration != Proration::None {
            lines.push(PreviewLine {
                description: Some("Unused time".into()),
                amount: -old / 2,
                proration: true,
            });
            lines.push(PreviewLine {
                description: Some("Remaining time".into()),
                amount: new / 2,
                proration: true,
            });
        }
        if change.proration != Proration::AlwaysInvoice {
            lines.push(PreviewLine {
                description: Some("Next period".into()),
                amount: new,
                proration: false,
            });
        }
        let total = lines.iter().map(|l| l.amount).sum();
        Ok(InvoicePreview {
            currency: "usd".into(),
            amount_due: i64::max(total, 0),
            total,
            next_payment_attempt: match change.proration {
                Proration::AlwaysInvoice => None,
                _ => sub.current_period_end,
            },
            lines,
        })
    }

    async fn preview_start(
        &self,
        preview: &StartPreview<'_>,
    ) -> Result<InvoicePreview, StripeError> {
        let state = self.enter(format!(
            "preview_start {} {}",
            preview.customer, preview.start
        ))?;
        let lines: Vec<PreviewLine> = preview
            .items
            .iter()
            .map(|item| PreviewLine {
                description: Some(item.price.clone()),
                amount: state.amounts.get(&item.price).copied().unwrap_or(0)
                    * i64::try_from(item.quantity.unwrap_or(1)).unwrap_or(i64::MAX),
                proration: false,
            })
            .collect();
        let total = lines.iter().map(|l| l.amount).sum();
        Ok(InvoicePreview {
            currency: "usd".into(),
            amount_due: i64::max(total, 0),
            total,
            next_payment_attempt: Some(preview.start),
            lines,
        })
    }

    async fn set_seat_quantity(
        &self,
        change: &SeatQuantity<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut state = self.enter(format!(
            "set_seat_quantity {} {} {} {idempotency_key}",
            change.subscription,
            change.quantity,
            change.proration.as_str()
        ))?;
        let price_id = state.prices.get(change.lookup_key).cloned();
        if change.item_id.is_none() && price_id.is_none() {
            return Err(StripeError::Rejected {
                status: 400,
                code: "resource_missing".into(),
                message: format!("no price has the lookup key {}", change.lookup_key),
            });
        }
        let price_id = price_id.unwrap_or_default();
        state.write(idempotency_key, |state| {
            let sub = state.plan_subscription(change.subscription)?;
            match change.item_id {
                Some(id) => {
                    let item = sub
                        .items
                        .iter_mut()
                        .find(|item| item.id == id)
                        .ok_or_else(no_such_item)?;
                    item.quantity = change.quantity;
                }
                None => {
                    if sub.items.iter().any(|item| item.price_id == price_id) {
                        return Err(StripeError::Rejected {
                            status: 400,
                            code: "parameter_invalid".into(),
                            message: format!(
                                "Cannot add multiple subscription items with the same plan: {price_id}"
                            ),
                        });
                    }
                    let id = format!("si_seats{}", sub.items.len() + 1);
                    sub.items.push(ItemDetails::licensed(
                        &id,
                        &price_id,
                        Some(change.lookup_key),
                        change.quantity,
                    ));
                }
            }
            Ok(sub.clone())
        })
    }

    async fn change_plan(
        &self,
        change: &PlanChange<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut state = self.enter(format!(
            "change_plan {} {} {} {idempotency_key}",
            change.subscription,
            change.price_id,
            change.proration.as_str()
        ))?;
        let lookup_key = state
            .prices
            .iter()
            .find(|(_, id)| id.as_str() == change.price_id)
            .map(|(key, _)| key.clone());
        state.write(idempotency_key, |state| {
            let sub = state.plan_subscription(change.subscription)?;
            let item = sub
                .items
                .iter_mut()
                .find(|item| item.id == change.item_id)
                .ok_or_else(no_such_item)?;
            item.price_id = change.price_id.to_owned();
            item.lookup_key = lookup_key;
            item.catalog_id = None;
            item.quantity = change.quantity;
            sub.writes = change.writes;
            Ok(sub.clone())
        })
    }

    async fn scheduled_change(
        &self,
        schedule: &str,
    ) -> Result<Option<ScheduledChange>, StripeError> {
        let state = self.enter(format!("scheduled_change {schedule}"))?;
        Ok(state.schedules.get(schedule).cloned().flatten())
    }

    async fn schedule_plan_change(
        &self,
        change: &PeriodEndChange<'_>,
        idempotency_key: &str,
    ) -> Result<ScheduledChange, StripeError> {
        let prices: Vec<&str> = change.next.iter().map(|i| i.price.as_str()).collect();
        let mut state = self.enter(format!(
            "schedule_plan_change {} {} {idempotency_key}",
            change.subscription,
            prices.join(",")
        ))?;
        let lookup_key = |state: &StripeState, price: &str| {
            state
                .prices
                .iter()
                .find(|(_, id)| id.as_str() == price)
                .map(|(key, _)| key.clone())
        };
        let items = change
            .next
            .iter()
            .map(|item| PhasePrice {
                price_id: item.price.clone(),
                lookup_key: lookup_key(&state, &item.price),
                quantity: item.quantity,
            })
            .collect();
        let count = state.schedules.len();
        let sub = state.plan_subscription(change.subscription)?;
        let at = sub.current_period_end.unwrap_or_default();
        let id = sub
            .schedule
            .get_or_insert_with(|| format!("sub_sched_{}", count + 1))
            .clone();
        let scheduled = ScheduledChange { items, at };
        state.schedules.insert(id, Some(scheduled.clone()));
        Ok(scheduled)
    }

    async fn release_schedule(
        &self,
        schedule: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let mut state = self.enter(format!("release_schedule {schedule} {idempotency_key}"))?;
        state.schedules.insert(schedule.to_owned(), None);
        for sub in &mut state.plan_subscriptions {
            if sub.schedule.as_deref() == Some(schedule) {
                sub.schedule = None;
            }
        }
        Ok(())
    }
}
