//! billing-api's answers, typed (docs/openapi.yaml names each one's schema). Fields are declared in
//! alphabetical order on purpose: these replaced JSON maps (which serialize sorted), so the bytes on the wire
//! stay the same.
use entitle_domain::entitlements::Status;
use entitle_domain::plans::{Audience, Interval, Limit, Unit};
use entitle_domain::usage::Period;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// `SubscriptionState`: the subscription as Entitle will see it once Stripe's events are processed, with
/// what a cancel or resume covered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionState {
    pub cancel_at_period_end: bool,
    /// Cancel only: every catalog item that now ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canceled: Option<Vec<StoppedItem>>,
    /// Cancel only: the plan change a released schedule would have made (`null` for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_scheduled_change: Option<Option<ScheduledChangeAnswer>>,
    pub period_end: Option<String>,
    pub plan: Option<String>,
    /// Resume only: every catalog item of the subscriptions that were resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<Vec<StoppedItem>>,
    pub scheduled_change: Option<ScheduledChangeAnswer>,
    pub status: Status,
    pub stripe_status: Option<String>,
    pub subscription_id: Option<String>,
    pub trial_end: Option<String>,
}

/// `StoppedItem`: a catalog item a cancel or resume covered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoppedItem {
    pub addon: bool,
    pub ended: bool,
    pub ends_at: Option<String>,
    pub plan: String,
    pub quantity: u64,
    pub subscription_id: String,
}

/// `ScheduledChange`: the plan change a subscription schedule makes at the period end.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledChangeAnswer {
    pub at: String,
    pub plan: Option<String>,
    pub price: Option<String>,
}

/// `ChangePreview`: what a change would cost, and the subscription as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePreview {
    pub preview: Preview,
    pub subscription: SubscriptionState,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub currency: String,
    pub due_now: i64,
    pub lines: Vec<PreviewLine>,
    pub next_invoice_amount: Option<i64>,
    pub next_invoice_at: Option<String>,
    pub plan: String,
    pub price: String,
    pub proration_behavior: &'static str,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewLine {
    pub amount: i64,
    pub description: Option<String>,
    pub proration: bool,
}

/// `SubscriptionChange`: a change's answer — the new state, or (`preview: true`) its preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SubscriptionChange {
    State(Box<SubscriptionState>),
    Preview(Box<ChangePreview>),
}

/// `Checkout`: the hosted Checkout session to send the browser to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    pub customer_id: String,
    pub session_id: String,
    pub url: String,
}

/// `Portal`: the billing portal session to send the browser to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Portal {
    pub url: String,
}

/// `Plans`: the catalog as `GET /plans` serves it (the same for every caller; its ETag is of these bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plans<'a> {
    pub credit_packs: Vec<PackEntry<'a>>,
    /// `[features]`: each feature's display name and description (empty: a catalog without words).
    pub features: BTreeMap<&'a str, FeatureEntry<'a>>,
    pub limits: BTreeMap<&'a str, LimitEntry<'a>>,
    pub plans: Vec<PlanEntry<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanEntry<'a> {
    pub addon: bool,
    pub contact_sales: bool,
    pub default: bool,
    pub features: &'a BTreeSet<String>,
    /// Who may buy it: `user`, `organization` or `both`.
    #[serde(rename = "for")]
    pub audience: Audience,
    pub id: &'a str,
    pub limits: &'a BTreeMap<String, Limit>,
    /// Per-member caps inside an organization's pool (empty: none).
    pub member_limits: &'a BTreeMap<String, u64>,
    pub name: &'a str,
    pub prices: Vec<PriceEntry<'a>>,
    pub rank: i64,
    /// A plan priced per seat: the included seats and the price of each one beyond (`null`: not per seat).
    pub seats: Option<SeatsEntry<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatsEntry<'a> {
    pub count_invitations: bool,
    pub included: u64,
    pub prices: Vec<PriceEntry<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackEntry<'a> {
    pub credits: u64,
    pub id: &'a str,
    pub max_quantity: u32,
    pub name: &'a str,
    pub prices: Vec<PriceEntry<'a>>,
}

