//! One billing event → the user's entitlements.
//!
//! Order and duplicates don't matter because an event is only a prompt: the *current* state of every
//! subscription of the user's customer is read from Stripe and the entitlements recomputed from all of it
//! ([`sync_user`]), every write conditional on the version read before that Stripe read. Credits are the one
//! additive change ([`add_credits`]: once per checkout, by a ledger row in the same transaction). See
//! docs/architecture.md.
use super::credits::add_credits;
use super::deps::Deps;
use super::failure::Failure;
use super::history::EventRef;
use super::overage;
use super::seats;
use super::sync::{sync_user, Prompt};
use entitle_domain::event::{BillingEvent, CheckoutData, EventData, EventType};
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::time::UnixTime;

/// Applies `event`; returns the user whose entitlements it concerns, if any.
pub async fn apply(
    deps: &Deps,
    event: &BillingEvent,
    now: UnixTime,
) -> Result<Option<SubjectId>, Failure> {
    use EventType as T;
    match (event.event_type, &event.data) {
        (
            T::SubscriptionCreated | T::SubscriptionUpdated | T::SubscriptionCanceled,
            EventData::Subscription(subscription),
        ) => {
            // The event that says the subscription is past due: a payment failed.
            let failed =
                event.event_type == T::SubscriptionUpdated && subscription.status == "past_due";
            recompute(
                deps,
                event,
                Some(&subscription.subscription_id),
                failed,
                now,
            )
            .await
        }
        (T::SubscriptionScheduleChanged, EventData::Schedule(schedule)) => {
            recompute(deps, event, schedule.subscription_id.as_deref(), false, now).await
        }
        (T::InvoicePaid | T::InvoicePaymentFailed, EventData::Invoice(invoice)) => {
            let failed = event.event_type == T::InvoicePaymentFailed;
            recompute(deps, event, invoice.subscription_id.as_deref(), failed, now).await
        }
        (T::CheckoutCompleted, EventData::Checkout(checkout)) => {
            checkout_completed(deps, event, checkout, now).await
        }
        // Metered use beyond the plan's included amount: billed through Stripe's meter.
        (T::UsageRecorded, EventData::Recorded(usage)) => {
            let at = UnixTime::parse_rfc3339(&event.occurred_at);
            overage::report(deps, usage, at, now).await?;
            Ok(None)
        }
        // An organization's members changed: its seats are recounted from Clerk.
        (T::OrganizationMembersChanged, EventData::Members(_)) => {
            let org = resolve_user(deps, event).await?;
            seats::recount(deps, &org, now).await?;
            seats::bill(deps, &org).await?;
            Ok(Some(org))
        }
        // subscription.trial_will_end, user.*, customer.linked, payment.*, usage.limit_reached,
        // credits.low, and our own entitlements.changed: nothing to apply.
        _ => Ok(None),
    }
}

/// Recomputes the entitlements of the event's user, prompted by `subscription` (an invoice outside any
/// subscription grants nothing). `failed`: the event says a payment failed — at the event's time, Stripe's,
/// not ours, so a late or redriven delivery does not extend the grace.
async fn recompute(
    deps: &Deps,
    event: &BillingEvent,
    subscription: Option<&str>,
    failed: bool,
    now: UnixTime,
) -> Result<Option<SubjectId>, Failure> {
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    let user = resolve_user(deps, event).await?;
    let prompt = Prompt {
        subscription: Some(subscription),
        failed_at: failed
            .then(|| UnixTime::parse_rfc3339(&event.occurred_at))
            .flatten(),
        event: Some(event_ref(event)),
    };
    let customer = customer_of(deps, &user, event).await?;
    sync_user(deps, &user, customer.as_ref(), prompt, now).await?;
    Ok(Some(user))
}

/// A completed checkout: a subscription's (recomputed from Stripe) or a paid credit pack's.
async fn checkout_completed(
    deps: &Deps,
    event: &BillingEvent,
    checkout: &CheckoutData,
    now: UnixTime,
) -> Result<Option<SubjectId>, Failure> {
    let user = resolve_user(deps, event).await?;
    match (checkout.mode.as_str(), checkout.subscription_id.as_deref()) {
        ("subscription", Some(subscription)) => {
            let prompt = Prompt {
                subscription: Some(subscription),
                failed_at: None,
                event: Some(event_ref(event)),
            };
            let customer = customer_of(deps, &user, event).await?;
            sync_user(deps, &user, customer.as_ref(), prompt, now).await?;
        }
        ("payment", _) if checkout.payment_status.as_deref() == Some("paid") => {
            add_credits(deps, &user, &checkout.session_id, now).await?;
        }
        _ => {}
    }
    Ok(Some(user))
}

/// The event, as a version's provenance names it.
fn event_ref(event: &BillingEvent) -> EventRef<'_> {
    EventRef {
        id: event.id.as_str(),
        event_type: event.event_type.as_str(),
    }
}

/// The event's user: its `userId`, else the customers table, else the Stripe customer's metadata.
async fn resolve_user(deps: &Deps, event: &BillingEvent) -> Result<SubjectId, Failure> {
    if let Some(user) = &event.user_id {
        return Ok(user.clone());
    }
    let customer = event.stripe_customer_id.clone().ok_or_else(|| {
        Failure::Permanent("the event names neither a user nor a customer".into())
    })?;
    if let Some(user) = deps.customers.user_for_customer(&customer).await? {
        return Ok(user);
    }
    if let Some(user) = deps.stripe.customer_user(&customer).await? {
        return Ok(user);
    }
    entitle_core::metrics::count("UnresolvedUsers", 1);
    Err(Failure::Permanent(format!(
        "no user for customer {customer}"
    )))
}

/// The customer whose subscriptions make the user's entitlements: the one the event names (Stripe's
/// customer of the subscription), else the user's linked customer. Entitle keeps one customer per user
/// (`ensure_customer`), so these are the same customer.
async fn customer_of(
    deps: &Deps,
    user: &SubjectId,
    event: &BillingEvent,
) -> Result<Option<StripeCustomerId>, Failure> {
    if let Some(customer) = &event.stripe_customer_id {
        return Ok(Some(customer.clone()));
    }
    Ok(deps
        .customers
        .get(user)
        .await?
        .and_then(|link| link.customer))
}
