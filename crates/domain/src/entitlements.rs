//! Entitlements: what a user may do right now — plan, status, features, limits, credits, and the dates that
//! bound them. The entitlement processor writes them; billing-api reads them.
use crate::ids::SubjectId;
use crate::plans::{Limit, Plan, PlanCatalog};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No paid plan: the catalog's free plan.
    Free,
    Active,
    Trialing,
    /// A payment failed; the plan is kept until `graceUntil`.
    PastDue,
    /// Canceled at period end: the plan is kept until `periodEnd`.
    Canceling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlements {
    pub user_id: SubjectId,
    pub plan: String,
    pub status: Status,
    pub features: BTreeSet<String>,
    pub limits: BTreeMap<String, Limit>,
    /// One-time credits bought in packs; independent of the plan.
    pub credits: i64,
    /// RFC 3339.
    pub period_end: Option<String>,
    /// RFC 3339; set while `past_due`.
    pub grace_until: Option<String>,
    pub subscription_id: Option<String>,
    /// RFC 3339: the first failed payment of the current past-due spell (the grace period counts from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<String>,
    /// RFC 3339; set while `trialing`: when Stripe ends the trial (it then charges, pauses or cancels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<String>,
    /// Live add-ons: their features are in `features`, their limits added into `limits`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<AddonGrant>,
    /// Other live subscriptions to a base plan, which grant nothing while `subscriptionId`'s plan ranks
    /// higher: a double subscription for support to refund (the `SeveralPlanSubscriptions` metric counts
    /// them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_subscriptions: Vec<OtherSubscription>,
    /// The plan change the plan's subscription schedule makes when the period ends (a change with
    /// `at: period_end`), read from Stripe's schedule so a page reload still shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_change: Option<ScheduledPlan>,
    pub updated_at: Option<String>,
}

/// A plan change Stripe will make at the period end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledPlan {
    /// The catalog's base plan of the next phase (`None`: a price the catalog does not know).
    pub plan: Option<String>,
    pub price: String,
    /// RFC 3339.
    pub at: String,
}

/// An add-on the user holds, from an item of one of their live subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonGrant {
    pub plan: String,
    pub quantity: u64,
    pub subscription_id: String,
    /// RFC 3339: when it stops (its subscription is canceled at period end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A live subscription to a base plan that is not the one granting the user's plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherSubscription {
    pub subscription_id: String,
    pub plan: String,
    pub status: Status,
}

impl Entitlements {
    /// The catalog's free plan, for a user with nothing stored.
    pub fn free(user: SubjectId, catalog: &PlanCatalog) -> Self {
        let mut entitlements = Self::on_plan(user, catalog.free_plan(), Status::Free);
        entitlements.credits = 0;
        entitlements
    }

    pub fn on_plan(user: SubjectId, plan: &Plan, status: Status) -> Self {
        Self {
            user_id: user,
            plan: plan.id.clone(),
            status,
            features: plan.features.clone(),
            limits: plan.limits.clone(),
            credits: 0,
            period_end: None,
            grace_until: None,
            subscription_id: None,
            past_due_since: None,
            trial_end: None,
            addons: Vec::new(),
            other_subscriptions: Vec::new(),
            scheduled_change: None,
            updated_at: None,
        }
    }

    /// Whether something granted now ends by itself at a known time (a grace period, a canceling plan or
    /// add-on): the sweep persists and announces that when it comes.
    pub fn lapses(&self) -> bool {
        matches!(self.status, Status::PastDue | Status::Canceling)
            || self.addons.iter().any(|a| a.until.is_some())
    }

    /// When the first grant that ends by itself ends: a past-due plan's grace end, a canceling plan's period
    /// end, a canceling add-on's end — the earliest of them (`None`: nothing lapses, or no end is known). The
    /// instant the hourly sweep's index sorts the row by ([`effective`](Self::effective) changes the grant
    /// from then on).
    pub fn lapses_at(&self) -> Option<UnixTime> {
        let base = match self.status {
            Status::PastDue => self.grace_until.as_deref(),
            Status::Canceling => self.period_end.as_deref(),
            _ => None,
        };
        base.into_iter()
            .chain(self.addons.iter().filter_map(|a| a.until.as_deref()))
            .filter_map(UnixTime::parse_rfc3339)
            .min()
    }

