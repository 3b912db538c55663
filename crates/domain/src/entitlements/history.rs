//! Entitlement history: every version the processor wrote, kept append-only beside the current row, with its
//! provenance — what caused it, what it was computed from, the catalog in force — and "explain": where each
//! limit's number and each feature comes from.
//!
//! History records what Entitle granted and enforced, **in the order it applied it**. The current row stays
//! order-independent (a function of Stripe's state alone); the versions before it are the states it passed
//! through on the way, each one true from its `appliedAt` until the next.
use super::{Entitlements, Status};
use crate::plans::{Limit, PlanCatalog};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How long a version is kept by default (`ENTITLEMENT_HISTORY_DAYS`).
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// One version of a subject's entitlements as written, with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub version: u64,
    /// When Entitle applied it (RFC 3339): in force from then until the next version's `appliedAt`.
    pub applied_at: String,
    pub entitlements: Entitlements,
    pub provenance: Provenance,
}

/// Why a version exists and what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The event that prompted the recompute (`null`: the hourly sweep or a reconcile without one).
    pub cause: Option<Cause>,
    pub previous_version: Option<u64>,
    /// A digest of the catalog in force ([`catalog_version`]).
    pub catalog: String,
    /// The catalog the previous version was written under, when it was another one (a deploy changed the
    /// catalog since): with `catalog`, both versions of a `catalog_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_catalog: Option<String>,
    /// The subscriptions' items it was computed from, each resolved to its plan or add-on.
    pub items: Vec<ItemSource>,
    /// The past-due spell, when the plan is kept in grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Grace>,
    /// What changed from the previous version, as tags (`plan_changed`, `addon_added`, …; [`reasons`]).
    pub reasons: Vec<String>,
    /// What changed from the previous version, field by field ([`differences`]).
    pub changes: Vec<Difference>,
    /// Where each number came from, against the catalog in force when it was written ([`explain`]).
    pub explain: Explanation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The Stripe subscription the event was about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSource {
    pub subscription_id: String,
    pub status: String,
    /// The subscription item (`si_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub price: String,
    pub lookup_key: Option<String>,
    /// The plan or add-on the price sells (`null`: none in the catalog, or a per-seat price).
    pub plan: Option<String>,
    pub addon: bool,
    pub quantity: u64,
    /// A price the catalog no longer sells (archived, its lookup key moved on) that keeps its plan through
    /// the price's catalog mark: the subscription stays on the terms it was bought on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grandfathered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grace {
    pub since: Option<String>,
    pub until: Option<String>,
}

/// The catalog's version: a digest of what it grants and sells (plans and limit declarations).
pub fn catalog_version(catalog: &PlanCatalog) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(catalog.plans()).unwrap_or_default());
    hasher.update(format!("{:?}", catalog.limit_decls()).as_bytes());
    format!("cat_{}", &hex::encode(hasher.finalize())[..16])
}

/// One term of a limit's sum: a plan's or add-on's number × its quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Term {
    pub plan: String,
    pub addon: bool,
    pub per_unit: Limit,
    pub quantity: u64,
    pub subscription_id: Option<String>,
    /// The subscription item and its price that grant the term (when the version's items name them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_key: Option<String>,
    /// The item is on a grandfathered price ([`ItemSource::grandfathered`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grandfathered: bool,
}

/// Where one limit's number comes from: its value and the terms that add up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitSource {
    pub value: Limit,
    pub terms: Vec<Term>,
    /// For a person: `agents 13 = starter 3 (sub_…, si_…, starter_monthly) + team_pack 5 × 2 (sub_…, si_…,
    /// team_pack_monthly)`.
    pub text: String,
}

/// "Explain": each limit's sum, each feature's plans, and the status in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub limits: BTreeMap<String, LimitSource>,
    pub features: BTreeMap<String, Vec<String>>,
    pub status: String,
}

fn limit_text(limit: Limit) -> String {
    match limit {
        Limit::Finite(n) => n.to_string(),
        Limit::Unlimited => "unlimited".into(),
    }
}

/// Explains `e` against `catalog` (the catalog in force when it was written): the base plan's terms and each
/// live add-on's × quantity, exactly the rule that computed `e.limits`. A plan the catalog no longer has is
/// explained by its stored numbers.
pub fn explain(e: &Entitlements, catalog: &PlanCatalog) -> Explanation {
    explain_with(e, catalog, &[])
}

