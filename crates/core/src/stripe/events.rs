//! Stripe events → normalized billing events. Reads only the fields the contract needs from `data.object`,
//! tolerating pre-2025 shapes (top-level periods, `invoice.subscription`) and every version since "basil"
//! (periods on items, invoice `parent`), up to the pinned one
//! ([`STRIPE_VERSION`](crate::stripe::client::STRIPE_VERSION); fixtures/stripe/ is recorded on it,
//! fixtures/stripe/2025-08-27.basil/ on basil).
use crate::stripe::signature::StripeEnvelope;
use entitle_domain::entitlements::period_bound;
use entitle_domain::event::{
    BillingEvent, CheckoutData, EventData, EventType, InvoiceData, PaymentData, ScheduleData,
    Source, SubscriptionData, SubscriptionItem,
};
use entitle_domain::ids::{EventId, StripeCustomerId, SubjectId};
use entitle_domain::time::UnixTime;
use serde::Deserialize;

#[derive(Debug)]
pub enum Normalized {
    Event(Box<BillingEvent>),
    /// A type the product does not act on.
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("invalid event id")]
    EventId(#[source] entitle_domain::ids::IdError),
    #[error("data.object does not have the shape of a {kind}")]
    Object {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The Stripe event types a webhook endpoint for Entitle subscribes to (`entitle setup` registers exactly
/// these). `invoice.payment_succeeded` is also understood but not subscribed: Stripe sends it beside
/// `invoice.paid` for the same invoice.
pub const HANDLED_STRIPE_TYPES: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "subscription_schedule.created",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.canceled",
    "subscription_schedule.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
];

/// Maps a Stripe event type to ours; `None` for types the product ignores.
pub fn event_type(stripe_type: &str) -> Option<EventType> {
    Some(match stripe_type {
        "checkout.session.completed" => EventType::CheckoutCompleted,
        "customer.subscription.created" => EventType::SubscriptionCreated,
        "customer.subscription.updated" => EventType::SubscriptionUpdated,
        "customer.subscription.deleted" => EventType::SubscriptionCanceled,
        "customer.subscription.trial_will_end" => EventType::SubscriptionTrialWillEnd,
        "subscription_schedule.created"
        | "subscription_schedule.updated"
        | "subscription_schedule.released"
        | "subscription_schedule.canceled"
        | "subscription_schedule.completed" => EventType::SubscriptionScheduleChanged,
        "invoice.paid" | "invoice.payment_succeeded" => EventType::InvoicePaid,
        "invoice.payment_failed" => EventType::InvoicePaymentFailed,
        "payment_intent.succeeded" => EventType::PaymentSucceeded,
        "payment_intent.payment_failed" => EventType::PaymentFailed,
        "payment_intent.requires_action" => EventType::PaymentActionRequired,
        _ => return None,
    })
}

pub fn normalize(envelope: &StripeEnvelope<'_>) -> Result<Normalized, NormalizeError> {
    let Some(event_type) = event_type(&envelope.event_type) else {
        return Ok(Normalized::Ignored);
    };
    let id = EventId::parse(envelope.id.as_str()).map_err(NormalizeError::EventId)?;
    let raw = envelope.data.object.get();
    let parts = match event_type {
        EventType::CheckoutCompleted => checkout(parse(raw, "checkout session")?),
        EventType::SubscriptionCreated
        | EventType::SubscriptionUpdated
        | EventType::SubscriptionCanceled
        | EventType::SubscriptionTrialWillEnd => subscription(parse(raw, "subscription")?),
        EventType::SubscriptionScheduleChanged => schedule(parse(raw, "subscription schedule")?),
        EventType::InvoicePaid | EventType::InvoicePaymentFailed => invoice(parse(raw, "invoice")?),
        _ => payment(parse(raw, "payment intent")?),
    };
    let mut event = BillingEvent::occurred(
        id,
        Source::Stripe,
        event_type,
        UnixTime::from_secs(envelope.created),
        parts.data,
    );
    if let Some(subject) = parts.user_id.and_then(|u| SubjectId::parse(u).ok()) {
        event.set_subject(&subject);
    }
    event.stripe_customer_id = parts
        .customer
        .and_then(|c| StripeCustomerId::parse(c.into_id()).ok());
    event.livemode = Some(envelope.livemode);
    Ok(Normalized::Event(Box::new(event)))
}

fn parse<'de, T: Deserialize<'de>>(raw: &'de str, kind: &'static str) -> Result<T, NormalizeError> {
    serde_json::from_str(raw).map_err(|source| NormalizeError::Object { kind, source })
}

struct Parts {
    user_id: Option<String>,
    customer: Option<Expandable>,
    data: EventData,
}

/// A field Stripe sends as an id, or as the object when expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn into_id(self) -> String {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

/// Only the keys we set; other metadata is the merchant's. A user's objects carry `userId` (sessions,
/// subscriptions, payments) or `clerkUserId` (the customer); an organization's `orgId` / `clerkOrgId`.
#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(rename = "clerkUserId")]
    clerk_user_id: Option<String>,
    #[serde(rename = "orgId")]
    org_id: Option<String>,
    #[serde(rename = "clerkOrgId")]
    clerk_org_id: Option<String>,
}

impl Metadata {
    /// The billing subject the object belongs to.
    fn user(self) -> Option<String> {
        self.user_id
            .or(self.clerk_user_id)
            .or(self.org_id)
            .or(self.clerk_org_id)
    }
}

fn rfc3339(t: Option<i64>) -> Option<String> {
    t.map(|t| UnixTime::from_secs(t).to_rfc3339())
}

#[derive(Deserialize)]
struct CheckoutSession {
    id: String,
    mode: String,
    payment_status: Option<String>,
    client_reference_id: Option<String>,
    customer: Option<Expandable>,
    subscription: Option<Expandable>,
    payment_intent: Option<Expandable>,
    amount_total: Option<i64>,
    currency: Option<String>,
    metadata: Option<Metadata>,
}

fn checkout(s: CheckoutSession) -> Parts {
    Parts {
        user_id: s
            .client_reference_id
            .or_else(|| s.metadata.and_then(Metadata::user)),
        customer: s.customer,
        data: EventData::Checkout(CheckoutData {
            session_id: s.id,
            mode: s.mode,
            payment_status: s.payment_status,
            subscription_id: s.subscription.map(Expandable::into_id),
            payment_intent_id: s.payment_intent.map(Expandable::into_id),
            amount_total: s.amount_total,
            currency: s.currency,
        }),
    }
}

#[derive(Deserialize)]
struct Subscription {
    id: String,
    status: String,
    customer: Option<Expandable>,
    #[serde(default)]
    items: List<StripeSubscriptionItem>,
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
    #[serde(default)]
    cancel_at_period_end: bool,
    cancel_at: Option<i64>,
    canceled_at: Option<i64>,
    ended_at: Option<i64>,
    trial_end: Option<i64>,
    latest_invoice: Option<Expandable>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self { data: Vec::new() }
    }
}

