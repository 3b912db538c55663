//! Stripe prices, by lookup key: one per catalog price with a `lookup_key`, an `amount` and a `currency`,
//! and one metered price per plan overage and interval. Stripe prices are immutable: a changed one is a new
//! price that takes the lookup key over, and the old one is archived.
use std::collections::BTreeSet;

use super::meters::meter_of;
use super::products::product_of;
use super::{Action, Remote, RemotePrice, Sold, SyncPlan, Unmanaged};
use crate::plans::{meter_event_name, CatalogPrice, OveragePrice};

/// Why a price made by hand that holds a catalog lookup key is not replaced.
const HELD_BY_HAND: &str = "its lookup key is held by a price without metadata.entitle that sells something else: left alone";

/// The catalog's prices, then the metered overage prices, then the archiving of Entitle's prices whose
/// lookup key the catalog no longer has.
pub(super) fn sync(
    sold: &[Sold<'_>],
    overage: &[OveragePrice<'_>],
    remote: &Remote,
    plan: &mut SyncPlan,
) {
    let mut wanted_keys = BTreeSet::new();
    for s in sold {
        let product = product_of(remote, s.owner).map(|p| p.id.as_str());
        for price in &s.prices {
            if let Some(key) = catalog_price(s.owner, product, price, remote, plan) {
                wanted_keys.insert(key);
            }
        }
    }
    for o in overage {
        wanted_keys.insert(o.lookup_key.as_str());
        overage_price(o, remote, plan);
    }
    archive_dropped(&wanted_keys, remote, plan);
}

/// The active price holding lookup key `key`.
fn holder<'r>(remote: &'r Remote, key: &str) -> Option<&'r RemotePrice> {
    remote
        .prices
        .iter()
        .find(|p| p.active && p.lookup_key.as_deref() == Some(key))
}

/// One catalog price of `owner`, whose product is `product` when it exists. Its lookup key, the one it
/// keeps from archiving, if it has one.
fn catalog_price<'a>(
    owner: &str,
    product: Option<&str>,
    price: &'a CatalogPrice,
    remote: &Remote,
    plan: &mut SyncPlan,
) -> Option<&'a str> {
    let (Some(key), Some(amount), Some(currency)) = (
        price.lookup_key.as_deref(),
        price.amount,
        price.currency.as_deref(),
    ) else {
        plan.unmanaged.push(Unmanaged {
            owner: owner.to_owned(),
            price: price.reference().to_owned(),
            reason: if price.lookup_key.is_none() {
                "named by id only: Stripe's to manage"
            } else {
                "no amount or currency in the catalog (negotiated): Stripe's to manage"
            },
        });
        return price.lookup_key.as_deref();
    };
    let current = holder(remote, key);
    let amount = amount as i64;
    let alike = |p: &RemotePrice| {
        p.unit_amount == Some(amount)
            && p.currency.eq_ignore_ascii_case(currency)
            && p.interval == price.interval
    };
    match current {
        Some(p) if alike(p) && Some(p.product.as_str()) == product => {}
        // A price made by hand that holds the key: adopted when it sells the same, else left alone.
        Some(p) if p.entitle.is_none() => {
            if !alike(p) {
                plan.unmanaged.push(Unmanaged {
                    owner: owner.to_owned(),
                    price: key.to_owned(),
                    reason: HELD_BY_HAND,
                });
            }
        }
        current => replace(
            current,
            Action::CreatePrice {
                owner: owner.to_owned(),
                lookup_key: key.to_owned(),
                amount,
                currency: currency.to_ascii_lowercase(),
                interval: price.interval,
                replaces: current.map(|p| p.id.clone()),
            },
            plan,
        ),
    }
    Some(key)
}

/// One metered overage price, on its plan's product, backed by its limit's meter.
fn overage_price(o: &OveragePrice<'_>, remote: &Remote, plan: &mut SyncPlan) {
    let product = product_of(remote, o.plan).map(|p| p.id.as_str());
    let event_name = meter_event_name(o.limit);
    let meter = meter_of(remote, &event_name).map(|m| m.id.as_str());
    let unit_amount = o.overage.unit_amount as i64;
    let currency = o.overage.currency.as_str();
    let divide_by = (o.overage.per > 1).then_some(o.overage.per);
    let alike = |p: &RemotePrice| {
        p.unit_amount == Some(unit_amount)
            && p.currency.eq_ignore_ascii_case(currency)
            && p.interval == Some(o.interval)
            && p.divide_by == divide_by
            && p.meter.is_some()
            && p.meter.as_deref() == meter
    };
    match holder(remote, &o.lookup_key) {
        Some(p) if alike(p) && Some(p.product.as_str()) == product => {}
        Some(p) if p.entitle.is_none() => {
            if !alike(p) {
                plan.unmanaged.push(Unmanaged {
                    owner: o.plan.to_owned(),
                    price: o.lookup_key.clone(),
                    reason: HELD_BY_HAND,
                });
            }
        }
        current => replace(
            current,
            Action::CreateMeteredPrice {
                owner: o.plan.to_owned(),
                limit: o.limit.to_owned(),
                event_name,
                lookup_key: o.lookup_key.clone(),
                unit_amount,
                per: o.overage.per,
                currency: currency.to_owned(),
                interval: o.interval,
                replaces: current.map(|p| p.id.clone()),
            },
            plan,
        ),
    }
}

/// `create`, then the archiving of the price it takes the lookup key from, if any.
fn replace(current: Option<&RemotePrice>, create: Action, plan: &mut SyncPlan) {
    plan.actions.push(create);
    if let Some(old) = current {
        plan.actions.push(Action::ArchivePrice {
            id: old.id.clone(),
            lookup_key: old.lookup_key.clone(),
            reason: "replaced by the new price".into(),
        });
    }
}

/// An active price of Entitle's whose lookup key the catalog no longer has is archived.
fn archive_dropped(wanted_keys: &BTreeSet<&str>, remote: &Remote, plan: &mut SyncPlan) {
    for price in remote
        .prices
        .iter()
        .filter(|p| p.active && p.entitle.is_some())
    {
        if !price
            .lookup_key
            .as_deref()
            .is_some_and(|k| wanted_keys.contains(k))
        {
            plan.actions.push(Action::ArchivePrice {
                id: price.id.clone(),
                lookup_key: price.lookup_key.clone(),
                reason: "no longer in the catalog".into(),
            });
        }
    }
}
