//! A user's entitlements recomputed from Stripe's current state, written conditionally.
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
use super::deps::Deps;
use super::failure::Failure;
use super::history::{appended, provenance, EventRef};
use entitle_domain::entitlements::history::Provenance;
use entitle_domain::entitlements::{for_customer, Entitlements, Status, SubscriptionState};
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{SaveOutcome, StoredEntitlements};
use entitle_domain::time::UnixTime;

/// How often a write may lose a race before the record is retried later.
pub(super) const ATTEMPTS: u32 = 5;

/// What prompted a recompute: the subscription an event is about, and when a payment of it failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt<'a> {
    pub subscription: Option<&'a str>,
    pub failed_at: Option<UnixTime>,
    /// The event that prompted it, for the version's provenance.
    pub event: Option<EventRef<'a>>,
}

/// Recomputes the user's entitlements from the current state of every subscription of `customer` in Stripe
/// (without a customer: the prompting subscription alone).
pub async fn sync_user(
    deps: &Deps,
    user: &SubjectId,
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
        let cause = prompt.event.map(|e| (e, prompt.subscription));
        let provenance = provenance(deps, stored.as_ref(), &next, &subscriptions, cause);
        if write(deps, stored.as_ref(), next, Some(&provenance), now).await? {
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
    user: &SubjectId,
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

/// Writes `next` unless it grants the same, appending it to the history with `provenance`; `Ok(false)` on a
/// lost race (nothing appended).
pub(super) async fn write(
    deps: &Deps,
    stored: Option<&StoredEntitlements>,
    next: Entitlements,
    provenance: Option<&Provenance>,
    now: UnixTime,
) -> Result<bool, Failure> {
    if let Some(stored) = stored.filter(|s| s.entitlements.same_grant(&next)) {
        // Nothing to write, but a row from before the lapse index may still lack its entry: a reconcile
        // (`entitle reconcile --all`) puts it there.
        if stored.indexed_lapse != stored.entitlements.lapses_at() {
            deps.store
                .reindex(&stored.entitlements, stored.version)
                .await?;
        }
        return Ok(true);
    }
    let outcome = deps
        .store
        .save_version(
            &next,
            stored.map(|s| s.version),
            stored.map(|s| &s.entitlements),
            None,
            provenance.map(|p| appended(p, now)),
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