/// [`explain`], each term naming the subscription item, price and lookup key that grant it (from the
/// version's `items`), and saying when that price is grandfathered.
pub fn explain_with(e: &Entitlements, catalog: &PlanCatalog, items: &[ItemSource]) -> Explanation {
    let base = catalog.plan(&e.plan);
    let base_sub = e.subscription_id.clone();
    let item_of = |plan: &str, subscription: Option<&str>| {
        items.iter().find(|i| {
            i.plan.as_deref() == Some(plan) && Some(i.subscription_id.as_str()) == subscription
        })
    };
    let term = |plan: &str, addon: bool, per_unit: Limit, quantity: u64, sub: Option<String>| {
        let item = item_of(plan, sub.as_deref());
        Term {
            plan: plan.to_owned(),
            addon,
            per_unit,
            quantity,
            item_id: item.and_then(|i| i.item_id.clone()),
            price: item.map(|i| i.price.clone()),
            lookup_key: item.and_then(|i| i.lookup_key.clone()),
            grandfathered: item.is_some_and(|i| i.grandfathered),
            subscription_id: sub,
        }
    };
    let mut limits = BTreeMap::new();
    for (name, value) in &e.limits {
        let mut terms = Vec::new();
        let per_unit = base.map_or(Some(*value), |p| p.limits.get(name).copied());
        if let Some(per_unit) = per_unit {
            terms.push(term(&e.plan, false, per_unit, 1, base_sub.clone()));
        }
        for addon in &e.addons {
            let Some(plan) = catalog.plan(&addon.plan).filter(|p| p.addon) else {
                continue;
            };
            if let (Some(per_unit), true) = (plan.limits.get(name), addon.quantity > 0) {
                terms.push(term(
                    &addon.plan,
                    true,
                    *per_unit,
                    addon.quantity,
                    Some(addon.subscription_id.clone()),
                ));
            }
        }
        let parts: Vec<String> = terms.iter().map(term_text).collect();
        let text = format!("{name} {} = {}", limit_text(*value), parts.join(" + "));
        limits.insert(
            name.clone(),
            LimitSource {
                value: *value,
                terms,
                text,
            },
        );
    }
    let mut features: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for feature in &e.features {
        let mut from = Vec::new();
        if base.is_none_or(|p| p.features.contains(feature)) {
            from.push(e.plan.clone());
        }
        for addon in &e.addons {
            if catalog
                .plan(&addon.plan)
                .is_some_and(|p| p.addon && p.features.contains(feature))
            {
                from.push(addon.plan.clone());
            }
        }
        features.insert(feature.clone(), from);
    }
    Explanation {
        limits,
        features,
        status: status_text(e),
    }
}

/// One term for a person: `starter 3 (sub_…, si_…, starter_monthly)`, `team_pack 5 × 2 (…)`; a grandfathered
/// price is named with its id: `(sub_…, si_…, price_… grandfathered)`.
fn term_text(t: &Term) -> String {
    let mut sources: Vec<String> = Vec::new();
    sources.extend(t.subscription_id.clone());
    sources.extend(t.item_id.clone());
    match (&t.lookup_key, &t.price, t.grandfathered) {
        (_, Some(price), true) => sources.push(format!("{price} grandfathered")),
        (Some(key), _, false) => sources.push(key.clone()),
        (None, Some(price), false) => sources.push(price.clone()),
        _ => {}
    }
    let sources = match sources.is_empty() {
        true => String::new(),
        false => format!(" ({})", sources.join(", ")),
    };
    match t.quantity {
        1 => format!("{} {}{sources}", t.plan, limit_text(t.per_unit)),
        n => format!("{} {} × {n}{sources}", t.plan, limit_text(t.per_unit)),
    }
}

/// The status in words, e.g. `past_due since …, grace until …`.
pub fn status_text(e: &Entitlements) -> String {
    let sub = e
        .subscription_id
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    match e.status {
        Status::Free => format!("free: the {} plan, no paid subscription", e.plan),
        Status::Active => format!("active on {}{sub}", e.plan),
        Status::Trialing => format!(
            "trialing {}{sub} until {}",
            e.plan,
            e.trial_end.as_deref().unwrap_or("?")
        ),
        Status::PastDue => format!(
            "past_due since {}, grace until {}: {}{sub} kept meanwhile",
            e.past_due_since.as_deref().unwrap_or("?"),
            e.grace_until.as_deref().unwrap_or("?"),
            e.plan
        ),
        Status::Canceling => format!(
            "canceling: {}{sub} until {}",
            e.plan,
            e.period_end.as_deref().unwrap_or("?")
        ),
    }
}

