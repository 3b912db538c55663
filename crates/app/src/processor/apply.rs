//! One billing event → the user's entitlements.
//!
//! Order and duplicates don't matter because an event is only a prompt: the *current* state of every
//! subscription of the user's customer is read from Stripe (one paginated list) and the entitlements
//! recomputed from all of it ([`for_customer`]: the highest-ranked live plan, add-ons added), and every write
//! is conditional on the version read before that Stripe read (a conflict re-reads both). The last write
//! therefore always rests on a Stripe read made after every earlier write — so the final entitlements are
//! those of Stripe's final state, whatever order, however many copies, however many subscriptions. Credits are the one additive change, and they live in the usage
//! table (the balance usage-api spends): each purchase adds to it with a ledger row in the same transaction,
//! so a replay cannot add twice; the entitlements row keeps a copy for Clerk and `entitlements.changed`.
//! See docs/architecture.md.
use crate::deps::Deps;
use entitle_domain::entitlements::{for_customer, Entitlements, Status, SubscriptionState};
use entitle_domain::ids::{StripeCustomerId, UserId};
use entitle_domain::ports::usage::{CounterKey, Flag, Record, WriteOutcome};
use entitle_domain::ports::{
    ClerkError, PublishError, SaveOutcome, StoreError, StoredEntitlements, StripeError,
};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::{account, decision};
use serde::Deserialize;

/// How often a write may lose a race before the record is retried later.
const ATTEMPTS: u32 = 5;

/// A billing event as the processor reads it: the envelope of docs/events.md, `data` kept loose so new
/// fields and types never break it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incoming {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: Option<String>,
    pub user_id: Option<String>,
    pub stripe_customer_id: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Why an event was not applied. Causes are kept (`#[source]`), so the log and the dead-letter reason carry
