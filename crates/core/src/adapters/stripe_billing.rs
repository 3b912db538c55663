//! `StripeBilling` on the Stripe API: Checkout sessions, billing portal sessions, price lookups.
use super::stripe_client::StripeClient;
use async_trait::async_trait;
use entitle_domain::ids::StripeCustomerId;
use entitle_domain::ports::{
    CheckoutMode, CheckoutRequest, CheckoutSession, StripeBilling, StripeError,
};
use serde_json::Value;

fn text(value: &Value, field: &str) -> Result<String, StripeError> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| StripeError::Unavailable(format!("Stripe's answer has no {field}").into()))
}

#[async_trait]
impl StripeBilling for StripeClient {
    async fn price_for_lookup_key(&self, lookup_key: &str) -> Result<Option<String>, StripeError> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("lookup_keys[]", lookup_key)
            .append_pair("active", "true")
            .append_pair("limit", "1")
            .finish();
        let list = self.get(&format!("/v1/prices?{query}")).await?;
        Ok(list["data"]
            .as_array()
            .and_then(|prices| prices.first())
            .and_then(|price| price["id"].as_str())
            .map(str::to_owned))
    }

    async fn current_subscription(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<String>, StripeError> {
        Ok(self
            .subscriptions_of(customer)
            .await?
            .iter()
            .filter(|s| {
                matches!(
                    s["status"].as_str(),
                    Some("active" | "trialing" | "past_due")
                )
            })
            .find_map(|s| s["id"].as_str().map(str::to_owned)))
    }

    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let user = request.user.to_string();
        let mut params: Vec<(&str, String)> = vec![
            ("mode", request.mode.as_str().into()),
            ("customer", request.customer.to_string()),
            ("client_reference_id", user.clone()),
            ("line_items[0][price]", request.price_id.into()),
            ("line_items[0][quantity]", request.quantity.to_string()),
            ("success_url", request.success_url.into()),
            ("cancel_url", request.cancel_url.into()),
            ("metadata[userId]", user.clone()),
        ];
        // Session metadata does not reach the subscription or payment: set it there too, so every later
        // event about them names the user.
        params.push(match request.mode {
            CheckoutMode::Subscription => ("subscription_data[metadata][userId]", user),
            CheckoutMode::Payment => ("payment_intent_data[metadata][userId]", user),
        });
        if request.allow_promotion_codes {
            params.push(("allow_promotion_codes", "true".into()));
        }
        let session = self
            .post_form("/v1/checkout/sessions", &params, idempotency_key)
            .await?;
        Ok(CheckoutSession {
            id: text(&session, "id")?,
            url: text(&session, "url")?,
        })
    }

    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let params = [
            ("customer", customer.to_string()),
            ("return_url", return_url.to_owned()),
        ];
        let session = self
            .post_form("/v1/billing_portal/sessions", &params, idempotency_key)
            .await?;
        text(&session, "url")
    }
}
