//! Entitlements: what a user may do right now — plan, status, features, limits, credits, and the dates that
//! bound them. The entitlement processor writes them; billing-api reads them.
use crate::ids::UserId;
use crate::plans::{Limit, Plan, PlanCatalog};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
            updated_at: None,
        }
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
            self.subscription_id = None;
        }
        self
    }
}
