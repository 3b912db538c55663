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
    pub price: String,
    pub lookup_key: Option<String>,
    /// The plan or add-on the price sells (`null`: none in the catalog, or a per-seat price).
    pub plan: Option<String>,
    pub addon: bool,
    pub quantity: u64,
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
}

/// Where one limit's number comes from: its value and the terms that add up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitSource {
    pub value: Limit,
    pub terms: Vec<Term>,
    /// For a person: `agents 13 = starter 3 (sub_…) + team_pack 5 × 2 (sub_…)`.
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
    let base = catalog.plan(&e.plan);
    let base_sub = e.subscription_id.clone();
    let mut limits = BTreeMap::new();
    for (name, value) in &e.limits {
        let mut terms = Vec::new();
        let per_unit = base.map_or(Some(*value), |p| p.limits.get(name).copied());
        if let Some(per_unit) = per_unit {
            terms.push(Term {
                plan: e.plan.clone(),
                addon: false,
                per_unit,
                quantity: 1,
                subscription_id: base_sub.clone(),
            });
        }
        for addon in &e.addons {
            let Some(plan) = catalog.plan(&addon.plan).filter(|p| p.addon) else {
                continue;
            };
            if let (Some(per_unit), true) = (plan.limits.get(name), addon.quantity > 0) {
                terms.push(Term {
                    plan: addon.plan.clone(),
                    addon: true,
                    per_unit: *per_unit,
                    quantity: addon.quantity,
                    subscription_id: Some(addon.subscription_id.clone()),
                });
            }
        }
        let parts: Vec<String> = terms
            .iter()
            .map(|t| {
                let sub = t
                    .subscription_id
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                if t.quantity == 1 {
                    format!("{} {}{sub}", t.plan, limit_text(t.per_unit))
                } else {
                    format!(
                        "{} {} × {}{sub}",
                        t.plan,
                        limit_text(t.per_unit),
                        t.quantity
                    )
                }
            })
            .collect();
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
/// `canceled`, `resumed`; `catalog_changed` when only the catalog moved (`catalog_moved`).
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
    if tags.is_empty() && catalog_moved {
        tags.push("catalog_changed");
    }
    tags.into_iter().map(str::to_owned).collect()
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
