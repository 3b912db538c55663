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
use crate::plans::{meter_event_name, CatalogPrice, Interval, OveragePrice, PlanCatalog};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The `metadata` key that marks an object as Entitle's, with the catalog id it belongs to.
pub const METADATA_KEY: &str = "entitle";

/// The `metadata` key of a metered overage price naming the limit it bills.
pub const OVERAGE_METADATA_KEY: &str = "entitle_overage";

/// The event-name prefix of Entitle's billing meters (meters have no metadata).
pub const METER_PREFIX: &str = "entitle_";

/// A Stripe product as the sync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProduct {
    pub id: String,
    pub name: String,
    pub active: bool,
    /// `metadata.entitle`.
    pub entitle: Option<String>,
    /// The Entitlements features attached to it: `(attachment id, feature lookup key)`.
    pub features: Vec<(String, String)>,
}

/// A Stripe price as the sync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePrice {
    pub id: String,
    pub product: String,
    pub active: bool,
    pub lookup_key: Option<String>,
    pub unit_amount: Option<i64>,
    pub currency: String,
    pub interval: Option<Interval>,
    pub entitle: Option<String>,
    /// `recurring.meter`: the billing meter of a metered price.
    pub meter: Option<String>,
    /// `transform_quantity.divide_by`.
    pub divide_by: Option<u64>,
}

/// A Stripe billing meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMeter {
    pub id: String,
    pub event_name: String,
    pub display_name: String,
    /// `status == "active"`.
    pub active: bool,
}

/// A Stripe Entitlements feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFeature {
    pub id: String,
    pub lookup_key: String,
    pub name: String,
    pub active: bool,
    pub entitle: bool,
}

/// What Stripe holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub products: Vec<RemoteProduct>,
    pub prices: Vec<RemotePrice>,
    pub features: Vec<RemoteFeature>,
    pub meters: Vec<RemoteMeter>,
}

/// One change to make in Stripe. Catalog ids (`owner`) name the product of objects not created yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateFeature {
        lookup_key: String,
        name: String,
    },
    ReactivateFeature {
        id: String,
        lookup_key: String,
    },
    CreateProduct {
        owner: String,
        name: String,
    },
    UpdateProduct {
        id: String,
        owner: String,
        name: String,
        reactivate: bool,
    },
    CreatePrice {
        owner: String,
        lookup_key: String,
        amount: i64,
        currency: String,
        interval: Option<Interval>,
        /// The price that holds the lookup key now, archived after the new one takes it.
        replaces: Option<String>,
    },
    ArchivePrice {
        id: String,
        lookup_key: Option<String>,
        reason: String,
    },
    AttachFeature {
        owner: String,
        feature: String,
    },
    DetachFeature {
        product: String,
        owner: String,
        attachment: String,
        feature: String,
    },
    ArchiveProduct {
        id: String,
        owner: String,
    },
    ArchiveFeature {
        id: String,
        lookup_key: String,
    },
    CreateMeter {
        event_name: String,
        display_name: String,
    },
    ReactivateMeter {
        id: String,
        event_name: String,
    },
    DeactivateMeter {
        id: String,
        event_name: String,
    },
    /// A metered price on the plan's product, backed by the meter of `event_name`.
    CreateMeteredPrice {
        owner: String,
        limit: String,
        event_name: String,
        lookup_key: String,
        unit_amount: i64,
        per: u64,
        currency: String,
        interval: Interval,
        /// The price that holds the lookup key now, archived after the new one takes it.
        replaces: Option<String>,
    },
}

