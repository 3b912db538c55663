//! `POST /subscription/cancel`, `/subscription/resume` and `/subscription/change`: the signed-in user's own
//! subscription, acted on in Stripe. The answer is the subscription's new state as Entitle will see it; the
//! entitlements themselves follow through the normal path (Stripe's webhook → processor).
use crate::checkout::{price_id, stripe_error};
use crate::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::{is_live_status, live_status, Status};
use entitle_domain::ids::UserId;
use entitle_domain::plans::PriceMatch;
use entitle_domain::ports::{
    CancelNow, InvoicePreview, PeriodEndChange, PlanChange, Proration, ScheduledChange,
    SubscriptionDetails,
};
use entitle_domain::time::UnixTime;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default = "yes")]
    pub at_period_end: bool,
    /// Only with `atPeriodEnd: false`: credit the unused time (Stripe's `prorate`).
    #[serde(default)]
    pub prorate: bool,
    /// Only with `atPeriodEnd: false`: invoice pending usage and prorations now (Stripe's `invoice_now`).
    #[serde(default)]
    pub invoice_now: bool,
}

fn yes() -> bool {
    true
}

/// An empty body: cancel at the period end.
impl Default for CancelBody {
    fn default() -> Self {
        Self {
            at_period_end: true,
            prorate: false,
            invoice_now: false,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeBody {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeBody {
    /// A plan price id or lookup key from the catalog.
    pub price: String,
    #[serde(default)]
    pub preview: bool,
    pub proration_behavior: Option<String>,
    /// `now` (default) or `period_end` (a subscription schedule makes the switch when the period ends).
    pub at: Option<String>,
}

/// Requests within this window are one Stripe write. Short on purpose: every write here sets an absolute
/// state (cancel at the period end, this price), so a double submission that slips through is harmless, while
/// a long window would turn a cancel → resume → cancel into a replay of the first cancel that changes nothing.
const IDEMPOTENCY_WINDOW_SECS: i64 = 1;

pub async fn cancel(
    deps: &Deps,
    user: &UserId,
    body: CancelBody,
    now: UnixTime,
) -> Result<Value, ApiError> {
    if body.at_period_end && (body.prorate || body.invoice_now) {
        return Err(ApiError::bad_request(
            "invalid_option",
            "prorate and invoiceNow apply only with atPeriodEnd: false",
        ));
    }
    let subscription = locate(deps, user).await?;
    // Idempotent by state: a second cancel (or a cancel of an ended subscription) answers the same state and
    // writes nothing.
    if !is_live_status(&subscription.status)
        || (body.at_period_end && subscription.cancel_at_period_end)
    {
        return describe(deps, &subscription).await;
    }
    // A cancel drops a plan change scheduled for the period end (Stripe changes a scheduled subscription's
    // cancelation only through its schedule: released first, the subscription then cancels as usual).
    release(deps, &subscription, now).await?;
    let updated = if body.at_period_end {
        let key = key(&["cancel", &subscription.id, "at_period_end"], now);
        deps.lifecycle
            .set_cancel_at_period_end(&subscription.id, true, &key)
            .await
    } else {
        let options = CancelNow {
            prorate: body.prorate,
            invoice_now: body.invoice_now,
        };
        let key = key(
            &[
                "cancel",
                &subscription.id,
                "now",
                &options.prorate.to_string(),
                &options.invoice_now.to_string(),
            ],
            now,
        );
        deps.lifecycle
            .cancel_now(&subscription.id, options, &key)
            .await
    }
    .map_err(stripe_error)?;
    tracing::info!(subscription_id = %updated.id, at_period_end = body.at_period_end, "canceled a subscription");
    describe(deps, &updated).await
}

pub async fn resume(
    deps: &Deps,
    user: &UserId,
    _body: ResumeBody,
    now: UnixTime,
) -> Result<Value, ApiError> {
    let subscription = locate(deps, user).await?;
    if !is_live_status(&subscription.status) {
        return Err(ended());
    }
    if !subscription.cancel_at_period_end {
        return describe(deps, &subscription).await;
    }
    let key = key(&["resume", &subscription.id], now);
    let updated = deps
        .lifecycle
        .set_cancel_at_period_end(&subscription.id, false, &key)
        .await
        .map_err(stripe_error)?;
    tracing::info!(subscription_id = %updated.id, "resumed a subscription");
    describe(deps, &updated).await
}

pub async fn change(
    deps: &Deps,
    user: &UserId,
    body: ChangeBody,
    now: UnixTime,
) -> Result<Value, ApiError> {
    let (plan, price) = match deps.catalog.price(&body.price) {
        Some(PriceMatch::Subscription { plan, price }) => (plan, price),
        Some(PriceMatch::CreditPack { .. }) => {
            return Err(ApiError::bad_request(
                "unknown_price",
                "the price is a credit pack, not a plan: buy it with POST /checkout",
            ))
        }
        None => {
            return Err(ApiError::bad_request(
                "unknown_price",
                "the price is not in the plan catalog",
            ))
        }
    };
    if plan.contact_sales {
        return Err(ApiError::bad_request(
            "contact_sales",
            "this plan is sold by our sales team: contact them to change to it",
        ));
    }
    if plan.addon {
        return Err(ApiError::bad_request(
            "addon_price",
            "the price is an add-on, not a plan: buy it beside your plan with POST /checkout",
        ));
    }
    let proration = match body.proration_behavior.as_deref() {
        None => Proration::CreateProrations,
        Some(value) => Proration::parse(value).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_proration_behavior",
                "prorationBehavior must be create_prorations, none or always_invoice",
            )
        })?,
    };
    let at_period_end = match body.at.as_deref() {
        None | Some("now") => false,
        Some("period_end") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_option",
                "at must be \"now\" or \"period_end\"",
            ))
        }
    };
    if at_period_end && body.proration_behavior.is_some() {
        return Err(ApiError::bad_request(
            "invalid_option",
            "prorationBehavior applies only to a change now: a change at the period end prorates nothing",
        ));
    }
    let subscription = locate(deps, user).await?;
    if !is_live_status(&subscription.status) {
        return Err(ended());
    }
    // A plan that bills overage has a metered item next to its plan item; swapping both in one change is not
    // built yet, and changing only the plan item would bill the new plan's overage on the old price, or not
    // at all. Refused rather than billed wrong.
    let overage_involved = !plan.overage.is_empty()
        || !subscription.metered_items.is_empty()
        || subscription
            .plan(&deps.catalog)
            .is_some_and(|current| !current.overage.is_empty());
    if overage_involved {
        return Err(ApiError::conflict(
            "plan_change_unsupported",
            "a plan that bills overage cannot be changed here yet: cancel and subscribe to the new plan through POST /checkout",
        ));
    }
    if price.id.as_deref() == Some(subscription.price_id.as_str())
        || (price.lookup_key.is_some() && price.lookup_key == subscription.lookup_key)
    {
        return Err(ApiError::bad_request(
            "already_on_plan",
            format!("the subscription is already on {} at this price", plan.id),
        ));
    }
    let price_id = price_id(deps, price.id.as_deref(), price.lookup_key.as_deref()).await?;
    // At the period end nothing is prorated: the preview is the first invoice on the new price.
    let proration = if at_period_end {
        Proration::None
    } else {
        proration
    };
    let change = PlanChange {
        subscription: &subscription.id,
        item_id: &subscription.item_id,
        price_id: &price_id,
        proration,
    };
    if body.preview {
        let preview = deps
            .lifecycle
            .preview_plan_change(&change)
            .await
            .map_err(stripe_error)?;
        return Ok(json!({
            "subscription": describe(deps, &subscription).await?,
            "preview": preview_json(&preview, proration, &plan.id, &price_id),
        }));
    }
    if at_period_end {
        if subscription.cancel_at_period_end {
            return Err(ApiError::bad_request(
                "invalid_option",
                "the subscription ends with this period: resume it before scheduling a change",
            ));
        }
        let key = key(
            &[
                "change",
                &subscription.id,
                &subscription.price_id,
                &price_id,
                "period_end",
            ],
            now,
        );
        let scheduled = deps
            .lifecycle
            .schedule_plan_change(
                &PeriodEndChange {
                    subscription: &subscription.id,
                    schedule: subscription.schedule.as_deref(),
                    current_price: &subscription.price_id,
                    price_id: &price_id,
                },
                &key,
            )
            .await
            .map_err(stripe_error)?;
        tracing::info!(subscription_id = %subscription.id, plan = %plan.id, "scheduled a plan change for the period end");
        let mut answer = state(deps, &subscription);
        answer["scheduledChange"] = scheduled_json(deps, &scheduled);
        return Ok(answer);
    }
    // A change now replaces a change scheduled for the period end.
    release(deps, &subscription, now).await?;
    // The from-price is part of the key, so switching back and forth makes distinct changes.
    let key = key(
        &[
            "change",
            &subscription.id,
            &subscription.price_id,
            &price_id,
            proration.as_str(),
        ],
        now,
    );
    let updated = deps
        .lifecycle
        .change_plan(&change, &key)
        .await
        .map_err(stripe_error)?;
    tracing::info!(subscription_id = %updated.id, plan = %plan.id, "changed a subscription's plan");
    describe(deps, &updated).await
}