#[derive(Deserialize)]
struct StripeSubscriptionItem {
    price: Price,
    quantity: Option<u64>,
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct Price {
    id: String,
    lookup_key: Option<String>,
    product: Option<Expandable>,
}

fn subscription(s: Subscription) -> Parts {
    let first = s.items.data.first();
    let period_start = period_bound(
        s.current_period_start,
        first.and_then(|i| i.current_period_start),
    );
    let period_end = period_bound(
        s.current_period_end,
        first.and_then(|i| i.current_period_end),
    );
    Parts {
        user_id: s.metadata.and_then(Metadata::user),
        customer: s.customer,
        data: EventData::Subscription(SubscriptionData {
            subscription_id: s.id,
            status: s.status,
            items: s
                .items
                .data
                .into_iter()
                .map(|i| SubscriptionItem {
                    price_id: i.price.id,
                    lookup_key: i.price.lookup_key,
                    product_id: i.price.product.map(Expandable::into_id),
                    quantity: i.quantity.unwrap_or(1),
                })
                .collect(),
            current_period_start: rfc3339(period_start),
            current_period_end: rfc3339(period_end),
            cancel_at_period_end: s.cancel_at_period_end,
            cancel_at: rfc3339(s.cancel_at),
            canceled_at: rfc3339(s.canceled_at),
            ended_at: rfc3339(s.ended_at),
            trial_end: rfc3339(s.trial_end),
            latest_invoice_id: s.latest_invoice.map(Expandable::into_id),
        }),
    }
}

#[derive(Deserialize)]
struct Schedule {
    id: String,
    status: String,
    customer: Option<Expandable>,
    subscription: Option<Expandable>,
    released_subscription: Option<String>,
}

fn schedule(s: Schedule) -> Parts {
    Parts {
        user_id: None,
        customer: s.customer,
        data: EventData::Schedule(ScheduleData {
            schedule_id: s.id,
            status: s.status,
            subscription_id: s
                .subscription
                .map(Expandable::into_id)
                .or(s.released_subscription),
        }),
    }
}

#[derive(Deserialize)]
struct Invoice {
    id: String,
    status: Option<String>,
    customer: Option<Expandable>,
    /// Before 2025-03-31.
    subscription: Option<Expandable>,
    /// Before 2025-03-31.
    subscription_details: Option<SubscriptionDetails>,
    parent: Option<InvoiceParent>,
    #[serde(default)]
    amount_due: i64,
    #[serde(default)]
    amount_paid: i64,
    currency: String,
    #[serde(default)]
    attempt_count: u32,
    next_payment_attempt: Option<i64>,
    billing_reason: Option<String>,
    period_end: Option<i64>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct InvoiceParent {
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Deserialize)]
struct SubscriptionDetails {
    subscription: Option<Expandable>,
    metadata: Option<Metadata>,
}

fn invoice(i: Invoice) -> Parts {
    let details = i
        .parent
        .and_then(|p| p.subscription_details)
        .or(i.subscription_details);
    let (details_subscription, details_metadata) = match details {
        Some(d) => (d.subscription, d.metadata),
        None => (None, None),
    };
    Parts {
        user_id: details_metadata
            .and_then(Metadata::user)
            .or_else(|| i.metadata.and_then(Metadata::user)),
        customer: i.customer,
        data: EventData::Invoice(InvoiceData {
            invoice_id: i.id,
            subscription_id: details_subscription
                .or(i.subscription)
                .map(Expandable::into_id),
            status: i.status,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            currency: i.currency,
            attempt_count: i.attempt_count,
            next_payment_attempt: rfc3339(i.next_payment_attempt),
            billing_reason: i.billing_reason,
            period_end: rfc3339(i.period_end),
        }),
    }
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    #[serde(default)]
    amount: i64,
    currency: String,
    customer: Option<Expandable>,
    invoice: Option<Expandable>,
    last_payment_error: Option<PaymentError>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct PaymentError {
    code: Option<String>,
    decline_code: Option<String>,
}

fn payment(p: PaymentIntent) -> Parts {
    let (failure_code, decline_code) = match p.last_payment_error {
        Some(e) => (e.code, e.decline_code),
        None => (None, None),
    };
    Parts {
        user_id: p.metadata.and_then(Metadata::user),
        customer: p.customer,
        data: EventData::Payment(PaymentData {
            payment_intent_id: p.id,
            status: p.status,
            amount: p.amount,
            currency: p.currency,
            invoice_id: p.invoice.map(Expandable::into_id),
            failure_code,
            decline_code,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::signature::StripeEnvelope;
    use entitle_domain::event::EventData;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../../fixtures/stripe/", $name, ".json"))
        };
    }

    /// The same events as recorded on an older API version (the set kept to prove the normalizer's
    /// tolerance of endpoints not yet moved to the pinned version).
    macro_rules! basil {
        ($name:literal) => {
            include_str!(concat!(
                "../../../../fixtures/stripe/2025-08-27.basil/",
                $name,
                ".json"
            ))
        };
    }

    /// Every recorded event on the pinned version, beside the same event on 2025-08-27.basil.
    macro_rules! both {
        ($($name:literal),* $(,)?) => {
            [$(($name, fixture!($name), basil!($name))),*]
        };
    }

    const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
    const CUSTOMER: &str = "cus_PqR5tUvWxYz012";
    const SUBSCRIPTION: &str = "sub_1QxR7tKx7Yz2LmNoA8fE3kWd";

    fn normalized(json: &str) -> BillingEvent {
        let envelope: StripeEnvelope<'_> = serde_json::from_str(json).unwrap();
        match normalize(&envelope).unwrap() {
            Normalized::Event(event) => *event,
            Normalized::Ignored => panic!("{} was ignored", envelope.event_type),
        }
    }

    #[test]
    fn every_handled_stripe_type_maps_to_its_billing_event_type_with_user_and_customer() {
        let cases = [
            (fixture!("checkout.session.completed"), "checkout.completed"),
            (
                fixture!("checkout.session.completed.payment"),
                "checkout.completed",
            ),
            (
                fixture!("customer.subscription.created"),
                "subscription.created",
            ),
            (
                fixture!("customer.subscription.updated"),
                "subscription.updated",
            ),
            (
                fixture!("customer.subscription.deleted"),
                "subscription.canceled",
            ),
            (
                fixture!("customer.subscription.trial_will_end"),
                "subscription.trial_will_end",
            ),
            (fixture!("invoice.paid"), "invoice.paid"),
            (fixture!("invoice.payment_succeeded"), "invoice.paid"),
            (fixture!("invoice.payment_failed"), "invoice.payment_failed"),
            (fixture!("payment_intent.succeeded"), "payment.succeeded"),
            (fixture!("payment_intent.payment_failed"), "payment.failed"),
            (
                fixture!("payment_intent.requires_action"),
                "payment.action_required",
            ),
        ];
        for (json, expected) in cases {
            let event = normalized(json);
            assert_eq!(event.event_type.as_str(), expected);
            assert_eq!(event.source, Source::Stripe);
            assert_eq!(
                event.user_id.as_ref().map(SubjectId::as_str),
                Some(USER),
                "{expected}"
            );
            assert_eq!(
                event
                    .stripe_customer_id
                    .as_ref()
                    .map(StripeCustomerId::as_str),
                Some(CUSTOMER)
            );
            assert_eq!(event.livemode, Some(false));
        }
    }

    #[test]
    fn the_subscribed_types_are_each_handled_and_name_every_billing_event_type_from_stripe() {
        let mapped: std::collections::BTreeSet<_> = HANDLED_STRIPE_TYPES
            .iter()
            .map(|t| event_type(t).unwrap_or_else(|| panic!("{t} is not handled")))
            .map(|t| format!("{t:?}"))
            .collect();
        // Every Stripe-sourced billing event type is reachable from the subscription.
        assert_eq!(mapped.len(), 11);
    }

    #[test]
    fn a_released_schedule_names_the_subscription_it_released_and_its_customer() {
        let event = normalized(fixture!("subscription_schedule.released"));
        assert_eq!(event.event_type, EventType::SubscriptionScheduleChanged);
        assert_eq!(
            event.stripe_customer_id.as_ref().map(|c| c.as_str()),
            Some("cus_RqLmNoPqRsTuVw")
        );
        let EventData::Schedule(data) = &event.data else {
            panic!("{:?}", event.data)
        };
        assert_eq!(
            (
                data.schedule_id.as_str(),
                data.status.as_str(),
                data.subscription_id.as_deref()
            ),
            (
                "sub_sched_1PhaseTwoReleased",
                "released",
                Some("sub_1QxYzAbCdEfGhIj")
            )
        );
    }

    #[test]
    fn unhandled_types_are_ignored() {
        let envelope: StripeEnvelope<'_> =
            serde_json::from_str(fixture!("customer.created")).unwrap();
        assert!(matches!(normalize(&envelope).unwrap(), Normalized::Ignored));
    }

    #[test]
    fn the_fixtures_are_of_the_pinned_version_and_the_basil_set_normalizes_to_the_same_events() {
        let pairs = both!(
            "checkout.session.completed",
            "checkout.session.completed.payment",
            "customer.created",
            "customer.subscription.created",
            "customer.subscription.deleted",
            "customer.subscription.trial_will_end",
            "customer.subscription.updated",
            "invoice.paid",
            "invoice.payment_failed",
            "invoice.payment_succeeded",
            "payment_intent.payment_failed",
            "payment_intent.requires_action",
            "payment_intent.succeeded",
            "subscription_schedule.released",
        );
        for (name, pinned, older) in pairs {
            let new: StripeEnvelope<'_> = serde_json::from_str(pinned).unwrap();
            let old: StripeEnvelope<'_> = serde_json::from_str(older).unwrap();
            assert_eq!(
                new.api_version.as_deref(),
                Some(crate::stripe::client::STRIPE_VERSION),
                "{name}"
            );
            assert_eq!(
                old.api_version.as_deref(),
                Some("2025-08-27.basil"),
                "{name}"
            );
            assert_ne!(pinned, older, "{name}: the two sets differ in shape");
            match (normalize(&new).unwrap(), normalize(&old).unwrap()) {
                (Normalized::Event(a), Normalized::Event(b)) => assert_eq!(a, b, "{name}"),
                (Normalized::Ignored, Normalized::Ignored) => {}
                (a, b) => panic!("{name}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn the_benchmark_payloads_are_of_the_pinned_version() {
        for json in [
            include_str!("../../../../fixtures/stripe/bench/customer.subscription.updated.3k.json"),
            include_str!("../../../../fixtures/stripe/bench/invoice.paid.30k.json"),
        ] {
            let envelope: StripeEnvelope<'_> = serde_json::from_str(json).unwrap();
            assert_eq!(
                envelope.api_version.as_deref(),
                Some(crate::stripe::client::STRIPE_VERSION)
            );
            assert!(matches!(
                normalize(&envelope).unwrap(),
                Normalized::Event(_)
            ));
        }
    }

    #[test]
    fn a_subscription_takes_its_period_from_its_items() {
        let EventData::Subscription(data) =
            normalized(fixture!("customer.subscription.updated")).data
        else {
            panic!("subscription data");
        };
        assert_eq!(data.subscription_id, SUBSCRIPTION);
        assert_eq!(data.status, "active");
        assert_eq!(data.items.len(), 1);
        assert_eq!(data.items[0].lookup_key.as_deref(), Some("pro_monthly"));
        assert_eq!(data.items[0].quantity, 1);
        assert_eq!(
            data.current_period_end.as_deref(),
            Some("2025-11-01T14:32:08Z")
        );
        assert!(!data.cancel_at_period_end);
    }

    #[test]
    fn a_basil_subscription_with_a_metered_overage_item_keeps_both_items_and_the_shared_period() {
        // A plan that bills overage: the metered item carries no quantity and may be listed first; both items
        // share the billing cycle, so the period comes from either.
        let json = r#"{"id":"evt_1Metered","type":"customer.subscription.updated","created":1761920000,
            "livemode":false,"api_version":"2025-03-31.basil","data":{"object":{"id":"sub_1Metered",
            "object":"subscription","status":"active","customer":"cus_PqR5tUvWxYz012","cancel_at_period_end":false,
            "metadata":{"userId":"user_2abcDEFghiJKLmnoPQRstuVWxyz"},
            "items":{"object":"list","data":[
              {"id":"si_1","object":"subscription_item","current_period_start":1759328000,"current_period_end":1762006400,
               "price":{"id":"price_1Over","object":"price","lookup_key":"pro_messages_overage_month","product":"prod_pro",
                 "recurring":{"interval":"month","usage_type":"metered","meter":"mtr_1"},"metadata":{"entitle":"pro"}}},
              {"id":"si_2","object":"subscription_item","quantity":1,"current_period_start":1759328000,
               "current_period_end":1762006400,
               "price":{"id":"price_1Pro","object":"price","lookup_key":"pro_monthly","product":"prod_pro",
                 "recurring":{"interval":"month","usage_type":"licensed"}}}]}}}}"#;
        let EventData::Subscription(data) = normalized(json).data else {
            panic!("subscription data");
        };
        let keys: Vec<_> = data
            .items
            .iter()
            .map(|i| (i.lookup_key.as_deref(), i.quantity))
            .collect();
        assert_eq!(
            keys,
            [
                (Some("pro_messages_overage_month"), 1),
                (Some("pro_monthly"), 1)
            ]
        );
        assert_eq!(data.items[0].product_id.as_deref(), Some("prod_pro"));
        assert_eq!(
            data.current_period_end.as_deref(),
            Some("2025-11-01T14:13:20Z")
        );
    }

    #[test]
    fn an_invoice_finds_its_subscription_and_user_under_parent() {
        let event = normalized(fixture!("invoice.payment_failed"));
        let EventData::Invoice(data) = event.data else {
            panic!("invoice data");
        };
        assert_eq!(data.subscription_id.as_deref(), Some(SUBSCRIPTION));
        assert_eq!(data.attempt_count, 1);
        assert!(data.next_payment_attempt.is_some());
    }

    #[test]
    fn older_api_versions_with_top_level_periods_and_invoice_subscription_still_parse() {
        let subscription = r#"{"id":"evt_old1","type":"customer.subscription.updated","created":1700000000,
            "livemode":true,"api_version":"2023-10-16","data":{"object":{"id":"sub_9","object":"subscription",
            "status":"past_due","customer":{"id":"cus_9","object":"customer"},"current_period_start":1700000000,
            "current_period_end":1702592000,"cancel_at_period_end":true,"metadata":{"clerkUserId":"user_9"},
            "items":{"object":"list","data":[{"price":{"id":"price_9","lookup_key":null,"product":"prod_9"},
            "quantity":3}]},"some_future_field":{"nested":[1,2,3]}}}}"#;
        let event = normalized(subscription);
        assert_eq!(event.user_id.unwrap().as_str(), "user_9");
        assert_eq!(event.stripe_customer_id.unwrap().as_str(), "cus_9");
        let EventData::Subscription(data) = event.data else {
            panic!("subscription data");
        };
        assert_eq!(
            data.current_period_end.as_deref(),
            Some("2023-12-14T22:13:20Z")
        );
        assert!(data.cancel_at_period_end);
        assert_eq!(data.items[0].quantity, 3);

        let invoice = r#"{"id":"evt_old2","type":"invoice.payment_failed","created":1700000000,
            "data":{"object":{"id":"in_9","customer":"cus_9","subscription":"sub_9","currency":"usd",
            "subscription_details":{"metadata":{"userId":"user_9"}},"attempt_count":2}}}"#;
        let event = normalized(invoice);
        assert_eq!(event.user_id.unwrap().as_str(), "user_9");
        let EventData::Invoice(data) = event.data else {
            panic!("invoice data");
        };
        assert_eq!(data.subscription_id.as_deref(), Some("sub_9"));
    }

    #[test]
    fn a_user_id_that_is_not_a_clerk_id_is_left_out_rather_than_trusted() {
        let json = r#"{"id":"evt_x","type":"payment_intent.succeeded","created":1,"data":{"object":
            {"id":"pi_1","status":"succeeded","amount":100,"currency":"usd","metadata":{"userId":"admin"}}}}"#;
        assert!(normalized(json).user_id.is_none());
    }
}
