//! `StripeBilling` on the Stripe API: Checkout sessions, billing portal sessions, price lookups, with
//! async-stripe's typed requests.
use super::client::{answer_as, idempotent, StripeClient};
use super::objects::{CheckoutSession as Session, List, Object, PortalSession};
use async_trait::async_trait;
use entitle_domain::entitlements::is_live_status;
use entitle_domain::entitlements::SubscriptionState;
use entitle_domain::ids::{StripeCustomerId, SubjectId, SubjectKind};
use entitle_domain::ports::{
    CheckoutMode, CheckoutRequest, CheckoutSession, StripeBilling, StripeError,
};
use std::collections::HashMap;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionPaymentMethodCollection, CreateCheckoutSessionSubscriptionData,
    CreateCheckoutSessionSubscriptionDataTrialSettings,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehaviorMissingPaymentMethod as MissingPaymentMethod,
};
use stripe_product::price::ListPrice;
use stripe_shared::CheckoutSessionMode;

fn missing(field: &str) -> StripeError {
    StripeError::Unavailable(format!("Stripe's answer has no {field}").into())
}

#[async_trait]
impl StripeBilling for StripeClient {
    async fn price_for_lookup_key(&self, lookup_key: &str) -> Result<Option<String>, StripeError> {
        let request = ListPrice::new()
            .lookup_keys(vec![lookup_key.to_owned()])
            .active(true)
            .limit(1);
        let prices: List<Object> = answer_as(&request).send(self).await?;
        Ok(prices.data.into_iter().next().map(|price| price.id))
    }

    async fn live_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SubscriptionState>, StripeError> {
        Ok(self
            .subscriptions_of(customer)
            .await?
            .iter()
            .filter(|s| is_live_status(s.status.as_str()))
            .map(super::reader::subscription_state)
            .collect())
    }

    async fn create_checkout_session_with_metered(
        &self,
        request: &CheckoutRequest<'_>,
        metered_price_ids: &[String],
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let user = || {
            HashMap::from([(
                subject_key(request.user, "userId", "orgId").to_owned(),
                request.user.to_string(),
            )])
        };
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(request.price_id.to_owned());
        line.quantity = Some(request.quantity.into());
        let mut lines = vec![line];
        if let Some(seats) = request.seats {
            let mut seat = CreateCheckoutSessionLineItems::new();
            seat.price = Some(seats.price_id.to_owned());
            seat.quantity = Some(seats.quantity);
            lines.push(seat);
        }
        // Metered prices take no quantity: Stripe bills what their meter reports.
        for price in metered_price_ids {
            let mut metered = CreateCheckoutSessionLineItems::new();
            metered.price = Some(price.clone());
            lines.push(metered);
        }
        let mut create = CreateCheckoutSession::new()
            .customer(request.customer.to_string())
            .client_reference_id(request.user.to_string())
            .line_items(lines)
            .success_url(request.success_url)
            .cancel_url(request.cancel_url)
            .metadata(user());
        // Session metadata does not reach the subscription or payment: set it there too, so every later
        // event about them names the user.
        create = match request.mode {
            CheckoutMode::Subscription => {
                let mut data = CreateCheckoutSessionSubscriptionData::new();
                data.metadata = Some(user());
                let mut create = create.mode(CheckoutSessionMode::Subscription);
                if let Some(trial) = request.trial {
                    data.trial_period_days = Some(trial.days);
                    if !trial.requires_payment_method {
                        data.trial_settings =
                            Some(CreateCheckoutSessionSubscriptionDataTrialSettings {
                                end_behavior:
                                    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior {
                                        missing_payment_method: MissingPaymentMethod::Cancel,
                                    },
                            });
                        create = create.payment_method_collection(
                            CreateCheckoutSessionPaymentMethodCollection::IfRequired,
                        );
                    }
                }
                create.subscription_data(data)
            }
            CheckoutMode::Payment => {
                let mut data = CreateCheckoutSessionPaymentIntentData::new();
                data.metadata = Some(user());
                create
                    .mode(CheckoutSessionMode::Payment)
                    .payment_intent_data(data)
            }
        };
        if request.allow_promotion_codes {
            create = create.allow_promotion_codes(true);
        }
        let session: Session = idempotent(answer_as(&create), idempotency_key)?
            .send(self)
            .await?;
        Ok(CheckoutSession {
            id: session.id,
            url: session.url.ok_or_else(|| missing("url"))?,
        })
    }

    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        return_url: &str,
        configuration: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let create = CreateBillingPortalSession::new()
            .customer(customer.to_string())
            .configuration(configuration)
            .return_url(return_url);
        let session: PortalSession = idempotent(answer_as(&create), idempotency_key)?
            .send(self)
            .await?;
        Ok(session.url)
    }

    async fn setup_portal_configuration(&self) -> Result<Option<String>, StripeError> {
        let page = self
            .get("/v1/billing_portal/configurations?active=true&limit=100")
            .await?;
        Ok(page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["metadata"]["entitle"] == "setup")
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned))
    }
}

/// The metadata key that names `subject` on an object: `user` for a user, `org` for an organization.
pub(crate) fn subject_key(
    subject: &SubjectId,
    user: &'static str,
    org: &'static str,
) -> &'static str {
    match subject.kind() {
        SubjectKind::User => user,
        SubjectKind::Organization => org,
    }
}
