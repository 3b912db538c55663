//! `POST /checkout`: a Stripe Checkout session for a catalog price, on the user's own customer.
use crate::billing_api::answer::Checkout;
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::customers::{ensure_customer, EnsureError};
use entitle_domain::entitlements::{Status, SubscriptionState};
use entitle_domain::ids::{SubjectId, SubjectKind};
use entitle_domain::plans::{CatalogPrice, PriceMatch};
use entitle_domain::ports::{
    CheckoutMode, CheckoutRequest, ClerkError, SeatLine, StripeError, Trial,
};
use entitle_domain::time::UnixTime;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The most units of an add-on one checkout may buy (a plan is bought once).
const ADDON_MAX_QUANTITY: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    /// A Stripe price id or lookup key from the plan catalog.
    pub price: String,
    pub quantity: Option<u32>,
    pub success_url: String,
    pub cancel_url: String,
    #[serde(default)]
    pub allow_promotion_codes: bool,
}

/// Repeated submissions of the same checkout within this window get the same session.
const IDEMPOTENCY_WINDOW_SECS: i64 = 600;

pub async fn create(
    deps: &Deps,
    user: &SubjectId,
    body: Body,
    now: UnixTime,
) -> Result<Checkout, ApiError> {
    for url in [&body.success_url, &body.cancel_url] {
        if !deps.config.redirect_origins.allows_url(url) {
            return Err(ApiError::bad_request(
                "redirect_not_allowed",
                "successUrl and cancelUrl must be on an allowed origin",
            ));
        }
    }
    let Some(matched) = deps.catalog.price(&body.price) else {
        return Err(ApiError::bad_request(
            "unknown_price",
            "the price is not in the plan catalog",
        ));
    };
    if !matched.self_serve() {
        return Err(ApiError::bad_request(
            "contact_sales",
            "this plan is sold by our sales team, not through checkout",
        ));
    }
    if let PriceMatch::Subscription { plan, .. } = &matched {
        if !plan.audience.admits(user.kind()) {
            return Err(ApiError::bad_request(
                "plan_not_for_subject",
                match user.kind() {
                    SubjectKind::User => {
                        "this plan is for organizations: switch to your organization first"
                    }
                    SubjectKind::Organization => "this plan is for a person, not an organization",
                },
            ));
        }
    }
    let (mode, price, max_quantity) = match &matched {
        PriceMatch::Subscription { plan, price } if plan.addon => {
            (CheckoutMode::Subscription, *price, ADDON_MAX_QUANTITY)
        }
        PriceMatch::Subscription { price, .. } => (CheckoutMode::Subscription, *price, 1),
        PriceMatch::CreditPack { pack, price } => {
            (CheckoutMode::Payment, *price, pack.max_quantity)
        }
    };
    let quantity = body.quantity.unwrap_or(1);
    if quantity == 0 || quantity > max_quantity {
        return Err(ApiError::bad_request(
            "quantity_not_allowed",
            format!("quantity must be between 1 and {max_quantity} for this price"),
        ));
    }
    let price_id = price_id(deps, price.id.as_deref(), price.lookup_key.as_deref()).await?;
    // A plan that bills overage: its metered prices of the same interval join the subscription.
    let mut metered_price_ids = Vec::new();
    if let PriceMatch::Subscription { plan, .. } = &matched {
        for overage in plan
            .overage_prices()
            .into_iter()
            .filter(|o| Some(o.interval) == price.interval)
        {
            metered_price_ids.push(self::price_id(deps, None, Some(&overage.lookup_key)).await?);
        }
    }
    let customer = ensure_customer(
        deps.customers.as_ref(),
        deps.stripe_customers.as_ref(),
        user,
    )
    .await
    .map_err(ensure_error)?
    .customer;
    let addon = matches!(&matched, PriceMatch::Subscription { plan, .. } if plan.addon);
    // One live base plan per user; add-ons are sold beside it (or beside the free plan).
    if mode == CheckoutMode::Subscription && !addon {
        // What Entitle knows first: a live plan from a subscription, wherever that subscription lives (it may
        // be on another customer that names the user), then what Stripe says of the user's customer.
        let stored = deps.entitlements.get(user).await.map_err(|e| {
            tracing::error!(error = %e, "reading entitlements failed");
            ApiError::unavailable()
        })?;
        if let Some(live) = stored
            .map(|e| e.effective(now, &deps.catalog))
            .filter(|e| e.status != Status::Free)
            .and_then(|e| e.subscription_id)
        {
            tracing::info!(subscription_id = %live, "refused a second subscription (entitlements)");
            return Err(subscription_exists());
        }
        // A subscription made only of add-ons does not count: add-ons are sold beside a plan.
        let only_addons = |s: &SubscriptionState| {
            !s.items.is_empty()
                && s.items
                    .iter()
                    .all(|i| i.plan(&deps.catalog).is_some_and(|p| p.addon))
        };
        if let Some(subscription) = deps
            .billing
            .live_subscriptions(&customer)
            .await
            .map_err(stripe_error)?
            .into_iter()
            .find(|s| !only_addons(s))
            .map(|s| s.id)
        {
            tracing::info!(subscription_id = %subscription, "refused a second subscription");
            return Err(subscription_exists());
        }
    }
    let seats = seat_line(deps, user, &matched, price).await?;
    let request = CheckoutRequest {
        user,
        customer: &customer,
        mode,
        price_id: &price_id,
        quantity,
        success_url: &body.success_url,
        cancel_url: &body.cancel_url,
        allow_promotion_codes: body.allow_promotion_codes,
        trial: price.trial_days.map(|days| Trial {
            days,
            requires_payment_method: price.trial_requires_payment_method.unwrap_or(true),
        }),
        seats: seats.as_ref().map(|(price_id, quantity)| SeatLine {
            price_id,
            quantity: *quantity,
        }),
    };
    let key = idempotency_key(&request, &metered_price_ids, now);
    let session = deps
        .billing
        .create_checkout_session_with_metered(&request, &metered_price_ids, &key)
        .await
        .map_err(stripe_error)?;
    tracing::info!(session_id = %session.id, mode = mode.as_str(), "created a checkout session");
    Ok(Checkout {
        customer_id: customer.as_str().to_owned(),
        session_id: session.id,
        url: session.url,
    })
}

