//! Each version the processor writes is appended to the subject's history with its provenance: the event that
//! prompted it, the subscriptions' items it was computed from, the catalog in force, the grace, what changed
//! and where each number comes from (docs/history.md).
use super::deps::Deps;
use entitle_domain::entitlements::history::{
    self, catalog_moves, catalog_version, differences, explain_with, Cause, Grace, ItemSource,
    Provenance,
};
use entitle_domain::entitlements::{Entitlements, Status, SubscriptionState};
use entitle_domain::ports::{Appended, StoredEntitlements};
use entitle_domain::time::UnixTime;
use std::sync::LazyLock;

/// `ENTITLEMENT_HISTORY_DAYS` (default 400): how long a version is kept before DynamoDB's TTL removes it.
static RETENTION_DAYS: LazyLock<i64> = LazyLock::new(|| {
    match std::env::var("ENTITLEMENT_HISTORY_DAYS")
        .ok()
        .map(|v| v.parse::<i64>())
    {
        None => history::DEFAULT_RETENTION_DAYS,
        Some(Ok(days)) if days > 0 => days,
        Some(_) => {
            tracing::error!(
                "ENTITLEMENT_HISTORY_DAYS is not a positive number of days; keeping 400"
            );
            history::DEFAULT_RETENTION_DAYS
        }
    }
});

/// When a version written at `now` may be deleted.
pub fn expires(now: UnixTime) -> UnixTime {
    UnixTime::from_secs(now.secs() + *RETENTION_DAYS * 86_400)
}

/// What prompted a version, if an event did.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventRef<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
}

/// The provenance of `next`, written over `stored` from `subscriptions` (Stripe's state as read).
pub fn provenance(
    deps: &Deps,
    stored: Option<&StoredEntitlements>,
    next: &Entitlements,
    subscriptions: &[SubscriptionState],
    cause: Option<(EventRef<'_>, Option<&str>)>,
) -> Provenance {
    let previous = stored.map(|s| &s.entitlements);
    let items = subscriptions
        .iter()
        .flat_map(|sub| {
            sub.items.iter().map(move |item| {
                let plan = deps.catalog.plan_for_item(
                    &item.price,
                    item.lookup_key.as_deref(),
                    item.catalog_id.as_deref(),
                );
                // On its plan only through the price's catalog mark: a price the catalog no longer sells.
                let grandfathered = plan.is_some()
                    && deps
                        .catalog
                        .plan_for_price(&item.price, item.lookup_key.as_deref())
                        .is_none();
                ItemSource {
                    subscription_id: sub.id.clone(),
                    status: sub.status.clone(),
                    item_id: item.id.clone(),
                    price: item.price.clone(),
                    lookup_key: item.lookup_key.clone(),
                    plan: plan.map(|p| p.id.clone()),
                    addon: plan.is_some_and(|p| p.addon),
                    quantity: item.quantity,
                    grandfathered,
                }
            })
        })
        .collect::<Vec<_>>();
    let catalog = catalog_version(&deps.catalog);
    // The catalog the previous version was computed under, when a deploy changed it since.
    let previous_catalog = stored
        .and_then(|s| s.catalog.clone())
        .filter(|c| *c != catalog);
    let catalog_moved =
        previous_catalog.is_some() && previous.is_some_and(|p| catalog_moves(p, &deps.catalog));
    Provenance {
        cause: cause.map(|(event, subscription)| Cause {
            event_id: event.id.to_owned(),
            event_type: event.event_type.to_owned(),
            subscription_id: subscription.map(str::to_owned),
        }),
        previous_version: stored.map(|s| s.version),
        catalog,
        previous_catalog,
        grace: (next.status == Status::PastDue).then(|| Grace {
            since: next.past_due_since.clone(),
            until: next.grace_until.clone(),
        }),
        reasons: history::reasons(previous, next, catalog_moved),
        changes: differences(previous, next),
        explain: explain_with(next, &deps.catalog, &items),
        items,
    }
}

/// The history item to append with the write of `next` at `now`.
pub fn appended(provenance: &Provenance, now: UnixTime) -> Appended<'_> {
    Appended {
        provenance,
        expires_at: expires(now),
    }
}