    /// Equal apart from bookkeeping (`updatedAt`): whether a change is worth writing and announcing.
    pub fn same_grant(&self, other: &Self) -> bool {
        let mut a = self.clone();
        a.updated_at = None;
        let mut b = other.clone();
        b.updated_at = None;
        a == b
    }

    /// The compact form mirrored into Clerk's `publicMetadata.billing` (well under 1 KB). Every key is
    /// present, so Clerk's deep merge replaces the whole object.
    pub fn billing_metadata(&self) -> serde_json::Value {
        serde_json::json!({
            "plan": self.plan,
            "status": self.status,
            "features": self.features,
            "limits": self.limits,
            "credits": self.credits,
            "periodEnd": self.period_end,
            "graceUntil": self.grace_until,
            "scheduledChange": self.scheduled_change,
        })
    }

    /// What holds at `now`: a grace period or a canceling plan that has run out falls back to the free plan
    /// (credits kept), and a canceling add-on past its end stops adding, even before any event says so, so
    /// readers never over-grant. The same rule the sweep persists. Features and limits are granted again from
    /// `catalog` (the one in force), so a deploy that changes the catalog applies on the next read, before the
    /// processor's next write records it as `catalog_changed`.
    pub fn effective(mut self, now: UnixTime, catalog: &PlanCatalog) -> Self {
        let now = now.to_rfc3339();
        let ended = |end: Option<&str>| end.is_some_and(|end| end <= now.as_str());
        let expired = match self.status {
            Status::PastDue => ended(self.grace_until.as_deref()),
            Status::Canceling => ended(self.period_end.as_deref()),
            _ => false,
        };
        self.addons.retain(|a| !ended(a.until.as_deref()));
        if expired {
            let free = catalog.free_plan();
            self.plan = free.id.clone();
            self.status = Status::Free;
            self.grace_until = None;
            self.past_due_since = None;
            self.period_end = None;
            self.scheduled_change = None;
        }
        if let Some(base) = catalog.plan(&self.plan) {
            let (features, limits) = grant(base, &self.addons, catalog);
            self.features = features;
            self.limits = limits;
        }
        self
    }
}

/// The features and limits of `base` with `addons` added: features joined, each limit the base's plus the
/// add-on's per unit of quantity (`unlimited` absorbs). An add-on no longer in the catalog adds nothing.
pub fn grant(
    base: &Plan,
    addons: &[AddonGrant],
    catalog: &PlanCatalog,
) -> (BTreeSet<String>, BTreeMap<String, Limit>) {
    let mut features = base.features.clone();
    let mut limits = base.limits.clone();
    for (plan, quantity) in live_addons(addons, catalog) {
        features.extend(plan.features.iter().cloned());
        for (name, extra) in &plan.limits {
            let total = limits.entry(name.clone()).or_insert(Limit::Finite(0));
            *total = add(*total, *extra, quantity);
        }
    }
    (features, limits)
}

/// One limit of [`grant`] without building the maps (usage-api's hot path): `None` when neither the base
/// plan nor any add-on sets it.
pub fn granted_limit(
    base: &Plan,
    addons: &[AddonGrant],
    catalog: &PlanCatalog,
    name: &str,
) -> Option<Limit> {
    let mut total = base.limits.get(name).copied();
    for (plan, quantity) in live_addons(addons, catalog) {
        if let Some(extra) = plan.limits.get(name) {
            total = Some(add(total.unwrap_or(Limit::Finite(0)), *extra, quantity));
        }
    }
    total
}

/// The add-ons that add something: in the catalog as add-ons, quantity above zero.
fn live_addons<'a>(
    addons: &'a [AddonGrant],
    catalog: &'a PlanCatalog,
) -> impl Iterator<Item = (&'a Plan, u64)> + 'a {
    addons.iter().filter_map(|addon| {
        let plan = catalog.plan(&addon.plan).filter(|p| p.addon)?;
        (addon.quantity > 0).then_some((plan, addon.quantity))
    })
}

fn add(have: Limit, extra: Limit, quantity: u64) -> Limit {
    match (have, extra) {
        (Limit::Finite(have), Limit::Finite(more)) => {
            Limit::Finite(have.saturating_add(more.saturating_mul(quantity)))
        }
        _ => Limit::Unlimited,
    }
}

/// The part of a Stripe subscription that decides entitlements, as Stripe reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub status: String,
    pub items: Vec<SubscriptionItem>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// Unix seconds: the end of the subscription's trial, if it has one.
    pub trial_end: Option<i64>,
    /// The next phase of the schedule managing it, if any: a change at the period end.
    pub next_phase: Option<NextPhase>,
}

