//! Plans as code, in Stripe too: what `entitle catalog plan` shows and `entitle catalog apply` does to make
//! Stripe's products, prices and Entitlements features match `config/plans.toml`. A pure function of the
//! catalog and of what Stripe holds now ([`Remote`]), so a second `apply` finds nothing to do.
//!
//! The rules:
//! - one **product** per paid plan and per credit pack, found by `metadata.entitle = <catalog id>` (created
//!   when missing, renamed when its name differs, reactivated when it was archived);
//! - one **price** per catalog price that has a `lookup_key`, an `amount` and a `currency`, found by its
//!   lookup key. A changed amount, currency, interval or product is a *new* price that takes the lookup key
//!   over (`transfer_lookup_key`), and the old one is archived: Stripe prices are immutable, and subscriptions
//!   on the old price keep it (grandfathered) and keep resolving to their plan. A catalog price named only by
//!   `id`, or without an amount (negotiated by sales), is Stripe's to manage: reported, never touched;
//! - one **Entitlements feature** per catalog feature (lookup key = the feature name), attached to the product
//!   of every plan that grants it and detached from the ones that no longer do;
//! - one **billing meter** per limit that some plan bills overage of (event name `entitle_<limit>`, summing the
//!   events' `value` per `stripe_customer_id`); meters cannot be deleted, so one the catalog dropped is
//!   deactivated and reactivated if it comes back. Meters carry no metadata: those whose event name starts
//!   with `entitle_` are Entitle's;
//! - one **metered price** per plan overage and interval of the plan's prices (lookup key
//!   `<plan>_<limit>_overage_<interval>`), on the plan's product, backed by the limit's meter: `unit_amount`
//!   per `per` units (`transform_quantity`, rounded up), replaced like the other prices when it changes;
//! - what the catalog dropped is **archived** (`active = false`), never deleted; objects without
//!   `metadata.entitle` are left alone.
//!
//! By object kind: `features`, `products`, `meters` and `prices` each plan their own changes; [`plan`] runs
//! them in the order Stripe needs (what a change refers to exists before it).
mod action;
mod features;
mod meters;
mod prices;
mod products;
mod remote;

pub use action::Action;
pub use remote::{Remote, RemoteFeature, RemoteMeter, RemotePrice, RemoteProduct};

use crate::plans::{CatalogPrice, OveragePrice, PlanCatalog};
use serde::Serialize;

/// The `metadata` key that marks an object as Entitle's, with the catalog id it belongs to.
pub const METADATA_KEY: &str = "entitle";

/// The `metadata` key of a metered overage price naming the limit it bills.
pub const OVERAGE_METADATA_KEY: &str = "entitle_overage";

/// The event-name prefix of Entitle's billing meters (meters have no metadata).
pub const METER_PREFIX: &str = "entitle_";

/// A catalog price Stripe keeps to itself: why it is not synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmanaged {
    pub owner: String,
    pub price: String,
    pub reason: &'static str,
}

/// The changes that make Stripe match the catalog, in the order to apply them, and what is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncPlan {
    pub actions: Vec<Action>,
    pub unmanaged: Vec<Unmanaged>,
}

/// What the catalog sells in one product: a paid plan or a credit pack.
struct Sold<'a> {
    /// The catalog id of the plan or pack.
    owner: &'a str,
    /// The product's name.
    name: &'a str,
    /// Its prices: a plan's own, then its per-seat prices (on the same product).
    prices: Vec<&'a CatalogPrice>,
    features: Vec<&'a str>,
}

/// What the catalog sells: each paid plan, then each credit pack.
fn sold(catalog: &PlanCatalog) -> Vec<Sold<'_>> {
    let plans = catalog.plans().iter().filter(|p| !p.default).map(|p| Sold {
        owner: p.id.as_str(),
        name: p.name.as_str(),
        prices: p
            .prices
            .iter()
            .chain(p.seats.iter().flat_map(|s| s.prices.iter()))
            .collect(),
        features: p.features.iter().map(String::as_str).collect(),
    });
    let packs = catalog.credit_packs().iter().map(|p| Sold {
        owner: p.id.as_str(),
        name: p.name.as_str(),
        prices: p.prices.iter().collect(),
        features: Vec::new(),
    });
    plans.chain(packs).collect()
}

/// The metered prices that bill the paid plans' overage.
fn overage_prices(catalog: &PlanCatalog) -> Vec<OveragePrice<'_>> {
    catalog
        .plans()
        .iter()
        .filter(|p| !p.default)
        .flat_map(|p| p.overage_prices())
        .collect()
}

/// A display name for a feature: `audit_log` → `Audit log`.
pub fn feature_name(lookup_key: &str) -> String {
    let spaced = lookup_key.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// The plan: see the module's rules.
pub fn plan(catalog: &PlanCatalog, remote: &Remote) -> SyncPlan {
    let sold = sold(catalog);
    let overage = overage_prices(catalog);
    let wanted_features = features::wanted(&sold);
    let wanted_meters = meters::wanted(&overage);
    let mut plan = SyncPlan::default();

    // Features first: products are attached to them.
    features::create_or_reactivate(catalog, &wanted_features, remote, &mut plan);
    products::create_or_update(&sold, remote, &mut plan);
    // Meters before the metered prices on them.
    meters::create_or_reactivate(&wanted_meters, remote, &mut plan);
    prices::sync(&sold, &overage, remote, &mut plan);
    features::attach_and_detach(&sold, remote, &mut plan);

    // What the catalog dropped.
    products::archive_dropped(&sold, remote, &mut plan);
    features::archive_dropped(&wanted_features, remote, &mut plan);
    // After the prices on them are archived.
    meters::deactivate_dropped(&wanted_meters, remote, &mut plan);
    plan
}

#[cfg(test)]
mod tests;
