//! The processor with fakes at every port: event streams in any order and multiplicity, credits, grace,
//! poisoned records, Clerk outages, announcements.
use super::*;
use entitle_domain::entitlements::{Status, SubscriptionItem, SubscriptionState};
use entitle_domain::fakes::{
    InMemoryClerk, InMemoryCustomerDirectory, InMemoryEntitlementStore, InMemoryMembers,
    InMemoryStripeState, InMemoryUsage, RecordingDeadLetters, RecordingMeter, RecordingPublisher,
    RecordingWorkQueue,
};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::EntitlementStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

mod credits;
mod dead_letters;
mod grace;
mod mirror;
mod order;
mod overage;
mod reconcile;
mod seats;
mod sweep;

const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
const CUSTOMER: &str = "cus_PqR5tUvWxYz012";
const SUB: &str = "sub_1QxR7tKx7Yz2LmNoA8fE3kWd";
const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";
const NOW: i64 = 1_795_341_600;
const DAY: i64 = 86_400;

struct Harness {
    deps: Deps,
    store: Arc<InMemoryEntitlementStore>,
    usage: Arc<InMemoryUsage>,
    stripe: Arc<InMemoryStripeState>,
    clerk: Arc<InMemoryClerk>,
    members: Arc<InMemoryMembers>,
    publisher: Arc<RecordingPublisher>,
    dead: Arc<RecordingDeadLetters>,
    meter: Arc<RecordingMeter>,
    customers: Arc<InMemoryCustomerDirectory>,
    work: Arc<RecordingWorkQueue>,
}

fn harness() -> Harness {
    let store = Arc::new(InMemoryEntitlementStore::default());
    let usage = Arc::new(InMemoryUsage::default());
    let stripe = Arc::new(InMemoryStripeState::default());
    let clerk = Arc::new(InMemoryClerk::default());
    let members = Arc::new(InMemoryMembers::default());
    let publisher = Arc::new(RecordingPublisher::default());
    let dead = Arc::new(RecordingDeadLetters::default());
    let meter = Arc::new(RecordingMeter::default());
    let customers = Arc::new(InMemoryCustomerDirectory::default());
    let work = Arc::new(RecordingWorkQueue::default());
    Harness {
        deps: Deps {
            store: store.clone(),
            history: store.clone(),
            usage: usage.clone(),
            stripe: stripe.clone(),
            meter: meter.clone(),
            customers: customers.clone(),
            clerk: clerk.clone(),
            members: members.clone(),
            lifecycle: Arc::new(entitle_domain::fakes::InMemoryStripe::default()),
            publisher: publisher.clone(),
            dead_letters: dead.clone(),
            work: work.clone(),
            catalog: PlanCatalog::builtin().clone(),
            grace: Duration::from_secs(7 * DAY as u64),
            reconcile_rate: crate::processor::deps::DEFAULT_RECONCILE_RATE,
        },
        store,
        usage,
        stripe,
        clerk,
        members,
        publisher,
        dead,
        meter,
        customers,
        work,
    }
}

fn user() -> SubjectId {
    SubjectId::parse(USER).unwrap()
}

fn state(status: &str, price: &str, cancel_at_period_end: bool) -> SubscriptionState {
    SubscriptionState {
        id: SUB.into(),
        status: status.into(),
        // The catalog names its prices by lookup key: Stripe reports `price_local_<key>` with its key.
        items: vec![SubscriptionItem::new(
            price,
            price.strip_prefix("price_local_").map(str::to_owned),
            1,
        )],
        current_period_end: Some(NOW + 30 * DAY),
        cancel_at_period_end,
        trial_end: None,
        next_phase: None,
    }
}

fn event(id: &str, event_type: &str, at: i64, data: serde_json::Value) -> String {
    json!({
        "schemaVersion": 1, "id": id, "source": "stripe", "type": event_type,
        "occurredAt": UnixTime::from_secs(at).to_rfc3339(), "userId": USER, "stripeCustomerId": CUSTOMER,
        "data": data
    })
    .to_string()
}

fn sub_event(id: &str, event_type: &str, at: i64) -> String {
    event(
        id,
        event_type,
        at,
        json!({"subscriptionId": SUB, "status": "active", "items": []}),
    )
}

fn invoice_event(id: &str, event_type: &str, at: i64) -> String {
    event(
        id,
        event_type,
        at,
        json!({"invoiceId": format!("in_{id}"), "subscriptionId": SUB}),
    )
}

fn credit_checkout(id: &str, session: &str) -> String {
    event(
        id,
        "checkout.completed",
        NOW,
        json!({"sessionId": session, "mode": "payment", "paymentStatus": "paid"}),
    )
}

async fn deliver(h: &Harness, bodies: &[String], at: i64) -> Vec<String> {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{i}"), "body": body}))
        .collect();
    let reply = handle_at(
        &h.deps,
        json!({ "Records": records }),
        UnixTime::from_secs(at),
    )
    .await
    .unwrap();
    reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn current(h: &Harness) -> entitle_domain::entitlements::Entitlements {
    h.store
        .current(&user())
        .expect("entitlements stored")
        .entitlements
}

/// `usage.recorded` as usage-api publishes it: the user on the envelope, no customer (the processor looks
/// it up).
fn recorded(usage: usize, overage: i64) -> String {
    json!({
        "schemaVersion": 1, "id": format!("usage-recorded-u{usage}"), "source": "entitle",
        "type": "usage.recorded", "occurredAt": UnixTime::from_secs(NOW - 60).to_rfc3339(), "userId": USER,
        "data": {"userId": USER, "feature": "messages_per_month", "usageId": format!("u_usage{usage}"),
            "overage": overage, "period": "2026-11"}
    })
    .to_string()
}

async fn link_customer(h: &Harness) {
    use entitle_domain::ports::CustomerDirectory;
    let customer = entitle_domain::ids::StripeCustomerId::parse(CUSTOMER).unwrap();
    h.customers
        .link(&user(), &customer, UnixTime::from_secs(NOW))
        .await
        .unwrap();
}