fn ended() -> ApiError {
    ApiError::conflict(
        "subscription_ended",
        "the subscription has ended: start a new one with POST /checkout",
    )
}

/// The user's subscription: the one the entitlements were made from when it is still live, else the live
/// (or latest) one of the user's customer, else the entitlements' ended one.
async fn locate(deps: &Deps, user: &UserId) -> Result<SubscriptionDetails, ApiError> {
    let link = deps.customers.get(user).await.map_err(|e| {
        tracing::error!(error = %e, "reading the customers table failed");
        ApiError::unavailable()
    })?;
    if link.as_ref().is_some_and(|link| link.deleted) {
        return Err(ApiError::forbidden(
            "user_deleted",
            "this account was deleted",
        ));
    }
    let customer = link.and_then(|link| link.customer);
    let stored = deps.entitlements.get(user).await.map_err(|e| {
        tracing::error!(error = %e, "reading entitlements failed");
        ApiError::unavailable()
    })?;
    let mut known = None;
    if let Some(id) = stored.and_then(|e| e.subscription_id) {
        let found = deps
            .lifecycle
            .subscription(&id)
            .await
            .map_err(stripe_error)?;
        // Only the user's own: on their customer, or naming them (a subscription made elsewhere for them).
        known = found.filter(|s| {
            customer.as_ref().is_some_and(|c| c.as_str() == s.customer)
                || s.user.as_deref() == Some(user.as_str())
        });
        if let Some(subscription) = known.as_ref().filter(|s| is_live_status(&s.status)) {
            return Ok(subscription.clone());
        }
    }
    if let Some(customer) = customer {
        // Newest first: the live one if any, else the one that ended last — of a plan: an add-on's
        // subscription is not the user's subscription.
        let plans: Vec<SubscriptionDetails> = deps
            .lifecycle
            .subscriptions(customer.as_str())
            .await
            .map_err(stripe_error)?
            .into_iter()
            .filter(|s| !s.plan(&deps.catalog).is_some_and(|p| p.addon))
            .collect();
        let latest = plans
            .iter()
            .find(|s| is_live_status(&s.status))
            .or(plans.first())
            .cloned();
        if let Some(latest) = latest {
            if is_live_status(&latest.status) || known.is_none() {
                return Ok(latest);
            }
        }
    }
    known.ok_or_else(|| {
        ApiError::not_found(
            "no_subscription",
            "there is no subscription: start one with POST /checkout",
        )
    })
}