/// `CatalogPrice`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceEntry<'a> {
    pub amount: Option<u64>,
    pub currency: Option<&'a str>,
    pub id: Option<&'a str>,
    pub interval: Option<Interval>,
    pub lookup_key: Option<&'a str>,
    pub trial_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitEntry<'a> {
    pub kind: &'static str,
    pub low_threshold: Option<u64>,
    /// The display name ("Agents"); `null` in a catalog without words.
    pub name: Option<&'a str>,
    /// `day`, `month`, `billing_period`; `null` for a limit that never resets.
    pub resets: Option<Period>,
    /// The counted thing, `{one, other}` (`Intl.PluralRules` categories); `null` in a catalog without words.
    pub unit: Option<&'a Unit>,
}

/// `FeatureWords`: what a page shows for a feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureEntry<'a> {
    pub description: &'a str,
    pub name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use entitle_domain::plans::PlanCatalog;

    /// The bytes of a JSON map with the same entries (serde_json's map sorts its keys): what these answers
    /// were before they were typed.
    fn as_map(body: &impl Serialize) -> String {
        serde_json::to_value(body).unwrap().to_string()
    }

    /// An answer with every optional field present, kept for scripts/check_samples.py: it checks the type
    /// against docs/openapi.yaml's schema `schema` both ways (valid there, and every documented property
    /// present), so the document and the types cannot drift apart.
    fn keep(schema: &str, body: &impl Serialize) {
        if let Some(dir) = entitle_test_support::fixtures::samples_dir("types") {
            let sample = serde_json::json!({"schema": schema, "body": body});
            std::fs::write(
                dir.join(format!("billing-{schema}.json")),
                sample.to_string(),
            )
            .unwrap();
        }
    }

    #[test]
    fn the_typed_answers_are_the_bytes_the_json_maps_were() {
        let plans = crate::billing_api::plans::document(PlanCatalog::builtin());
        assert_eq!(serde_json::to_string(&plans).unwrap(), as_map(&plans));
        keep("Plans", &plans);
        let change = ScheduledChangeAnswer {
            at: "2026-12-31T00:00:00Z".into(),
            plan: Some("pro".into()),
            price: Some("price_pro".into()),
        };
        let item = StoppedItem {
            addon: true,
            ended: false,
            ends_at: Some("2026-12-31T00:00:00Z".into()),
            plan: "team_pack".into(),
            quantity: 2,
            subscription_id: "sub_1".into(),
        };
        let state = SubscriptionState {
            cancel_at_period_end: true,
            canceled: Some(vec![item.clone()]),
            dropped_scheduled_change: Some(Some(change.clone())),
            period_end: Some("2026-12-31T00:00:00Z".into()),
            plan: Some("pro".into()),
            resumed: Some(vec![item]),
            scheduled_change: Some(change),
            status: Status::Canceling,
            stripe_status: Some("active".into()),
            subscription_id: Some("sub_1".into()),
            trial_end: None,
        };
        let preview = ChangePreview {
            preview: Preview {
                currency: "usd".into(),
                due_now: 0,
                lines: vec![PreviewLine {
                    amount: 100,
                    description: None,
                    proration: true,
                }],
                next_invoice_amount: Some(100),
                next_invoice_at: None,
                plan: "pro".into(),
                price: "price_pro".into(),
                proration_behavior: "create_prorations",
                total: 100,
            },
            subscription: state.clone(),
        };
        keep("SubscriptionState", &state);
        keep("ChangePreview", &preview);
        for body in [
            SubscriptionChange::State(Box::new(state)),
            SubscriptionChange::Preview(Box::new(preview)),
        ] {
            assert_eq!(serde_json::to_string(&body).unwrap(), as_map(&body));
        }
        let checkout = Checkout {
            customer_id: "cus_1".into(),
            session_id: "cs_1".into(),
            url: "https://checkout.stripe.com/c/pay/cs_1".into(),
        };
        assert_eq!(serde_json::to_string(&checkout).unwrap(), as_map(&checkout));
        keep("Checkout", &checkout);
        keep(
            "Portal",
            &Portal {
                url: "https://billing.stripe.com/p/session/bps_1".into(),
            },
        );
    }
}