/// The items a subscription schedule puts the subscription on next, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPhase {
    /// Unix seconds.
    pub at: i64,
    pub items: Vec<SubscriptionItem>,
}

impl NextPhase {
    /// The change as entitlements show it: the next phase's base plan and its price.
    pub fn scheduled(&self, catalog: &PlanCatalog) -> ScheduledPlan {
        let base = self
            .items
            .iter()
            .find_map(|item| Some((item, item.plan(catalog).filter(|p| !p.addon)?)));
        ScheduledPlan {
            plan: base.map(|(_, plan)| plan.id.clone()),
            price: base
                .map(|(item, _)| item.price.clone())
                .or_else(|| self.items.first().map(|i| i.price.clone()))
                .unwrap_or_default(),
            at: UnixTime::from_secs(self.at).to_rfc3339(),
        }
    }
}

/// One item of a subscription: its price (id and lookup key) and quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionItem {
    /// The Stripe subscription item (`si_…`), when read from Stripe.
    pub id: Option<String>,
    pub price: String,
    pub lookup_key: Option<String>,
    pub quantity: u64,
    /// The price's `metadata.entitle`: the catalog id `entitle catalog apply` marked it with. It keeps a
    /// grandfathered price — archived, its lookup key moved to a newer price — resolving to its plan.
    pub catalog_id: Option<String>,
}

impl SubscriptionItem {
    pub fn new(price: impl Into<String>, lookup_key: Option<String>, quantity: u64) -> Self {
        Self {
            id: None,
            price: price.into(),
            lookup_key,
            quantity,
            catalog_id: None,
        }
    }

    /// The catalog plan this item sells: by price id, else lookup key, else the price's `metadata.entitle`.
    pub fn plan<'a>(&self, catalog: &'a PlanCatalog) -> Option<&'a Plan> {
        catalog.plan_for_item(
            &self.price,
            self.lookup_key.as_deref(),
            self.catalog_id.as_deref(),
        )
    }
}

impl SubscriptionState {
    /// Whether the subscription grants its plan at all (possibly in grace or until its period ends).
    pub fn is_live(&self) -> bool {
        is_live_status(&self.status)
    }
}