/// The subscription as Entitle will see it once Stripe's events are processed.
fn state(deps: &Deps, subscription: &SubscriptionDetails) -> Value {
    let live = is_live_status(&subscription.status);
    let (plan, status) = if live {
        let plan = subscription.plan(&deps.catalog).map(|p| p.id.clone());
        (
            plan,
            live_status(&subscription.status, subscription.cancel_at_period_end),
        )
    } else {
        (Some(deps.catalog.free_plan().id.clone()), Status::Free)
    };
    let time = |t: Option<i64>| t.map(|t| UnixTime::from_secs(t).to_rfc3339());
    json!({
        "subscriptionId": subscription.id,
        "plan": plan,
        "status": status,
        "stripeStatus": subscription.status,
        "cancelAtPeriodEnd": subscription.cancel_at_period_end,
        "periodEnd": time(subscription.current_period_end),
        "trialEnd": time(subscription.trial_end),
        "scheduledChange": Value::Null,
    })
}

/// [`state`] with the change the subscription's schedule will make, if any (one more Stripe read, only for
/// a subscription that has a schedule).
async fn describe(deps: &Deps, subscription: &SubscriptionDetails) -> Result<Value, ApiError> {
    let mut answer = state(deps, subscription);
    if let Some(schedule) = subscription
        .schedule
        .as_deref()
        .filter(|_| is_live_status(&subscription.status))
    {
        if let Some(change) = deps
            .lifecycle
            .scheduled_change(schedule)
            .await
            .map_err(stripe_error)?
        {
            answer["scheduledChange"] = scheduled_json(deps, &change);
        }
    }
    Ok(answer)
}

