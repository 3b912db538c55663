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
//! - what the catalog dropped is **archived** (`active = false`), never deleted; objects without
//!   `metadata.entitle` are left alone.
use crate::plans::{CatalogPrice, Interval, PlanCatalog};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The `metadata` key that marks an object as Entitle's, with the catalog id it belongs to.
pub const METADATA_KEY: &str = "entitle";

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
            }
        }
        remote
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
