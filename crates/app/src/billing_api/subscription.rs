//! `POST /subscription/cancel`, `/subscription/resume` and `/subscription/change`: the signed-in user's own
//! subscription, acted on in Stripe. The answer is the subscription's new state as Entitle will see it; the
//! entitlements themselves follow through the normal path (Stripe's webhook → processor).
use crate::billing_api::answer::{
    ChangePreview, Preview, PreviewLine as PreviewLineAnswer, ScheduledChangeAnswer, StoppedItem,
    SubscriptionChange, SubscriptionState,
};
use crate::billing_api::checkout::{price_id, stripe_error};
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::{is_live_status, live_status, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::lifecycle::{self, Intent, Stop};
use entitle_domain::plans::{PlanCatalog, PriceMatch};
use entitle_domain::ports::{
    CancelNow, InvoicePreview, PeriodEndChange, PhaseItem, PlanChange, PlanItemError, Proration,
    ScheduledChange, StartPreview, SubscriptionDetails,
};
use entitle_domain::time::UnixTime;
use serde::Deserialize;

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
    /// Keep the add-on subscriptions of their own running (add-on items of the plan's subscription end
    /// with it: they are billed on it).
    #[serde(default)]
    pub keep_addons: bool,
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
            keep_addons: false,
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

/// The user's subscriptions as a cancel or resume acts on them: the plan's subscription and the add-on
/// subscriptions of their own.
struct Account {
    plan: Option<SubscriptionDetails>,
    addons: Vec<SubscriptionDetails>,
}

async fn account(deps: &Deps, user: &SubjectId) -> Result<Account, ApiError> {
    let (plan, all) = locate_all(deps, user).await?;
    let addons = lifecycle::addon_subscriptions(&all, &deps.catalog)
        .filter(|s| plan.as_ref().is_none_or(|p| p.id != s.id))
        .cloned()
        .collect();
    Ok(Account { plan, addons })
}

pub async fn cancel(
    deps: &Deps,
    user: &SubjectId,
    body: CancelBody,
    intent: Intent<'_>,
    _now: UnixTime,
) -> Result<SubscriptionState, ApiError> {
    if body.at_period_end && (body.prorate || body.invoice_now) {
        return Err(ApiError::bad_request(
            "invalid_option",
            "prorate and invoiceNow apply only with atPeriodEnd: false",
        ));
    }
    let how = if body.at_period_end {
        Stop::AtPeriodEnd
    } else {
        Stop::Now(CancelNow {
            prorate: body.prorate,
            invoice_now: body.invoice_now,
        })
    };
    let account = account(deps, user).await?;
    if account.plan.is_none() && account.addons.is_empty() {
        return Err(no_subscription());
    }
    // Idempotent by state: a second cancel (or a cancel of an ended subscription) writes nothing and answers
    // the same. A cancel drops a plan change scheduled for the period end (the schedule is released first).
    let mut dropped = None;
    let mut stopped = Vec::new();
    if let Some(plan) = &account.plan {
        let done = lifecycle::stop(deps.lifecycle.as_ref(), plan, how, intent)
            .await
            .map_err(stripe_error)?;
        dropped = done.dropped;
        stopped.push(done.subscription);
    }
    if !body.keep_addons {
        for addon in &account.addons {
            let done = lifecycle::stop(deps.lifecycle.as_ref(), addon, how, intent)
                .await
                .map_err(stripe_error)?;
            stopped.push(done.subscription);
        }
    }
    tracing::info!(
        subscriptions = stopped.len(),
        at_period_end = body.at_period_end,
        "canceled"
    );
    let mut answer = match stopped.first().filter(|_| account.plan.is_some()) {
        Some(plan) => describe(deps, plan).await?,
        None => free_state(deps),
    };
    answer.canceled = Some(
        stopped
            .iter()
            .filter(|s| !is_live_status(&s.status) || s.cancel_at_period_end)
            .flat_map(|s| stopped_items(&deps.catalog, s))
            .collect(),
    );
    answer.dropped_scheduled_change = Some(dropped.map(|c| scheduled_answer(deps, &c)));
    Ok(answer)
}

pub async fn resume(
    deps: &Deps,
    user: &SubjectId,
    _body: ResumeBody,
    intent: Intent<'_>,
    _now: UnixTime,
) -> Result<SubscriptionState, ApiError> {
    let account = account(deps, user).await?;
    // The plan's subscription decides when there is one; with add-ons only, one of them must be live.
    let live = match &account.plan {
        Some(plan) => is_live_status(&plan.status),
        None if account.addons.is_empty() => return Err(no_subscription()),
        None => account.addons.iter().any(|s| is_live_status(&s.status)),
    };
    if !live {
        return Err(ended());
    }
    let mut resumed = Vec::new();
    for subscription in account.plan.iter().chain(&account.addons) {
        if subscription.cancel_at_period_end && is_live_status(&subscription.status) {
            let updated = lifecycle::resume(deps.lifecycle.as_ref(), subscription, intent)
                .await
                .map_err(stripe_error)?;
            tracing::info!(subscription_id = %updated.id, "resumed a subscription");
            resumed.push(updated);
        }
    }
    let mut answer = match &account.plan {
        Some(plan) => {
            let now = resumed.iter().find(|s| s.id == plan.id).unwrap_or(plan);
            describe(deps, now).await?
        }
        None => free_state(deps),
    };
    answer.resumed = Some(
        resumed
            .iter()
            .flat_map(|s| stopped_items(&deps.catalog, s))
            .collect(),
    );
    Ok(answer)
}

/// Each catalog item of `subscription`: what a cancel or resume covered.
fn stopped_items(catalog: &PlanCatalog, subscription: &SubscriptionDetails) -> Vec<StoppedItem> {
    let time = |t: Option<i64>| t.map(|t| UnixTime::from_secs(t).to_rfc3339());
    let ended = !is_live_status(&subscription.status);
    subscription
        .items
        .iter()
        .filter(|item| !item.metered)
        .filter_map(|item| {
            let plan = item.plan(catalog)?;
            Some(StoppedItem {
                addon: plan.addon,
                ended,
                ends_at: if ended {
                    None
                } else {
                    time(subscription.current_period_end)
                },
                plan: plan.id.clone(),
                quantity: item.quantity,
                subscription_id: subscription.id.clone(),
            })
        })
        .collect()
}

fn unknown_price(deps: &Deps, reference: &str) -> ApiError {
    let keys: Vec<&str> = deps
        .catalog
        .plans()
        .iter()
        .filter(|p| !p.addon && !p.contact_sales)
        .flat_map(|p| p.prices.iter())
        .filter_map(|price| price.lookup_key.as_deref())
        .collect();
    ApiError::bad_request(
        "unknown_price",
        format!(
            "the price {reference:?} is not in the plan catalog; its plans' lookup keys are: {}",
            keys.join(", ")
        ),
    )
}

fn plan_item_error(error: PlanItemError) -> ApiError {
    match error {
        PlanItemError::None => ApiError::conflict(
            "no_plan_item",
            "no item of the subscription is on a plan of the catalog: its plan cannot be changed here",
        ),
        PlanItemError::Several => ApiError::conflict(
            "several_plan_items",
            "the subscription has several items on plans of the catalog: which one to change is not guessed",
        ),
    }
}

pub async fn change(
    deps: &Deps,
    user: &SubjectId,
    body: ChangeBody,
    intent: Intent<'_>,
    _now: UnixTime,
) -> Result<SubscriptionChange, ApiError> {
    let (plan, price) = match deps.catalog.price(&body.price) {
        Some(PriceMatch::Subscription { plan, price }) => (plan, price),
        Some(PriceMatch::CreditPack { .. }) => {
            return Err(ApiError::bad_request(
                "unknown_price",
                "the price is a credit pack, not a plan: buy it with POST /checkout",
            ))
        }
        None => return Err(unknown_price(deps, &body.price)),
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
        || subscription.has_metered_items()
        || subscription
            .plan(&deps.catalog)
            .is_some_and(|current| !current.overage.is_empty());
    if overage_involved {
        return Err(ApiError::conflict(
            "plan_change_unsupported",
            "a plan that bills overage cannot be changed here yet: cancel and subscribe to the new plan through POST /checkout",
        ));
    }
    // Likewise a seat plan's seat item: moving it with the plan item (or dropping it) is not built yet, and
    // swapping the plan item alone would go on billing seats, or bill none. Refused rather than billed wrong.
    let seats_involved = plan.seats.is_some()
        || subscription
            .plan(&deps.catalog)
            .is_some_and(|current| current.seats.is_some())
        || subscription.items.iter().any(|item| {
            deps.catalog
                .seat_price(&item.price_id, item.lookup_key.as_deref())
                .is_some()
        });
    if seats_involved {
        return Err(ApiError::conflict(
            "plan_change_unsupported",
            "a plan priced per seat cannot be changed here yet: cancel and subscribe to the new plan through POST /checkout",
        ));
    }
    // The plan item is the one item on a base plan, whatever its position: add-on items are never touched.
    let item = subscription
        .plan_item(&deps.catalog)
        .map_err(plan_item_error)?
        .clone();
    if price.id.as_deref() == Some(item.price_id.as_str())
        || (price.lookup_key.is_some() && price.lookup_key == item.lookup_key)
    {
        return Err(ApiError::bad_request(
            "already_on_plan",
            format!("the subscription is already on {} at this price", plan.id),
        ));
    }
    let price_id = price_id(deps, price.id.as_deref(), price.lookup_key.as_deref()).await?;
    // The phases of a change at the period end: every item as it is, then the same with the plan item on
    // the new price.
    let current: Vec<PhaseItem> = subscription
        .items
        .iter()
        .map(|i| PhaseItem {
            price: i.price_id.clone(),
            quantity: (!i.metered).then_some(i.quantity),
        })
        .collect();
    let next: Vec<PhaseItem> = subscription
        .items
        .iter()
        .map(|i| PhaseItem {
            price: if i.id == item.id {
                price_id.clone()
            } else {
                i.price_id.clone()
            },
            quantity: (!i.metered).then_some(i.quantity),
        })
        .collect();
    let change = PlanChange {
        subscription: &subscription.id,
        writes: subscription.writes + 1,
        item_id: &item.id,
        quantity: item.quantity,
        price_id: &price_id,
        proration: if at_period_end {
            Proration::None
        } else {
            proration
        },
    };
    if body.preview {
        let preview = if at_period_end {
            // What will happen: nothing now, the next phase's prices from the period end (the first invoice
            // of the items as they will be, starting then) — not an immediate switch.
            let start = subscription.current_period_end.ok_or_else(|| {
                ApiError::conflict("no_period_end", "the subscription reports no period end")
            })?;
            let invoice = deps
                .lifecycle
                .preview_start(&StartPreview {
                    customer: &subscription.customer,
                    items: &next,
                    start,
                })
                .await
                .map_err(stripe_error)?;
            period_end_preview(&invoice, &plan.id, &price_id, start)
        } else {
            let invoice = deps
                .lifecycle
                .preview_plan_change(&change)
                .await
                .map_err(stripe_error)?;
            preview_of(&invoice, change.proration, &plan.id, &price_id)
        };
        return Ok(SubscriptionChange::Preview(Box::new(ChangePreview {
            preview,
            subscription: describe(deps, &subscription).await?,
        })));
    }
    if at_period_end {
        if subscription.cancel_at_period_end {
            return Err(ApiError::bad_request(
                "invalid_option",
                "the subscription ends with this period: resume it before scheduling a change",
            ));
        }
        let key = lifecycle::write_key(intent, "schedule", &subscription, &[&price_id]);
        let scheduled = deps
            .lifecycle
            .schedule_plan_change(
                &PeriodEndChange {
                    subscription: &subscription.id,
                    schedule: subscription.schedule.as_deref(),
                    current,
                    next,
                },
                &key,
            )
            .await
            .map_err(stripe_error)?;
        tracing::info!(subscription_id = %subscription.id, plan = %plan.id, "scheduled a plan change for the period end");
        let mut answer = state(deps, &subscription);
        answer.scheduled_change = Some(scheduled_answer(deps, &scheduled));
        return Ok(SubscriptionChange::State(Box::new(answer)));
    }
    // A change now replaces a change scheduled for the period end.
    if let Some(schedule) = subscription.schedule.as_deref() {
        let key = lifecycle::write_key(intent, "release", &subscription, &[schedule]);
        deps.lifecycle
            .release_schedule(schedule, &key)
            .await
            .map_err(stripe_error)?;
        tracing::info!(subscription_id = %subscription.id, schedule, "released a subscription schedule");
    }
    let key = lifecycle::write_key(
        intent,
        "change",
        &subscription,
        &[&price_id, change.proration.as_str()],
    );
    let updated = deps
        .lifecycle
        .change_plan(&change, &key)
        .await
        .map_err(stripe_error)?;
    tracing::info!(subscription_id = %updated.id, plan = %plan.id, "changed a subscription's plan");
    describe(deps, &updated)
        .await
        .map(|state| SubscriptionChange::State(Box::new(state)))
}

fn ended() -> ApiError {
    ApiError::conflict(
        "subscription_ended",
        "the subscription has ended: start a new one with POST /checkout",
    )
}

fn no_subscription() -> ApiError {
    ApiError::not_found(
        "no_subscription",
        "there is no subscription: start one with POST /checkout",
    )
}

async fn locate(deps: &Deps, user: &SubjectId) -> Result<SubscriptionDetails, ApiError> {
    locate_all(deps, user).await?.0.ok_or_else(no_subscription)
}

/// The user's plan subscription: the one the entitlements were made from when it is still live, else the
/// live (or latest) plan subscription of the user's customer, else the entitlements' ended one; and every
/// subscription of the customer (newest first), read once.
async fn locate_all(
    deps: &Deps,
    user: &SubjectId,
) -> Result<(Option<SubscriptionDetails>, Vec<SubscriptionDetails>), ApiError> {
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
    let all = match &customer {
        Some(customer) => deps
            .lifecycle
            .subscriptions(customer.as_str())
            .await
            .map_err(stripe_error)?,
        None => Vec::new(),
    };
    let mut known = None;
    if let Some(id) = stored.and_then(|e| e.subscription_id) {
        let found = match all.iter().find(|s| s.id == id) {
            Some(found) => Some(found.clone()),
            None => deps
                .lifecycle
                .subscription(&id)
                .await
                .map_err(stripe_error)?,
        };
        // Only the user's own: on their customer, or naming them (a subscription made elsewhere for them).
        known = found.filter(|s| {
            customer.as_ref().is_some_and(|c| c.as_str() == s.customer)
                || s.user.as_deref() == Some(user.as_str())
        });
        if let Some(subscription) = known.as_ref().filter(|s| is_live_status(&s.status)) {
            return Ok((Some(subscription.clone()), all));
        }
    }
    // Newest first: the live one if any, else the one that ended last — of a plan: an add-on's
    // subscription is not the user's subscription.
    let plans: Vec<&SubscriptionDetails> = all
        .iter()
        .filter(|s| !s.is_addon_only(&deps.catalog))
        .collect();
    let latest = plans
        .iter()
        .find(|s| is_live_status(&s.status))
        .or(plans.first())
        .map(|s| (*s).clone());
    if let Some(latest) = latest {
        if is_live_status(&latest.status) || known.is_none() {
            return Ok((Some(latest), all));
        }
    }
    Ok((known, all))
}

/// The answer when only add-ons are left: the free plan.
fn free_state(deps: &Deps) -> SubscriptionState {
    SubscriptionState {
        cancel_at_period_end: false,
        canceled: None,
        dropped_scheduled_change: None,
        period_end: None,
        plan: Some(deps.catalog.free_plan().id.clone()),
        resumed: None,
        scheduled_change: None,
        status: Status::Free,
        stripe_status: None,
        subscription_id: None,
        trial_end: None,
    }
}
/// The subscription as Entitle will see it once Stripe's events are processed.
fn state(deps: &Deps, subscription: &SubscriptionDetails) -> SubscriptionState {
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
    SubscriptionState {
        cancel_at_period_end: subscription.cancel_at_period_end,
        canceled: None,
        dropped_scheduled_change: None,
        period_end: time(subscription.current_period_end),
        plan,
        resumed: None,
        scheduled_change: None,
        status,
        stripe_status: Some(subscription.status.clone()),
        subscription_id: Some(subscription.id.clone()),
        trial_end: time(subscription.trial_end),
    }
}

/// [`state`] with the change the subscription's schedule will make, if any (one more Stripe read, only for
/// a subscription that has a schedule).
async fn describe(
    deps: &Deps,
    subscription: &SubscriptionDetails,
) -> Result<SubscriptionState, ApiError> {
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
            answer.scheduled_change = Some(scheduled_answer(deps, &change));
        }
    }
    Ok(answer)
}

