//! Entitlements: what a user may do right now — plan, status, features, limits, credits, and the dates that
//! bound them. The entitlement processor writes them; billing-api reads them.
use crate::ids::UserId;
use crate::plans::{Limit, Plan, PlanCatalog};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    pub user_id: UserId,
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
    pub updated_at: Option<String>,
}

impl Entitlements {
    /// The catalog's free plan, for a user with nothing stored.
    pub fn free(user: UserId, catalog: &PlanCatalog) -> Self {
        let mut entitlements = Self::on_plan(user, catalog.free_plan(), Status::Free);
        entitlements.credits = 0;
        entitlements
    }

    pub fn on_plan(user: UserId, plan: &Plan, status: Status) -> Self {
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
            updated_at: None,
        }
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
        })
    }

    /// What holds at `now`: a grace period or a canceling plan that has run out falls back to the free plan
    /// (credits kept) even before any event says so, so readers never over-grant.
    pub fn effective(mut self, now: UnixTime, catalog: &PlanCatalog) -> Self {
        let now = now.to_rfc3339();
        let expired = match self.status {
            Status::PastDue => self
                .grace_until
                .as_deref()
                .is_some_and(|end| end <= now.as_str()),
            Status::Canceling => self
                .period_end
                .as_deref()
                .is_some_and(|end| end <= now.as_str()),
            _ => false,
        };
        if expired {
            let free = catalog.free_plan();
            self.plan = free.id.clone();
            self.status = Status::Free;
            self.features = free.features.clone();
            self.limits = free.limits.clone();
            self.grace_until = None;
            self.past_due_since = None;
            self.period_end = None;
        }
        self
    }
}

/// The part of a Stripe subscription that decides entitlements, as Stripe reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub status: String,
    /// `(price id, lookup key)` of each item.
    pub prices: Vec<(String, Option<String>)>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// Unix seconds: the end of the subscription's trial, if it has one.
    pub trial_end: Option<i64>,
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

/// Entitlements from a subscription's current state. `past_due_since` is when its current past-due spell
/// began (ignored unless `past_due`); credits are carried over unchanged.
pub fn for_subscription(
    user: UserId,
    subscription: &SubscriptionState,
    catalog: &PlanCatalog,
    grace: std::time::Duration,
    past_due_since: UnixTime,
    credits: i64,
) -> Result<Entitlements, UnknownPrice> {
    let mut entitlements = if subscription.is_live() {
        let plan = subscription
            .prices
            .iter()
            .find_map(|(id, key)| catalog.plan_for_price(id, key.as_deref()))
            .ok_or_else(|| UnknownPrice {
                subscription: subscription.id.clone(),
                prices: subscription
                    .prices
                    .iter()
                    .map(|(id, key)| format!("{id} / {}", key.as_deref().unwrap_or("-")))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
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
            e.past_due_since = Some(past_due_since.to_rfc3339());
            e.grace_until = Some(past_due_since.plus(grace).to_rfc3339());
        }
        e
    } else {
        // unpaid, canceled, incomplete, incomplete_expired, paused: nothing paid for.
        Entitlements::free(user, catalog)
    };
    entitlements.subscription_id = Some(subscription.id.clone());
    entitlements.credits = credits;
    Ok(entitlements)
}