fn scheduled_json(deps: &Deps, change: &ScheduledChange) -> Value {
    json!({
        "plan": deps
            .catalog
            .plan_for_price(&change.price_id, change.lookup_key.as_deref())
            .map(|p| p.id.clone()),
        "price": change.price_id,
        "at": UnixTime::from_secs(change.at).to_rfc3339(),
    })
}

/// Releases the subscription's schedule, if it has one, dropping the change it would make.
async fn release(
    deps: &Deps,
    subscription: &SubscriptionDetails,
    now: UnixTime,
) -> Result<(), ApiError> {
    let Some(schedule) = subscription.schedule.as_deref() else {
        return Ok(());
    };
    let key = key(&["release", schedule], now);
    deps.lifecycle
        .release_schedule(schedule, &key)
        .await
        .map_err(stripe_error)?;
    tracing::info!(subscription_id = %subscription.id, schedule, "released a subscription schedule");
    Ok(())
}

fn preview_json(preview: &InvoicePreview, proration: Proration, plan: &str, price: &str) -> Value {
    let time = |t: Option<i64>| t.map(|t| UnixTime::from_secs(t).to_rfc3339());
    // `always_invoice` bills the difference at once; otherwise it is added to the next invoice.
    let (due_now, next_invoice) = match proration {
        Proration::AlwaysInvoice => (preview.amount_due, None),
        _ => (0, Some(preview.amount_due)),
    };
    json!({
        "plan": plan,
        "price": price,
        "prorationBehavior": proration.as_str(),
        "currency": preview.currency,
        "dueNow": due_now,
        "nextInvoiceAmount": next_invoice,
        "nextInvoiceAt": time(preview.next_payment_attempt),
        "total": preview.total,
        "lines": preview.lines.iter().map(|line| json!({
            "description": line.description,
            "amount": line.amount,
            "proration": line.proration,
        })).collect::<Vec<_>>(),
    })
}

fn key(parts: &[&str], now: UnixTime) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(
        (now.secs() / IDEMPOTENCY_WINDOW_SECS)
            .to_string()
            .as_bytes(),
    );
    format!(
        "entitle-subscription-{}",
        &hex::encode(hash.finalize())[..32]
    )
}