fn scheduled_answer(deps: &Deps, change: &ScheduledChange) -> ScheduledChangeAnswer {
    let plan = change.plan(&deps.catalog);
    ScheduledChangeAnswer {
        at: UnixTime::from_secs(change.at).to_rfc3339(),
        plan: plan.map(|(p, _)| p.id.clone()),
        price: plan
            .map(|(_, price)| price.price_id.clone())
            .or_else(|| change.items.first().map(|i| i.price_id.clone())),
    }
}

fn preview_of(preview: &InvoicePreview, proration: Proration, plan: &str, price: &str) -> Preview {
    let time = |t: Option<i64>| t.map(|t| UnixTime::from_secs(t).to_rfc3339());
    // `always_invoice` bills the difference at once; otherwise it is added to the next invoice.
    let (due_now, next_invoice) = match proration {
        Proration::AlwaysInvoice => (preview.amount_due, None),
        _ => (0, Some(preview.amount_due)),
    };
    Preview {
        currency: preview.currency.clone(),
        due_now,
        lines: preview
            .lines
            .iter()
            .map(|line| PreviewLineAnswer {
                amount: line.amount,
                description: line.description.clone(),
                proration: line.proration,
            })
            .collect(),
        next_invoice_amount: next_invoice,
        next_invoice_at: time(preview.next_payment_attempt),
        plan: plan.to_owned(),
        price: price.to_owned(),
        proration_behavior: proration.as_str(),
        total: preview.total,
    }
}

/// A period-end change's preview: nothing due now (nothing is prorated); the first invoice on the new prices
/// at the period end.
fn period_end_preview(preview: &InvoicePreview, plan: &str, price: &str, at: i64) -> Preview {
    let mut answer = preview_of(preview, Proration::None, plan, price);
    answer.next_invoice_at = Some(UnixTime::from_secs(at).to_rfc3339());
    answer
}
