//! `StripeReader` on the Stripe API: the current state of subscriptions, customers and Checkout sessions,
//! read with async-stripe's typed requests and turned into domain types here.
use super::stripe_client::{path_segment, StripeClient, Transport};
use async_trait::async_trait;
use entitle_domain::entitlements::{SubscriptionItem, SubscriptionState};
use entitle_domain::ids::{StripeCustomerId, UserId};
use entitle_domain::ports::{LineItem, StripeError, StripeReader};
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::ListLineItemsCheckoutSession;
use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_shared::Subscription;

pub(crate) fn subscription_state(subscription: &Subscription) -> SubscriptionState {
    let items = &subscription.items.data;
    SubscriptionState {
        id: subscription.id.to_string(),
        status: subscription.status.as_str().to_owned(),
        items: items
            .iter()
            .map(|item| SubscriptionItem {
                catalog_id: item.price.metadata.get("entitle").cloned(),
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
    }
}

fn not_found(error: &StripeError) -> bool {
    matches!(error, StripeError::Rejected { status: 404, .. })
}

#[async_trait]
impl StripeReader for StripeClient {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionState>, StripeError> {
        match RetrieveSubscription::new(path_segment(id))
            .send(self)
            .await
            .map_err(StripeError::from)
        {
            Ok(subscription) => Ok(Some(subscription_state(&subscription))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn customer_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SubscriptionState>, StripeError> {
        Ok(self
            .subscriptions_of(customer)
            .await?
            .iter()
            .map(subscription_state)
            .collect())
    }

    async fn customer_user(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StripeError> {
        match RetrieveCustomer::new(path_segment(customer.as_str()))
            .send(self)
            .await
        {
            Ok(RetrieveCustomerReturned::Customer(customer)) => Ok(customer
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get("clerkUserId"))
                .and_then(|user| UserId::parse(user).ok())),
            Ok(RetrieveCustomerReturned::DeletedCustomer(_)) => Ok(None),
            Err(Transport(e)) if not_found(&e) => Ok(None),
            Err(Transport(e)) => Err(e),
        }
    }

    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError> {
        let lines = ListLineItemsCheckoutSession::new(path_segment(session_id))
            .limit(100)
            .send(self)
            .await?;
        Ok(lines
            .data
            .into_iter()
            .filter_map(|line| {
                let price = line.price?;
                Some((
                    price.id.to_string(),
                    price.lookup_key,
                    line.quantity.unwrap_or(1),
                ))
            })
            .collect())
    }
}