/// A seat plan bought by an organization starts with its seats beyond the included ones, counted from Clerk
/// now (members, and pending invitations when the plan counts them): the seat price of the checkout's interval
/// × that many. `None` for any other checkout, and when no seat is beyond the included ones (the processor
/// adds the seat item once there is one).
async fn seat_line(
    deps: &Deps,
    user: &SubjectId,
    matched: &PriceMatch<'_>,
    price: &CatalogPrice,
) -> Result<Option<(String, u64)>, ApiError> {
    let PriceMatch::Subscription { plan, .. } = matched else {
        return Ok(None);
    };
    let (Some(seats), Some(org)) = (plan.seats.as_ref(), user.organization()) else {
        return Ok(None);
    };
    let Some(members) = &deps.members else {
        return Err(ApiError::not_configured());
    };
    let count = members
        .count(&org, seats.count_invitations)
        .await
        .map_err(|e| match e {
            ClerkError::Unavailable(_) => ApiError::unavailable(),
            other => {
                tracing::error!(error = %other, "Clerk refused the seat count");
                ApiError::bad_gateway(
                    "clerk_refused",
                    "the organization's seats could not be counted",
                )
            }
        })?;
    let billed = seats.billed(count);
    if billed == 0 {
        return Ok(None);
    }
    let Some(seat_price) = seats.prices.iter().find(|p| p.interval == price.interval) else {
        return Ok(None);
    };
    let id = price_id(
        deps,
        seat_price.id.as_deref(),
        seat_price.lookup_key.as_deref(),
    )
    .await?;
    Ok(Some((id, billed)))
}

fn subscription_exists() -> ApiError {
    ApiError::conflict(
        "subscription_exists",
        "you already have a subscription: change plans with POST /subscription/change or in the billing portal (POST /portal)",
    )
}

/// The catalog names a price by id or lookup key; Checkout needs the id.
pub(crate) async fn price_id(
    deps: &Deps,
    id: Option<&str>,
    lookup_key: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(id) = id {
        return Ok(id.to_owned());
    }
    let lookup_key = lookup_key.expect("the catalog guarantees an id or a lookup key");
    if let Some(id) = deps.price_ids.lock().expect("not poisoned").get(lookup_key) {
        return Ok(id.clone());
    }
    match deps
        .billing
        .price_for_lookup_key(lookup_key)
        .await
        .map_err(stripe_error)?
    {
        Some(id) => {
            deps.price_ids
                .lock()
                .expect("not poisoned")
                .insert(lookup_key.to_owned(), id.clone());
            Ok(id)
        }
        None => {
            tracing::error!(
                lookup_key,
                "a catalog lookup key has no active price in Stripe"
            );
            Err(ApiError::bad_gateway(
                "price_unavailable",
                "this price is not available right now",
            ))
        }
    }
}

fn idempotency_key(request: &CheckoutRequest<'_>, metered: &[String], now: UnixTime) -> String {
    let mut hash = Sha256::new();
    // Without metered prices or seats, the key is the one it always was.
    for price in metered {
        hash.update(price.as_bytes());
        hash.update([1]);
    }
    // Another seat count is another intent: never the same Stripe session.
    if let Some(seats) = request.seats {
        hash.update(seats.price_id.as_bytes());
        hash.update(seats.quantity.to_string().as_bytes());
        hash.update([2]);
    }
    for part in [
        request.user.as_str(),
        request.price_id,
        &request.quantity.to_string(),
        request.success_url,
        request.cancel_url,
        if request.allow_promotion_codes {
            "promo"
        } else {
            ""
        },
        &(now.secs() / IDEMPOTENCY_WINDOW_SECS).to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("entitle-checkout-{}", &hex::encode(hash.finalize())[..32])
}

pub(crate) fn stripe_error(error: StripeError) -> ApiError {
    if error.is_retryable() {
        tracing::warn!(error = %error, "Stripe is unavailable");
        ApiError::unavailable()
    } else {
        tracing::error!(error = %error, "Stripe rejected the request");
        ApiError::bad_gateway(
            "payment_provider_error",
            "the payment provider refused the request",
        )
    }
}

fn ensure_error(error: EnsureError) -> ApiError {
    match error {
        EnsureError::UserDeleted => ApiError::forbidden("user_deleted", "this account was deleted"),
        EnsureError::Stripe(e) => stripe_error(e),
        error => {
            tracing::warn!(error = %error, "could not get the user's customer");
            ApiError::unavailable()
        }
    }
}