/// the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("Stripe failed")]
    Stripe(#[from] StripeError),
    #[error("Clerk failed")]
    Clerk(#[source] ClerkError),
    #[error("publishing to the billing-events topic failed")]
    Publish(#[source] PublishError),
    /// Contention that outlasted our attempts: a later retry can succeed.
    #[error("{0}")]
    Contention(&'static str),
    /// The event cannot ever be applied: the record goes to the dead-letter queue with this reason.
    #[error("{0}")]
    Permanent(String),
}

impl Failure {
    /// Retrying the record cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Failure::Permanent(_) => true,
            Failure::Stripe(e) => !e.is_retryable(),
            Failure::Store(_)
            | Failure::Clerk(_)
            | Failure::Publish(_)
            | Failure::Contention(_) => false,
        }
    }

    /// The message with every cause, `outer: inner: …`.
    pub fn chain(&self) -> String {
        entitle_core::init::sentence(self)
    }
}

/// Applies `event`; returns the user whose entitlements it concerns, if any.
pub async fn apply(
    deps: &Deps,
    event: &Incoming,
    now: UnixTime,
) -> Result<Option<UserId>, Failure> {
    let data = &event.data;
    match event.event_type.as_str() {
        "subscription.created"
        | "subscription.updated"
        | "subscription.canceled"
        | "subscription.schedule_changed"
        | "invoice.paid"
        | "invoice.payment_failed" => {
            // An invoice outside any subscription grants nothing.
            let Some(subscription) = data["subscriptionId"].as_str() else {
                return Ok(None);
            };
            let user = resolve_user(deps, event).await?;
            // When the payment failed: the failed invoice's event, or the event that says the subscription is
            // past due (Stripe's time, not ours: a late or redriven delivery does not extend the grace).
            let failed = event.event_type == "invoice.payment_failed"
                || (event.event_type == "subscription.updated" && data["status"] == "past_due");
            let failed_at = failed
                .then(|| {
                    event
                        .occurred_at
                        .as_deref()
                        .and_then(UnixTime::parse_rfc3339)
                })
                .flatten();
            let prompt = Prompt {
                subscription: Some(subscription),
                failed_at,
            };
            let customer = customer_of(deps, &user, event).await?;
            sync_user(deps, &user, customer.as_ref(), prompt, now).await?;
            Ok(Some(user))
        }
        "checkout.completed" => {
            let user = resolve_user(deps, event).await?;
            match (data["mode"].as_str(), data["subscriptionId"].as_str()) {
                (Some("subscription"), Some(subscription)) => {
                    let prompt = Prompt {
                        subscription: Some(subscription),
                        failed_at: None,
                    };
                    let customer = customer_of(deps, &user, event).await?;
                    sync_user(deps, &user, customer.as_ref(), prompt, now).await?;
                }
                (Some("payment"), _) if data["paymentStatus"] == "paid" => {
                    let session = data["sessionId"].as_str().ok_or_else(|| {
                        Failure::Permanent("checkout.completed without a sessionId".into())
                    })?;
                    add_credits(deps, &user, session, now).await?;
                }
                _ => {}
            }
            Ok(Some(user))
        }
        // A full reconcile's fan-out (crate::maintenance::fan_out), on the processor's own queue.
        "reconcile.requested" => {
            let user = event
                .user_id
                .as_deref()
                .and_then(|u| UserId::parse(u).ok())
                .ok_or_else(|| Failure::Permanent("reconcile.requested without a userId".into()))?;
            crate::maintenance::reconcile_user(deps, &user, now).await?;
            Ok(None)
        }
        "reconcile.page" => {
            let page: crate::maintenance::PageData =
                serde_json::from_value(data.clone()).map_err(|e| {
                    Failure::Permanent(format!("reconcile.page with unreadable data: {e}"))
                })?;
            crate::maintenance::fan_out(deps, &page.run, page.after.as_ref(), page.queued, now)
                .await?;
            Ok(None)
        }
        // Metered use beyond the plan's included amount: billed through Stripe's meter.
        "usage.recorded" => {
            crate::overage::report(deps, event, now).await?;
            Ok(None)
        }
        // user.*, customer.linked, payment.*, usage.limit_reached, credits.low, and our own
        // entitlements.changed: nothing to apply.
        _ => Ok(None),
    }
}

/// The event's user: its `userId`, else the customers table, else the Stripe customer's metadata.
async fn resolve_user(deps: &Deps, event: &Incoming) -> Result<UserId, Failure> {
    if let Some(user) = event.user_id.as_deref().and_then(|u| UserId::parse(u).ok()) {
        return Ok(user);
    }
    let customer = event
        .stripe_customer_id
        .as_deref()
        .and_then(|c| StripeCustomerId::parse(c).ok())
        .ok_or_else(|| {
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
    user: &UserId,
    event: &Incoming,
) -> Result<Option<StripeCustomerId>, Failure> {
    if let Some(customer) = event
        .stripe_customer_id
        .as_deref()
        .and_then(|c| StripeCustomerId::parse(c).ok())
    {
        return Ok(Some(customer));
    }
    Ok(deps
        .customers
        .get(user)
        .await?
        .and_then(|link| link.customer))
}

/// What prompted a recompute: the subscription an event is about, and when a payment of it failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt<'a> {
    pub subscription: Option<&'a str>,
    pub failed_at: Option<UnixTime>,
}

/// Recomputes the user's entitlements from the current state of every subscription of `customer` in Stripe
/// (without a customer: the prompting subscription alone).
pub async fn sync_user(
    deps: &Deps,
    user: &UserId,
    customer: Option<&StripeCustomerId>,
    prompt: Prompt<'_>,
    now: UnixTime,
) -> Result<(), Failure> {
    for _ in 0..ATTEMPTS {
        let stored = deps.store.load(user).await?;
        let subscriptions = match (customer, prompt.subscription) {
            (Some(customer), _) => deps.stripe.customer_subscriptions(customer).await?,
            (None, Some(id)) => deps.stripe.subscription(id).await?.into_iter().collect(),
            (None, None) => Vec::new(),
        };
        let next = compute(deps, user, &subscriptions, stored.as_ref(), prompt, now)?;
        let several = !next.other_subscriptions.is_empty();
        let had_several = stored
            .as_ref()
            .is_some_and(|s| !s.entitlements.other_subscriptions.is_empty());
        if write(deps, stored.as_ref(), next).await? {
            if several && !had_several {
                // A user who now pays for two base plans at once: alarm-worthy, support should refund one.
                entitle_core::metrics::count("SeveralPlanSubscriptions", 1);
                tracing::warn!(user_id = %user, "several live plan subscriptions");
            }
            return Ok(());
        }
    }
    Err(Failure::Contention("lost the write race too often"))
}

/// Entitlements from `subscriptions` (see [`for_customer`]), keeping the stored credits and the start of an
/// ongoing past-due spell. A prompting subscription that is live but sells nothing in the catalog is a
/// permanent failure (dead-lettered with its prices); other such subscriptions are counted and skipped.
pub fn compute(
    deps: &Deps,
    user: &UserId,
    subscriptions: &[SubscriptionState],
    stored: Option<&StoredEntitlements>,
    prompt: Prompt<'_>,
    now: UnixTime,
) -> Result<Entitlements, Failure> {
    let stored = stored.map(|s| &s.entitlements);
    // The grace period counts from the first failed payment we know of, not from when we heard of it.
    let since = |subscription: &SubscriptionState| {
        let ongoing = stored
            .filter(|e| {
                e.status == Status::PastDue
                    && e.subscription_id.as_deref() == Some(subscription.id.as_str())
            })
            .and_then(|e| e.past_due_since.as_deref())
            .and_then(UnixTime::parse_rfc3339);
        let failed = prompt
            .failed_at
            .filter(|_| prompt.subscription == Some(subscription.id.as_str()));
        [ongoing, failed].into_iter().flatten().min().unwrap_or(now)
    };
    let credits = stored.map_or(0, |e| e.credits);
    let combined = for_customer(
        user.clone(),
        subscriptions,
        &deps.catalog,
        deps.grace,
        since,
        credits,
    );
    for unknown in &combined.unknown {
        entitle_core::metrics::count("UnknownPrices", 1);
        if prompt.subscription == Some(unknown.subscription.as_str()) {
            return Err(Failure::Permanent(unknown.to_string()));
        }
        tracing::warn!(error = %unknown, "a live subscription sells nothing in the catalog: skipped");
    }
    let mut next = combined.entitlements;
    next.updated_at = Some(now.to_rfc3339());
    Ok(next)
}

/// Writes `next` unless it grants the same; `Ok(false)` on a lost race.
async fn write(
    deps: &Deps,
    stored: Option<&StoredEntitlements>,
    next: Entitlements,
) -> Result<bool, Failure> {
    if stored.is_some_and(|s| s.entitlements.same_grant(&next)) {
        return Ok(true);
    }
    let outcome = deps
        .store
        .save(
            &next,
            stored.map(|s| s.version),
            stored.map(|s| &s.entitlements),
            None,
        )
        .await?;
    match outcome {
        SaveOutcome::Saved { version } => {
            tracing::info!(user_id = %next.user_id, plan = %next.plan, status = ?next.status, version, "entitlements changed");
            Ok(true)
        }
        SaveOutcome::AlreadyApplied => Ok(true),
        SaveOutcome::Conflict => Ok(false),
    }
}

/// Adds a paid credit-pack checkout's credits — amounts from the catalog, never from the client — to the one
/// credits balance: the usage table's counter, the one usage-api spends. The ledger row
/// `checkout#<session>` is written in the same transaction as the unconditional `ADD`, so a replay adds
/// nothing and a spend racing the purchase loses neither. Then the entitlements row's `credits` is brought
/// to the balance (see [`mirror_credits`]).
async fn add_credits(
    deps: &Deps,
    user: &UserId,
    session: &str,
    now: UnixTime,
) -> Result<(), Failure> {
    let mut credits: i64 = 0;
    for (price, lookup_key, quantity) in deps.stripe.checkout_line_items(session).await? {
        let pack = deps
            .catalog
            .credit_pack_for_price(&price, lookup_key.as_deref())
            .ok_or_else(|| {
                entitle_core::metrics::count("UnknownPrices", 1);
                Failure::Permanent(format!(
                    "checkout {session}: price {price} is not a credit pack"
                ))
            })?;
        credits += (pack.credits * quantity) as i64;
    }
    if credits == 0 {
        return Ok(());
    }
    let key = account::credits_counter(&deps.catalog, user).ok_or_else(|| {
        Failure::Permanent("the catalog sells credit packs but declares no credits limit".into())
    })?;
    let entry = Record {
        key: format!("checkout#{session}"),
        user: user.clone(),
        fingerprint: session.to_owned(),
        response: String::new(),
        credits,
        reason: "credit pack purchase".into(),
        at: now,
        expires_at: None,
    };
    match deps
        .usage
        .write(&key, &decision::add_credits(credits), Some(&entry))
        .await?
    {
        WriteOutcome::Applied => {
            tracing::info!(user_id = %user, credits, checkout = session, "credits added");
        }
        // The unconditional `ADD` cannot fail its guard: the ledger row exists, this checkout was counted.
        WriteOutcome::Conflict => {}
    }
    // Credits bought: the next fall below the threshold is announced again (idempotent, so a retry after a
    // failure here does it then).
    deps.usage.clear_flag(&key, Flag::CreditsLow).await?;
    mirror_credits(deps, user, &key, now).await
}

/// Brings the entitlements row's `credits` to the live balance, so that the Clerk mirror and
/// `entitlements.changed` carry the balance after a purchase. The row's copy is a snapshot: usage-api's
/// spends do not touch it, and every reader of the live number (billing-api, usage-api) asks the usage
/// table. The write is conditional on the version read before the balance, so the last write rests on a
/// balance read after every earlier purchase.
async fn mirror_credits(
    deps: &Deps,
    user: &UserId,
    key: &CounterKey,
    now: UnixTime,
) -> Result<(), Failure> {
    for _ in 0..ATTEMPTS {
        let stored = deps.store.load(user).await?;
        let (_, counters) = deps.usage.counters(user, std::slice::from_ref(key)).await?;
        let balance = counters
            .first()
            .map_or(0, |c| account::credits_balance(c, now));
        let mut next = stored
            .as_ref()
            .map(|s| s.entitlements.clone())
            .unwrap_or_else(|| Entitlements::free(user.clone(), &deps.catalog));
        if stored.is_some() && next.credits == balance {
            return Ok(());
        }
        next.credits = balance;
        next.updated_at = Some(now.to_rfc3339());
        if write(deps, stored.as_ref(), next).await? {
            return Ok(());
        }
    }
    Err(Failure::Contention("lost the write race too often"))
}
