//! `StripeReader` on the Stripe API: the current state of subscriptions, customers and Checkout sessions,
//! read with async-stripe's typed requests and turned into domain types here.
use super::client::{answer_as, path_segment, StripeClient, Transport};
use super::objects::{expandable_id, Customer, LineItem as Line, List, Subscription};
use async_trait::async_trait;
use entitle_domain::entitlements::{NextPhase, SubscriptionItem, SubscriptionState};
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{LineItem, StripeError, StripeReader};
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::ListLineItemsCheckoutSession;
use stripe_core::customer::RetrieveCustomer;

pub(crate) fn subscription_state(subscription: &Subscription) -> SubscriptionState {
    let items = &subscription.items.data;
    SubscriptionState {
        id: subscription.id.to_string(),
        status: subscription.status.as_str().to_owned(),
        items: items
            .iter()
            .map(|item| SubscriptionItem {
                id: Some(item.id.clone()),
                catalog_id: item
                    .price
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("entitle").cloned()),
                ..SubscriptionItem::new(
                    item.price.id.to_string(),
                    item.price.lookup_key.clone(),
                    item.quantity.unwrap_or(1),
                )
            })
            .collect(),
        // Since 2025-03-31 the period lives on the items.
        current_period_end: items.first().map(|item| item.current_period_end),
        cancel_at_period_end: subscription.cancel_at_period_end,
        trial_end: subscription.trial_end,
        next_phase: None,
    }
}

impl StripeClient {
    /// The state with its schedule's next phase: one more read, only for a live subscription that has a
    /// schedule (a plan change at the period end).
    async fn with_next_phase(
        &self,
        subscription: &Subscription,
    ) -> Result<SubscriptionState, StripeError> {
        let mut state = subscription_state(subscription);
        let schedule = subscription.schedule.as_ref().and_then(expandable_id);
        if let Some(schedule) = schedule.filter(|_| state.is_live()) {
            state.next_phase =
                self.next_scheduled_change(schedule)
                    .await?
                    .map(|change| NextPhase {
                        at: change.at,
                        items: change
                            .items
                            .into_iter()
                            .map(|i| {
                                SubscriptionItem::new(
                                    i.price_id,
                                    i.lookup_key,
                                    i.quantity.unwrap_or(1),
                                )
                            })
                            .collect(),
                    });
        }
        Ok(state)
    }
}

fn not_found(error: &StripeError) -> bool {
    matches!(error, StripeError::Rejected { status: 404, .. })
}

#[async_trait]
impl StripeReader for StripeClient {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionState>, StripeError> {
        match answer_as::<Subscription>(&RetrieveSubscription::new(path_segment(id)))
            .send(self)
            .await
            .map_err(StripeError::from)
        {
            Ok(subscription) => Ok(Some(self.with_next_phase(&subscription).await?)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn customer_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SubscriptionState>, StripeError> {
        let mut states = Vec::new();
        for subscription in self.subscriptions_of(customer).await? {
            states.push(self.with_next_phase(&subscription).await?);
        }
        Ok(states)
    }

    async fn customer_user(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StripeError> {
        match answer_as::<Customer>(&RetrieveCustomer::new(path_segment(customer.as_str())))
            .send(self)
            .await
        {
            Ok(Customer {
                deleted: Some(true),
                ..
            }) => Ok(None),
            Ok(customer) => Ok(customer
                .metadata
                .as_ref()
                .and_then(|metadata| {
                    metadata
                        .get("clerkUserId")
                        .or_else(|| metadata.get("clerkOrgId"))
                })
                .and_then(|user| SubjectId::parse(user).ok())),
            Err(Transport(e)) if not_found(&e) => Ok(None),
            Err(Transport(e)) => Err(e),
        }
    }

    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError> {
        let request = ListLineItemsCheckoutSession::new(path_segment(session_id)).limit(100);
        let lines: List<Line> = answer_as(&request).send(self).await?;
        Ok(lines
            .data
            .into_iter()
            .filter_map(|line| {
                let price = line.price?;
                Some((price.id, price.lookup_key, line.quantity.unwrap_or(1)))
            })
            .collect())
    }
}
