//! Stopping and resuming a customer's subscriptions as the user asked — the one code path behind
//! billing-api's cancel and resume and clerk-webhook's `user.deleted` — and the idempotency keys of those
//! writes: a schedule managing a subscription is released first (Stripe refuses to change the cancelation
//! of a scheduled subscription directly), add-ons follow their plan.
use crate::entitlements::is_live_status;
use crate::plans::PlanCatalog;
use crate::ports::{
    CancelNow, ScheduledChange, StripeError, SubscriptionDetails, SubscriptionLifecycle,
};
use sha2::{Digest, Sha256};

/// How a subscription stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    AtPeriodEnd,
    Now(CancelNow),
}

impl Stop {
    fn tag(self) -> String {
        match self {
            Stop::AtPeriodEnd => "at_period_end".into(),
            Stop::Now(o) => format!("now/{}/{}", o.prorate, o.invoice_now),
        }
    }
}

/// Where the Stripe idempotency keys of one request come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent<'a> {
    /// The client's `Idempotency-Key`: its retries are one write; a new key is a new intent.
    Client { user: &'a str, key: &'a str },
    /// No key given: the state the write starts from (status, cancelation, items, schedule and Entitle's
    /// write counter) — a double click on one state is one write, and a new intent starts from another state.
    Derived,
    /// A delivered event (its id): every redelivery is the same write.
    Event(&'a str),
}

/// The idempotency key of `action` on `subscription` under `intent`; `extra` names the target (a price…).
pub fn write_key(
    intent: Intent<'_>,
    action: &str,
    subscription: &SubscriptionDetails,
    extra: &[&str],
) -> String {
    let mut hash = Sha256::new();
    let mut part = |text: &str| {
        hash.update(text.as_bytes());
        hash.update([0]);
    };
    match intent {
        Intent::Client { user, key } => {
            part("client");
            part(user);
            part(key);
        }
        Intent::Derived => {
            part("state");
            part(&subscription.status);
            part(&subscription.cancel_at_period_end.to_string());
            part(subscription.schedule.as_deref().unwrap_or("-"));
            part(&subscription.writes.to_string());
            for item in &subscription.items {
                part(&format!("{}:{}:{}", item.id, item.price_id, item.quantity));
            }
        }
        Intent::Event(id) => {
            part("event");
            part(id);
        }
    }
    part(action);
    part(&subscription.id);
    for e in extra {
        part(e);
    }
    format!(
        "entitle-subscription-{}",
        &hex::encode(hash.finalize())[..32]
    )
}

/// A subscription after [`stop`]: its new state and the change its schedule would have made, dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub subscription: SubscriptionDetails,
    pub dropped: Option<ScheduledChange>,
}

/// Whether Stripe can still bill the subscription (anything but ended).
pub fn can_charge(subscription: &SubscriptionDetails) -> bool {
    !matches!(
        subscription.status.as_str(),
        "canceled" | "incomplete_expired"
    )
}

/// Stops `subscription` as `how` says: its schedule released first (the change it would make is dropped and
/// returned), then canceled at the period end or now. Nothing is written when it is already so.
pub async fn stop(
    lifecycle: &dyn SubscriptionLifecycle,
    subscription: &SubscriptionDetails,
    how: Stop,
    intent: Intent<'_>,
) -> Result<Stopped, StripeError> {
    let unchanged = || Stopped {
        subscription: subscription.clone(),
        dropped: None,
    };
    if !can_charge(subscription) || (how == Stop::AtPeriodEnd && subscription.cancel_at_period_end)
    {
        return Ok(unchanged());
    }
    let mut dropped = None;
    if let Some(schedule) = subscription.schedule.as_deref() {
        dropped = lifecycle.scheduled_change(schedule).await?;
        let key = write_key(intent, "release", subscription, &[schedule]);
        lifecycle.release_schedule(schedule, &key).await?;
    }
    let key = write_key(intent, "cancel", subscription, &[&how.tag()]);
    let updated = match how {
        Stop::AtPeriodEnd => {
            lifecycle
                .set_cancel_at_period_end(&subscription.id, true, subscription.writes + 1, &key)
                .await?
        }
        Stop::Now(options) => {
            lifecycle
                .cancel_now(&subscription.id, options, &key)
                .await?
        }
    };
    Ok(Stopped {
        subscription: updated,
        dropped,
    })
}

/// Clears a cancelation at the period end; nothing when there is none.
pub async fn resume(
    lifecycle: &dyn SubscriptionLifecycle,
    subscription: &SubscriptionDetails,
    intent: Intent<'_>,
) -> Result<SubscriptionDetails, StripeError> {
    if !is_live_status(&subscription.status) || !subscription.cancel_at_period_end {
        return Ok(subscription.clone());
    }
    let key = write_key(intent, "resume", subscription, &[]);
    lifecycle
        .set_cancel_at_period_end(&subscription.id, false, subscription.writes + 1, &key)
        .await
}

/// The customer's add-on-only subscriptions that can still bill (bought beside a plan, or beside free).
pub fn addon_subscriptions<'a>(
    all: &'a [SubscriptionDetails],
    catalog: &'a PlanCatalog,
) -> impl Iterator<Item = &'a SubscriptionDetails> + 'a {
    all.iter()
        .filter(move |s| can_charge(s) && s.is_addon_only(catalog))
}