/// The Stripe subscription statuses that grant a plan (possibly in grace, or until the period ends) — the one
/// place this rule is written; checkout, the portal and the processor all ask it.
pub fn is_live_status(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// The entitlements' status of a live subscription (see [`is_live_status`]): a payment problem shows before
/// a pending cancellation, a pending cancellation before a trial.
pub fn live_status(stripe_status: &str, cancel_at_period_end: bool) -> Status {
    match stripe_status {
        "past_due" => Status::PastDue,
        _ if cancel_at_period_end => Status::Canceling,
        "trialing" => Status::Trialing,
        _ => Status::Active,
    }
}

/// A subscription's billing period bound: since Stripe API version 2025-03-31 it lives on each item (they
/// share one billing cycle), before that on the subscription. Either shape gives the same answer.
pub fn period_bound(on_subscription: Option<i64>, on_first_item: Option<i64>) -> Option<i64> {
    on_subscription.or(on_first_item)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subscription {subscription}: no item's price is in the plan catalog ({prices})")]
pub struct UnknownPrice {
    pub subscription: String,
    pub prices: String,
}

/// A user's entitlements computed from their customer's whole state, and the live subscriptions that
/// could not count (no item's price is in the catalog).
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub entitlements: Entitlements,
    pub unknown: Vec<UnknownPrice>,
}

/// Entitlements from every subscription of the user's customer, as Stripe reports them now — a function of
/// that state alone, so the order events arrive in cannot change it:
///
/// - the **base plan** is the highest-ranked plan ([`Plan::rank`]) among the live subscriptions' items
///   (ties: a subscription in good standing before a canceling one before a past-due one, then the later
///   period end, then the smaller id); its subscription gives the status, period end, trial end, grace
///   and `subscriptionId`. No live base plan: the free plan.
/// - every **add-on** item of a live subscription (the base's or its own) joins its features and adds its
///   limits × quantity; one canceling at period end counts until then.
/// - the other live base-plan subscriptions grant nothing and are listed in `otherSubscriptions`.
///
/// `past_due_since(subscription)` is when that subscription's current past-due spell began (used only when
/// the base subscription is past due); credits are carried over unchanged.
pub fn for_customer(
    user: SubjectId,
    subscriptions: &[SubscriptionState],
    catalog: &PlanCatalog,
    grace: std::time::Duration,
    past_due_since: impl Fn(&SubscriptionState) -> UnixTime,
    credits: i64,
) -> Combined {
    /// A live subscription, its best base plan, its add-ons × quantity.
    type Live<'a> = (
        &'a SubscriptionState,
        Option<&'a Plan>,
        Vec<(&'a Plan, u64)>,
    );
    let mut unknown = Vec::new();
    let mut live: Vec<Live<'_>> = Vec::new();
    for subscription in subscriptions.iter().filter(|s| s.is_live()) {
        let mut base: Option<&Plan> = None;
        let mut addons = Vec::new();
        for item in &subscription.items {
            match item.plan(catalog) {
                Some(plan) if plan.addon => addons.push((plan, item.quantity)),
                Some(plan) if base.is_none_or(|b| plan.rank > b.rank) => base = Some(plan),
                _ => {}
            }
        }
        if base.is_none() && addons.is_empty() {
            unknown.push(UnknownPrice {
                subscription: subscription.id.clone(),
                prices: subscription
                    .items
                    .iter()
                    .map(|i| format!("{} / {}", i.price, i.lookup_key.as_deref().unwrap_or("-")))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
            continue;
        }
        live.push((subscription, base, addons));
    }

    let standing = |s: &SubscriptionState| match live_status(&s.status, s.cancel_at_period_end) {
        Status::PastDue => 0,
        Status::Canceling => 1,
        _ => 2,
    };
    let chosen = live
        .iter()
        .filter_map(|(s, base, _)| base.map(|plan| (*s, plan)))
        .max_by(|(a, pa), (b, pb)| {
            (pa.rank, standing(a), a.current_period_end)
                .cmp(&(pb.rank, standing(b), b.current_period_end))
                .then_with(|| b.id.cmp(&a.id))
        });

    let mut entitlements = match chosen {
        Some((subscription, plan)) => {
            let status = live_status(&subscription.status, subscription.cancel_at_period_end);
            let mut e = Entitlements::on_plan(user, plan, status);
            e.period_end = subscription
                .current_period_end
                .map(|t| UnixTime::from_secs(t).to_rfc3339());
            if status == Status::Trialing {
                e.trial_end = subscription
                    .trial_end
                    .map(|t| UnixTime::from_secs(t).to_rfc3339());
            }
            if status == Status::PastDue {
                let since = past_due_since(subscription);
                e.past_due_since = Some(since.to_rfc3339());
                e.grace_until = Some(since.plus(grace).to_rfc3339());
            }
            e.subscription_id = Some(subscription.id.clone());
            e.scheduled_change = subscription
                .next_phase
                .as_ref()
                .filter(|_| !subscription.cancel_at_period_end)
                .map(|phase| phase.scheduled(catalog));
            e
        }
        // Nothing paid for (unpaid, canceled, incomplete, paused — or no subscription at all).
        None => Entitlements::free(user, catalog),
    };
    let chosen_id = chosen.map(|(s, _)| s.id.as_str());
    for (subscription, base, addons) in &live {
        let until = subscription
            .cancel_at_period_end
            .then_some(subscription.current_period_end)
            .flatten()
            .map(|t| UnixTime::from_secs(t).to_rfc3339());
        for (plan, quantity) in addons {
            entitlements.addons.push(AddonGrant {
                plan: plan.id.clone(),
                quantity: *quantity,
                subscription_id: subscription.id.clone(),
                until: until.clone(),
            });
        }
        if let Some(plan) = base.filter(|_| Some(subscription.id.as_str()) != chosen_id) {
            entitlements.other_subscriptions.push(OtherSubscription {
                subscription_id: subscription.id.clone(),
                plan: plan.id.clone(),
                status: live_status(&subscription.status, subscription.cancel_at_period_end),
            });
        }
    }
    entitlements.addons.sort();
    entitlements.other_subscriptions.sort();
    let base = catalog
        .plan(&entitlements.plan)
        .unwrap_or_else(|| catalog.free_plan());
    let (features, limits) = grant(base, &entitlements.addons, catalog);
    entitlements.features = features;
    entitlements.limits = limits;
    entitlements.credits = credits;
    Combined {
        entitlements,
        unknown,
    }
}

pub mod history;

#[cfg(test)]
mod tests;
