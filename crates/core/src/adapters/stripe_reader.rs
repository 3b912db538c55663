//! `StripeReader` on the Stripe API: the current state of subscriptions, customers and Checkout sessions.
use super::stripe_client::{path_segment, StripeClient};
use async_trait::async_trait;
use entitle_domain::entitlements::SubscriptionState;
use entitle_domain::ids::{StripeCustomerId, UserId};
use entitle_domain::ports::{LineItem, StripeError, StripeReader};
use serde_json::Value;

fn subscription_state(value: &Value) -> Option<SubscriptionState> {
    let items = value["items"]["data"].as_array()?;
    Some(SubscriptionState {
        id: value["id"].as_str()?.to_owned(),
        status: value["status"].as_str()?.to_owned(),
        prices: items
            .iter()
            .filter_map(|item| {
                let price = &item["price"];
                Some((
                    price["id"].as_str()?.to_owned(),
                    price["lookup_key"].as_str().map(str::to_owned),
                ))
            })
            .collect(),
        // Since 2025-03-31 the period lives on the items.
        current_period_end: value["current_period_end"]
            .as_i64()
            .or_else(|| items.first().and_then(|i| i["current_period_end"].as_i64())),
        cancel_at_period_end: value["cancel_at_period_end"].as_bool().unwrap_or(false),
    })
}

fn not_found(error: &StripeError) -> bool {
    matches!(error, StripeError::Rejected { status: 404, .. })
}

#[async_trait]
impl StripeReader for StripeClient {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionState>, StripeError> {
        match self
            .get(&format!("/v1/subscriptions/{}", path_segment(id)))
            .await
        {
            Ok(value) => Ok(subscription_state(&value)),
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
            .filter_map(subscription_state)
            .collect())
    }

    async fn customer_user(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StripeError> {
        match self
            .get(&format!(
                "/v1/customers/{}",
                path_segment(customer.as_str())
            ))
            .await
        {
            Ok(value) => Ok(value["metadata"]["clerkUserId"]
                .as_str()
                .and_then(|u| UserId::parse(u).ok())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError> {
        let list = self
            .get(&format!(
                "/v1/checkout/sessions/{}/line_items?limit=100",
                path_segment(session_id)
            ))
            .await?;
        Ok(list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|line| {
                let price = &line["price"];
                Some((
                    price["id"].as_str()?.to_owned(),
                    price["lookup_key"].as_str().map(str::to_owned),
                    line["quantity"].as_u64().unwrap_or(1),
                ))
            })
            .collect())
    }
}