/// What changed from `previous` to `next`, as tags a mailer can word: `plan_changed`, `addon_added`,
/// `addon_removed`, `payment_failed` + `grace_started`, `grace_ended`, `trial_started`, `trial_ended`,
/// `canceled`, `resumed`; `catalog_changed` when a catalog change moved the subject's numbers or features
/// (`catalog_moved`, [`catalog_moves`]).
pub fn reasons(
    previous: Option<&Entitlements>,
    next: &Entitlements,
    catalog_moved: bool,
) -> Vec<String> {
    let mut tags: Vec<&str> = Vec::new();
    let was = previous.map(|p| p.status);
    if previous.is_none_or(|p| p.plan != next.plan)
        && (previous.is_some() || next.status != Status::Free)
    {
        tags.push("plan_changed");
    }
    let quantities = |e: Option<&Entitlements>| -> BTreeMap<String, u64> {
        let mut q = BTreeMap::new();
        for a in e.map(|e| e.addons.as_slice()).unwrap_or_default() {
            *q.entry(a.plan.clone()).or_insert(0) += a.quantity;
        }
        q
    };
    let (before, after) = (quantities(previous), quantities(Some(next)));
    if after
        .iter()
        .any(|(p, n)| before.get(p).copied().unwrap_or(0) < *n)
    {
        tags.push("addon_added");
    }
    if before
        .iter()
        .any(|(p, n)| after.get(p).copied().unwrap_or(0) < *n)
    {
        tags.push("addon_removed");
    }
    match (was, next.status) {
        (w, Status::PastDue) if w != Some(Status::PastDue) => {
            tags.extend(["payment_failed", "grace_started"])
        }
        (Some(Status::PastDue), s) if s != Status::PastDue => tags.push("grace_ended"),
        _ => {}
    }
    match (was, next.status) {
        (w, Status::Trialing) if w != Some(Status::Trialing) => tags.push("trial_started"),
        (Some(Status::Trialing), s) if s != Status::Trialing => tags.push("trial_ended"),
        _ => {}
    }
    match (was, next.status) {
        (w, Status::Canceling) if w != Some(Status::Canceling) => tags.push("canceled"),
        (Some(Status::Canceling), Status::Active) => tags.push("resumed"),
        (Some(s), Status::Free) if s != Status::Free && s != Status::Canceling => {
            tags.push("canceled")
        }
        _ => {}
    }
    if catalog_moved {
        tags.push("catalog_changed");
    }
    tags.into_iter().map(str::to_owned).collect()
}

/// Whether `catalog` grants `previous`'s plan and add-ons other features or limits than `previous` has: the
/// catalog changed under the subject (a plan's limits raised, a feature added), so a recompute moves them.
pub fn catalog_moves(previous: &Entitlements, catalog: &PlanCatalog) -> bool {
    let Some(base) = catalog.plan(&previous.plan) else {
        return false;
    };
    let (features, limits) = super::grant(base, &previous.addons, catalog);
    features != previous.features || limits != previous.limits
}

/// One difference between consecutive versions: a field, and its value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub field: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// What differs between two versions' entitlements (plan, status, each limit, features, add-ons, period
/// end, grace).
pub fn differences(previous: Option<&Entitlements>, next: &Entitlements) -> Vec<Difference> {
    let before = previous
        .map(serde_json::to_value)
        .transpose()
        .ok()
        .flatten();
    let after = serde_json::to_value(next).unwrap_or_default();
    let get = |v: &Option<serde_json::Value>, k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k).cloned())
            .unwrap_or(serde_json::Value::Null)
    };
    let mut out = Vec::new();
    for field in [
        "plan",
        "status",
        "features",
        "addons",
        "periodEnd",
        "graceUntil",
        "trialEnd",
        "subscriptionId",
    ] {
        let (from, to) = (
            get(&before, field),
            after.get(field).cloned().unwrap_or_default(),
        );
        if from != to {
            out.push(Difference {
                field: field.into(),
                from,
                to,
            });
        }
    }
    let limits = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.get("limits"))
            .and_then(|l| l.as_object().cloned())
            .unwrap_or_default()
    };
    let (lb, la) = (limits(before.as_ref()), limits(Some(&after)));
    let names: std::collections::BTreeSet<_> = lb.keys().chain(la.keys()).cloned().collect();
    for name in names {
        let (from, to) = (
            lb.get(&name).cloned().unwrap_or_default(),
            la.get(&name).cloned().unwrap_or_default(),
        );
        if from != to {
            out.push(Difference {
                field: format!("limits.{name}"),
                from,
                to,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