impl Action {
    /// One line for humans: `+ price pro_monthly (professional): 19900 usd / month`.
    pub fn describe(&self) -> String {
        let interval = |i: &Option<Interval>| match i {
            Some(i) => format!(
                " / {}",
                serde_json::to_value(i)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            ),
            None => " one-time".to_owned(),
        };
        match self {
            Action::CreateFeature { lookup_key, .. } => format!("+ feature {lookup_key}"),
            Action::ReactivateFeature { lookup_key, .. } => {
                format!("~ feature {lookup_key}: reactivate")
            }
            Action::CreateProduct { owner, name } => format!("+ product {owner} ({name})"),
            Action::UpdateProduct {
                owner,
                name,
                reactivate,
                ..
            } => format!(
                "~ product {owner}: {}name {name:?}",
                if *reactivate { "reactivate, " } else { "" }
            ),
            Action::CreatePrice {
                owner,
                lookup_key,
                amount,
                currency,
                interval: i,
                replaces,
            } => format!(
                "+ price {lookup_key} ({owner}): {amount} {currency}{}{}",
                interval(i),
                replaces
                    .as_ref()
                    .map(|old| format!(", replacing {old}"))
                    .unwrap_or_default()
            ),
            Action::ArchivePrice {
                id,
                lookup_key,
                reason,
            } => format!(
                "- price {} ({id}): archive, {reason}",
                lookup_key.as_deref().unwrap_or("-")
            ),
            Action::AttachFeature { owner, feature } => {
                format!("+ feature {feature} on product {owner}")
            }
            Action::DetachFeature { owner, feature, .. } => {
                format!("- feature {feature} off product {owner}")
            }
            Action::ArchiveProduct { id, owner } => {
                format!("- product {owner} ({id}): archive, no longer in the catalog")
            }
            Action::ArchiveFeature { lookup_key, .. } => {
                format!("- feature {lookup_key}: archive, no longer in the catalog")
            }
            Action::CreateMeter {
                event_name,
                display_name,
            } => format!("+ meter {event_name} ({display_name})"),
            Action::ReactivateMeter { event_name, .. } => {
                format!("~ meter {event_name}: reactivate")
            }
            Action::DeactivateMeter { id, event_name } => {
                format!("- meter {event_name} ({id}): deactivate, no longer in the catalog")
            }
            Action::CreateMeteredPrice {
                owner,
                limit,
                lookup_key,
                unit_amount,
                per,
                currency,
                interval,
                replaces,
                ..
            } => format!(
                "+ metered price {lookup_key} ({owner}): {unit_amount} {currency} per {per} {limit} beyond the plan / {}{}",
                interval.as_str(),
                replaces
                    .as_ref()
                    .map(|old| format!(", replacing {old}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// A catalog price Stripe keeps to itself: why it is not synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmanaged {
    pub owner: String,
    pub price: String,
    pub reason: &'static str,
}

/// The changes that make Stripe match the catalog, in the order to apply them, and what is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unmanaged: Vec<Unmanaged>,
}

/// What the catalog sells: `(owner id, product name, prices, features)` for each paid plan and credit pack.
fn sold(catalog: &PlanCatalog) -> Vec<(&str, &str, &[CatalogPrice], Vec<&str>)> {
    let plans = catalog.plans().iter().filter(|p| !p.default).map(|p| {
        (
            p.id.as_str(),
            p.name.as_str(),
            p.prices.as_slice(),
            p.features.iter().map(String::as_str).collect(),
        )
    });
    let packs = catalog.credit_packs().iter().map(|p| {
        (
            p.id.as_str(),
            p.name.as_str(),
            p.prices.as_slice(),
            Vec::new(),
        )
    });
    plans.chain(packs).collect()
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
pub fn plan(catalog: &PlanCatalog, remote: &Remote) -> Plan {
    let mut plan = Plan::default();
    let sold = sold(catalog);

    // Features first: products are attached to them.
    let wanted_features: BTreeSet<&str> = sold
        .iter()
        .flat_map(|(_, _, _, f)| f.iter().copied())
        .collect();
    for feature in &wanted_features {
        match remote.features.iter().find(|f| f.lookup_key == *feature) {
            None => plan.actions.push(Action::CreateFeature {
                lookup_key: (*feature).to_owned(),
                name: feature_name(feature),
            }),
            Some(f) if !f.active => plan.actions.push(Action::ReactivateFeature {
                id: f.id.clone(),
                lookup_key: f.lookup_key.clone(),
            }),
            Some(_) => {}
        }
    }

    // Products: an active one marked with the owner's id wins over an archived one.
    let product_of = |owner: &str| -> Option<&RemoteProduct> {
        let mut marked: Vec<&RemoteProduct> = remote
            .products
            .iter()
            .filter(|p| p.entitle.as_deref() == Some(owner))
            .collect();
        marked.sort_by_key(|p| !p.active);
        marked.first().copied()
    };
    for (owner, name, _, _) in &sold {
        match product_of(owner) {
            None => plan.actions.push(Action::CreateProduct {
                owner: (*owner).to_owned(),
                name: (*name).to_owned(),
            }),
            Some(p) if !p.active || p.name != *name => plan.actions.push(Action::UpdateProduct {
                id: p.id.clone(),
                owner: (*owner).to_owned(),
                name: (*name).to_owned(),
                reactivate: !p.active,
            }),
            Some(_) => {}
        }
    }

    // Billing meters: one per limit some plan bills overage of.
    let overage: Vec<OveragePrice<'_>> = catalog
        .plans()
        .iter()
        .filter(|p| !p.default)
        .flat_map(|p| p.overage_prices())
        .collect();
    let wanted_meters: BTreeMap<String, &str> = overage
        .iter()
        .map(|o| (meter_event_name(o.limit), o.limit))
        .collect();
    // An active meter wins over a deactivated one with the same event name.
    let meter_of = |event_name: &str| -> Option<&RemoteMeter> {
        let mut named: Vec<&RemoteMeter> = remote
            .meters
            .iter()
            .filter(|m| m.event_name == event_name)
            .collect();
        named.sort_by_key(|m| !m.active);
        named.first().copied()
    };
    for (event_name, limit) in &wanted_meters {
        match meter_of(event_name) {
            None => plan.actions.push(Action::CreateMeter {
                event_name: event_name.clone(),
                display_name: feature_name(limit),
            }),
            Some(m) if !m.active => plan.actions.push(Action::ReactivateMeter {
                id: m.id.clone(),
                event_name: event_name.clone(),
            }),
            Some(_) => {}
        }
    }

    // Prices, by lookup key.
    let mut wanted_keys = BTreeSet::new();
    for (owner, _, prices, _) in &sold {
        let product = product_of(owner).map(|p| p.id.as_str());
        for price in prices.iter() {
            let (Some(key), Some(amount), Some(currency)) = (
                price.lookup_key.as_deref(),
                price.amount,
                price.currency.as_deref(),
            ) else {
                plan.unmanaged.push(Unmanaged {
                    owner: (*owner).to_owned(),
                    price: price.reference().to_owned(),
                    reason: if price.lookup_key.is_none() {
                        "named by id only: Stripe's to manage"
                    } else {
                        "no amount or currency in the catalog (negotiated): Stripe's to manage"
                    },
                });
                if let Some(key) = price.lookup_key.as_deref() {
                    wanted_keys.insert(key);
                }
                continue;
            };
            wanted_keys.insert(key);
            let current = remote
                .prices
                .iter()
                .find(|p| p.active && p.lookup_key.as_deref() == Some(key));
            let amount = amount as i64;
            let same = |p: &RemotePrice| {
                p.unit_amount == Some(amount)
                    && p.currency.eq_ignore_ascii_case(currency)
                    && p.interval == price.interval
                    && Some(p.product.as_str()) == product
            };
            match current {
                Some(p) if same(p) => {}
                // A price made by hand that holds the key: adopted when it sells the same, else left alone.
                Some(p) if p.entitle.is_none() => {
                    let alike = p.unit_amount == Some(amount)
                        && p.currency.eq_ignore_ascii_case(currency)
                        && p.interval == price.interval;
                    if !alike {
                        plan.unmanaged.push(Unmanaged {
                            owner: (*owner).to_owned(),
                            price: key.to_owned(),
                            reason: "its lookup key is held by a price without metadata.entitle that sells something else: left alone",
                        });
                    }
                }
                current => {
                    plan.actions.push(Action::CreatePrice {
                        owner: (*owner).to_owned(),
                        lookup_key: key.to_owned(),
                        amount,
                        currency: currency.to_ascii_lowercase(),
                        interval: price.interval,
                        replaces: current.map(|p| p.id.clone()),
                    });
                    if let Some(old) = current {
                        plan.actions.push(Action::ArchivePrice {
                            id: old.id.clone(),
                            lookup_key: old.lookup_key.clone(),
                            reason: "replaced by the new price".into(),
                        });
                    }
                }
            }
        }
    }
    // Metered overage prices, by lookup key, like the others.
    for o in &overage {
        wanted_keys.insert(o.lookup_key.as_str());
        let product = product_of(o.plan).map(|p| p.id.as_str());
        let event_name = meter_event_name(o.limit);
        let meter = meter_of(&event_name).map(|m| m.id.as_str());
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
        let current = remote
            .prices
            .iter()
            .find(|p| p.active && p.lookup_key.as_deref() == Some(o.lookup_key.as_str()));
        match current {
            Some(p) if alike(p) && Some(p.product.as_str()) == product => {}
            Some(p) if p.entitle.is_none() => {
                if !alike(p) {
                    plan.unmanaged.push(Unmanaged {
                        owner: o.plan.to_owned(),
                        price: o.lookup_key.clone(),
                        reason: "its lookup key is held by a price without metadata.entitle that sells something else: left alone",
                    });
                }
            }
            current => {
                plan.actions.push(Action::CreateMeteredPrice {
                    owner: o.plan.to_owned(),
                    limit: o.limit.to_owned(),
                    event_name,
                    lookup_key: o.lookup_key.clone(),
                    unit_amount,
                    per: o.overage.per,
                    currency: currency.to_owned(),
                    interval: o.interval,
                    replaces: current.map(|p| p.id.clone()),
                });
                if let Some(old) = current {
                    plan.actions.push(Action::ArchivePrice {
                        id: old.id.clone(),
                        lookup_key: old.lookup_key.clone(),
                        reason: "replaced by the new price".into(),
                    });
                }
            }
        }
    }
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

    // Feature attachments of each plan's product.
    for (owner, _, _, features) in &sold {
        let attached: BTreeMap<&str, &str> = product_of(owner)
            .map(|p| {
                p.features
                    .iter()
                    .map(|(a, f)| (f.as_str(), a.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        for feature in features {
            if !attached.contains_key(feature) {
                plan.actions.push(Action::AttachFeature {
                    owner: (*owner).to_owned(),
                    feature: (*feature).to_owned(),
                });
            }
        }
        if let Some(product) = product_of(owner) {
            for (feature, attachment) in &attached {
                if !features.contains(feature) {
                    plan.actions.push(Action::DetachFeature {
                        product: product.id.clone(),
                        owner: (*owner).to_owned(),
                        attachment: (*attachment).to_owned(),
                        feature: (*feature).to_owned(),
                    });
                }
            }
        }
    }

    // What the catalog dropped.
    let owners: BTreeSet<&str> = sold.iter().map(|(o, _, _, _)| *o).collect();
    for product in remote.products.iter().filter(|p| p.active) {
        if let Some(owner) = product.entitle.as_deref().filter(|o| !owners.contains(o)) {
            plan.actions.push(Action::ArchiveProduct {
                id: product.id.clone(),
                owner: owner.to_owned(),
            });
        }
    }
    for feature in remote.features.iter().filter(|f| f.active && f.entitle) {
        if !wanted_features.contains(feature.lookup_key.as_str()) {
            plan.actions.push(Action::ArchiveFeature {
                id: feature.id.clone(),
                lookup_key: feature.lookup_key.clone(),
            });
        }
    }
    // After the prices on them are archived.
    for meter in remote.meters.iter().filter(|m| m.active) {
        if meter.event_name.starts_with(METER_PREFIX)
            && !wanted_meters.contains_key(&meter.event_name)
        {
            plan.actions.push(Action::DeactivateMeter {
                id: meter.id.clone(),
                event_name: meter.event_name.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"
[limits]
seats = { kind = "allocated" }

[[plans]]
id = "free"
name = "Free"
default = true

[[plans]]
id = "pro"
name = "Pro"
features = ["sso", "api"]

[[plans.prices]]
lookup_key = "pro_monthly"
interval = "month"
amount = 1900
currency = "usd"

[[plans.prices]]
id = "price_negotiated"
interval = "year"

[[credit_packs]]
id = "credits_100"
name = "100 credits"
credits = 100

[[credit_packs.prices]]
lookup_key = "credits_100"
amount = 500
currency = "usd"
"#;

    fn catalog(text: &str) -> PlanCatalog {
        PlanCatalog::parse(text).unwrap()
    }

    /// What Stripe holds after `plan`'s actions, as `apply` would leave it.
    fn applied(catalog: &PlanCatalog, mut remote: Remote) -> Remote {
        let mut n = 0;
        let mut id = |prefix: &str| {
            n += 1;
            format!("{prefix}_{n}")
        };
        for action in plan(catalog, &remote).actions {
            match action {
                Action::CreateFeature { lookup_key, name } => remote.features.push(RemoteFeature {
                    id: id("feat"),
                    lookup_key,
                    name,
                    active: true,
                    entitle: true,
                }),
                Action::ReactivateFeature { id, .. } => {
                    remote
                        .features
                        .iter_mut()
                        .find(|f| f.id == id)
                        .unwrap()
                        .active = true
                }
                Action::CreateProduct { owner, name } => remote.products.push(RemoteProduct {
                    id: id("prod"),
                    name,
                    active: true,
                    entitle: Some(owner),
                    features: vec![],
                }),
                Action::UpdateProduct { id, name, .. } => {
                    let p = remote.products.iter_mut().find(|p| p.id == id).unwrap();
                    p.name = name;
                    p.active = true;
                }
                Action::CreatePrice {
                    owner,
                    lookup_key,
                    amount,
                    currency,
                    interval,
                    ..
                } => {
                    let product = remote
                        .products
                        .iter()
                        .find(|p| p.active && p.entitle.as_deref() == Some(owner.as_str()))
                        .unwrap()
                        .id
                        .clone();
                    for other in &mut remote.prices {
                        if other.lookup_key.as_deref() == Some(lookup_key.as_str()) {
                            other.lookup_key = None;
                        }
                    }
                    remote.prices.push(RemotePrice {
                        id: id("price"),
                        product,
                        active: true,
                        lookup_key: Some(lookup_key),
                        unit_amount: Some(amount),
                        currency,
                        interval,
                        entitle: Some(owner),
                        meter: None,
                        divide_by: None,
                    });
                }
                Action::ArchivePrice { id, .. } => {
                    remote
                        .prices
                        .iter_mut()
                        .find(|p| p.id == id)
                        .unwrap()
                        .active = false
                }
                Action::AttachFeature { owner, feature } => {
                    let attachment = id("prodft");
                    remote
                        .products
                        .iter_mut()
                        .find(|p| p.active && p.entitle.as_deref() == Some(owner.as_str()))
                        .unwrap()
                        .features
                        .push((attachment, feature));
                }
                Action::DetachFeature {
                    product,
                    attachment,
                    ..
                } => remote
                    .products
                    .iter_mut()
                    .find(|p| p.id == product)
                    .unwrap()
                    .features
                    .retain(|(a, _)| *a != attachment),
                Action::ArchiveProduct { id, .. } => {
                    remote
                        .products
                        .iter_mut()
                        .find(|p| p.id == id)
                        .unwrap()
                        .active = false
                }
                Action::ArchiveFeature { id, .. } => {
                    remote
                        .features
                        .iter_mut()
                        .find(|f| f.id == id)
                        .unwrap()
                        .active = false
                }
                Action::CreateMeter {
                    event_name,
                    display_name,
                } => remote.meters.push(RemoteMeter {
                    id: id("mtr"),
                    event_name,
                    display_name,
                    active: true,
                }),
                Action::ReactivateMeter { id, .. } | Action::DeactivateMeter { id, .. } => {
                    let meter = remote.meters.iter_mut().find(|m| m.id == id).unwrap();
                    meter.active = !meter.active;
                }
                Action::CreateMeteredPrice {
                    owner,
                    event_name,
                    lookup_key,
                    unit_amount,
                    per,
                    currency,
                    interval,
                    ..
                } => {
                    let product = remote
                        .products
                        .iter()
                        .find(|p| p.active && p.entitle.as_deref() == Some(owner.as_str()))
                        .unwrap()
                        .id
                        .clone();
                    let meter = remote
                        .meters
                        .iter()
                        .find(|m| m.active && m.event_name == event_name)
                        .unwrap()
                        .id
                        .clone();
                    for other in &mut remote.prices {
                        if other.lookup_key.as_deref() == Some(lookup_key.as_str()) {
                            other.lookup_key = None;
                        }
                    }
                    remote.prices.push(RemotePrice {
                        id: id("price"),
                        product,
                        active: true,
                        lookup_key: Some(lookup_key),
                        unit_amount: Some(unit_amount),
                        currency,
                        interval: Some(interval),
                        entitle: Some(owner),
                        meter: Some(meter),
                        divide_by: (per > 1).then_some(per),
                    });
                }
            }
        }
        remote
    }

    /// CATALOG with a metered limit the pro plan includes 1,000 of and bills beyond: 2 cents per 100.
    fn with_overage() -> String {
        CATALOG
            .replace(
                "seats = { kind = \"allocated\" }",
                "seats = { kind = \"allocated\" }\nmessages = { kind = \"metered\", resets = \"month\" }",
            )
            .replace(
                "features = [\"sso\", \"api\"]",
                "features = [\"sso\", \"api\"]\n[plans.limits]\nmessages = 1000\n[plans.overage]\nmessages = { unit_amount = 2, per = 100, currency = \"usd\" }",
            )
    }

    #[test]
    fn overage_gets_a_meter_and_a_metered_price_per_interval_and_a_second_plan_finds_nothing() {
        let catalog = catalog(&with_overage());
        let first = plan(&catalog, &Remote::default());
        let lines: Vec<String> = first.actions.iter().map(Action::describe).collect();
        for line in [
            "+ meter entitle_messages (Messages)",
            "+ metered price pro_messages_overage_month (pro): 2 usd per 100 messages beyond the plan / month",
            "+ metered price pro_messages_overage_year (pro): 2 usd per 100 messages beyond the plan / year",
        ] {
            assert!(lines.iter().any(|l| l == line), "{line:?} not in {lines:#?}");
        }
        let meter = lines.iter().position(|l| l.starts_with("+ meter")).unwrap();
        let price = lines
            .iter()
            .position(|l| l.starts_with("+ metered"))
            .unwrap();
        assert!(meter < price, "the meter before the prices on it");
        let remote = applied(&catalog, Remote::default());
        assert_eq!(plan(&catalog, &remote).actions, []);
        let month = remote
            .prices
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some("pro_messages_overage_month"))
            .unwrap();
        assert_eq!(month.divide_by, Some(100));
        assert_eq!(month.meter.as_deref(), Some(remote.meters[0].id.as_str()));
    }

    #[test]
    fn a_changed_overage_is_a_new_metered_price_and_a_dropped_one_deactivates_its_meter() {
        let before = catalog(&with_overage());
        let remote = applied(&before, Remote::default());
        let old = |remote: &Remote, key: &str| {
            remote
                .prices
                .iter()
                .find(|p| p.lookup_key.as_deref() == Some(key))
                .unwrap()
                .id
                .clone()
        };
        let month = old(&remote, "pro_messages_overage_month");
        let year = old(&remote, "pro_messages_overage_year");
        for edit in ["unit_amount = 3, per = 100", "unit_amount = 2, per = 1000"] {
            let after = catalog(&with_overage().replace("unit_amount = 2, per = 100", edit));
            let changes = plan(&after, &remote).actions;
            assert_eq!(changes.len(), 4, "{changes:#?}");
            assert!(changes.iter().any(|a| matches!(a,
                Action::CreateMeteredPrice { lookup_key, replaces: Some(r), .. }
                    if lookup_key == "pro_messages_overage_month" && *r == month)));
            for id in [&month, &year] {
                assert!(changes
                    .iter()
                    .any(|a| matches!(a, Action::ArchivePrice { id: i, .. } if i == id)));
            }
            let remote = applied(&after, remote.clone());
            assert_eq!(plan(&after, &remote).actions, []);
        }

        let dropped = catalog(&CATALOG.replace(
            "seats = { kind = \"allocated\" }",
            "seats = { kind = \"allocated\" }\nmessages = { kind = \"metered\", resets = \"month\" }",
        ));
        let changes: Vec<String> = plan(&dropped, &remote)
            .actions
            .iter()
            .map(Action::describe)
            .collect();
        assert_eq!(changes.len(), 3, "{changes:#?}");
        assert!(changes[0].starts_with("- price pro_messages_overage_month"));
        assert!(changes[1].starts_with("- price pro_messages_overage_year"));
        assert!(changes[2].starts_with("- meter entitle_messages"));
        assert!(changes[2].ends_with("deactivate, no longer in the catalog"));
        let remote = applied(&dropped, remote);
        assert!(!remote.meters[0].active);
        assert_eq!(plan(&dropped, &remote).actions, []);

        let back = catalog(&with_overage());
        let changes: Vec<String> = plan(&back, &remote)
            .actions
            .iter()
            .map(Action::describe)
            .collect();
        assert_eq!(changes[0], "~ meter entitle_messages: reactivate");
        let remote = applied(&back, remote);
        assert!(remote.meters[0].active, "reactivated, not a second meter");
        assert_eq!(remote.meters.len(), 1);
        assert_eq!(plan(&back, &remote).actions, []);
    }

    #[test]
    fn a_meter_that_is_not_entitles_is_left_alone() {
        let catalog = catalog(CATALOG);
        let remote = Remote {
            meters: vec![RemoteMeter {
                id: "mtr_hand".into(),
                event_name: "api_calls".into(),
                display_name: "API calls".into(),
                active: true,
            }],
            ..Remote::default()
        };
        assert!(plan(&catalog, &remote)
            .actions
            .iter()
            .all(|a| !a.describe().contains("api_calls")));
    }

    #[test]
    fn an_empty_account_gets_everything_and_a_second_plan_finds_nothing() {
        let catalog = catalog(CATALOG);
        let first = plan(&catalog, &Remote::default());
        let lines: Vec<String> = first.actions.iter().map(Action::describe).collect();
        assert_eq!(
            lines,
            [
                "+ feature api",
                "+ feature sso",
                "+ product pro (Pro)",
                "+ product credits_100 (100 credits)",
                "+ price pro_monthly (pro): 1900 usd / month",
                "+ price credits_100 (credits_100): 500 usd one-time",
                "+ feature api on product pro",
                "+ feature sso on product pro",
            ]
        );
        assert_eq!(first.unmanaged.len(), 1, "the negotiated price is Stripe's");
        let remote = applied(&catalog, Remote::default());
        assert_eq!(plan(&catalog, &remote).actions, []);
    }

    #[test]
    fn a_changed_amount_is_a_new_price_taking_the_key_and_the_old_one_archived() {
        let before = catalog(CATALOG);
        let remote = applied(&before, Remote::default());
        let old = remote
            .prices
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some("pro_monthly"))
            .unwrap()
            .id
            .clone();
        let after = catalog(&CATALOG.replace("amount = 1900", "amount = 2400"));
        let changes = plan(&after, &remote).actions;
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(
            matches!(&changes[0], Action::CreatePrice { amount: 2400, replaces: Some(r), .. } if *r == old)
        );
        assert!(matches!(&changes[1], Action::ArchivePrice { id, .. } if *id == old));
        let remote = applied(&after, remote);
        assert_eq!(plan(&after, &remote).actions, []);
    }

    #[test]
    fn a_dropped_plan_is_archived_and_unmarked_objects_are_left_alone() {
        let before = catalog(CATALOG);
        let mut remote = applied(&before, Remote::default());
        remote.products.push(RemoteProduct {
            id: "prod_by_hand".into(),
            name: "T-shirt".into(),
            active: true,
            entitle: None,
            features: vec![],
        });
        remote.prices.push(RemotePrice {
            id: "price_by_hand".into(),
            product: "prod_by_hand".into(),
            active: true,
            lookup_key: Some("tshirt".into()),
            unit_amount: Some(2000),
            currency: "usd".into(),
            interval: None,
            entitle: None,
            meter: None,
            divide_by: None,
        });
        let without_packs = catalog(&CATALOG[..CATALOG.find("[[credit_packs]]").unwrap()]);
        let changes: Vec<String> = plan(&without_packs, &remote)
            .actions
            .iter()
            .map(Action::describe)
            .collect();
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(changes[0].starts_with("- price credits_100"));
        assert!(changes[1].starts_with("- product credits_100"));
        assert!(changes.iter().all(|c| !c.contains("by_hand")));
    }

    #[test]
    fn a_hand_made_price_holding_a_key_is_adopted_when_alike_and_never_touched_otherwise() {
        let catalog = catalog(CATALOG);
        let hand = |amount| RemotePrice {
            id: "price_hand".into(),
            product: "prod_hand".into(),
            active: true,
            lookup_key: Some("pro_monthly".into()),
            unit_amount: Some(amount),
            currency: "usd".into(),
            interval: Some(Interval::Month),
            entitle: None,
            meter: None,
            divide_by: None,
        };
        let alike = Remote {
            prices: vec![hand(1900)],
            ..Remote::default()
        };
        let p = plan(&catalog, &alike);
        assert!(p.actions.iter().all(
            |a| !matches!(a, Action::CreatePrice { lookup_key, .. } if lookup_key == "pro_monthly")
        ));
        let other = Remote {
            prices: vec![hand(999)],
            ..Remote::default()
        };
        let p = plan(&catalog, &other);
        assert!(p.actions.iter().all(
            |a| !matches!(a, Action::CreatePrice { lookup_key, .. } if lookup_key == "pro_monthly")
                && !matches!(a, Action::ArchivePrice { id, .. } if id == "price_hand")
        ));
        assert!(p.unmanaged.iter().any(|u| u.price == "pro_monthly"));
    }

    #[test]
    fn a_feature_a_plan_no_longer_grants_is_detached_and_archived_when_nobody_grants_it() {
        let before = catalog(CATALOG);
        let remote = applied(&before, Remote::default());
        let after =
            catalog(&CATALOG.replace(r#"features = ["sso", "api"]"#, r#"features = ["api"]"#));
        let changes: Vec<String> = plan(&after, &remote)
            .actions
            .iter()
            .map(Action::describe)
            .collect();
        assert_eq!(
            changes,
            [
                "- feature sso off product pro",
                "- feature sso: archive, no longer in the catalog"
            ]
        );
    }
}
