//! The handler with fakes at the ports (customers table, Stripe, idempotency log, topic).
use super::*;
use crate::clerk_webhook::deps::{ClerkConfig, OnUserDeleted};
use entitle_core::webhook::svix::{sign, SvixKey};
use entitle_domain::fakes::{
    InMemoryCustomerDirectory, InMemoryEventLog, InMemoryStripe, RecordingDeadLetters,
    RecordingPublisher,
};
use entitle_test_support::fixtures;
use entitle_test_support::http::RequestSpec;
use secrecy::SecretString;
use std::sync::Arc;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_795_341_600;
const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";

pub(super) struct Harness {
    pub(super) deps: Deps,
    pub(super) customers: Arc<InMemoryCustomerDirectory>,
    pub(super) stripe: Arc<InMemoryStripe>,
    pub(super) publisher: Arc<RecordingPublisher>,
    dead_letters: Arc<RecordingDeadLetters>,
}

pub(super) fn harness() -> Harness {
    let customers = Arc::new(InMemoryCustomerDirectory::default());
    let stripe = Arc::new(InMemoryStripe::default());
    let publisher = Arc::new(RecordingPublisher::default());
    let dead_letters = Arc::new(RecordingDeadLetters::default());
    let key = SvixKey::parse(&SecretString::from(SECRET.to_owned())).unwrap();
    Harness {
        deps: Deps {
            events: Arc::new(InMemoryEventLog::default()),
            publisher: publisher.clone(),
            customers: customers.clone(),
            stripe_customers: stripe.clone(),
            lifecycle: stripe.clone(),
            dead_letters: dead_letters.clone(),
            config: ClerkConfig::new(vec![key]),
        },
        customers,
        stripe,
        publisher,
        dead_letters,
    }
}

fn body(name: &str) -> String {
    fixtures::text(&format!("clerk/{name}.json"))
}

pub(super) async fn deliver(h: &Harness, message_id: &str, body: &str) -> (u16, serde_json::Value) {
    let signature = sign(body.as_bytes(), SECRET, message_id, NOW);
    let request = RequestSpec::post("/webhooks/clerk", body.as_bytes())
        .header("svix-id", message_id)
        .header("svix-timestamp", NOW.to_string())
        .header("svix-signature", signature)
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(response.body().as_ref()).unwrap(),
    )
}

/// Delivers the recorded Clerk event `fixtures/clerk/<name>.json`; the status.
pub(super) async fn deliver_fixture(h: &Harness, message_id: &str, name: &str) -> u16 {
    deliver(h, message_id, &body(name)).await.0
}

fn user() -> SubjectId {
    SubjectId::parse(USER).unwrap()
}

pub(super) fn published_types(h: &Harness) -> Vec<&'static str> {
    h.publisher
        .events()
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

#[tokio::test]
async fn user_created_makes_one_customer_with_the_profile_and_announces_the_link() {
    let h = harness();
    let (status, reply) = deliver(&h, "msg_created1", &body("user.created")).await;
    assert_eq!(
        (status, reply),
        (200, serde_json::json!({"received": true}))
    );
    let customers = h.stripe.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].1, user());
    assert_eq!(customers[0].2.email.as_deref(), Some("ada@example.com"));
    assert_eq!(customers[0].2.name.as_deref(), Some("Ada Lovelace"));
    let row = h.customers.row(&user()).unwrap();
    assert_eq!(row.customer.unwrap().as_str(), customers[0].0);
    assert_eq!(published_types(&h), ["user.created", "customer.linked"]);
    let linked = &h.publisher.events()[1];
    assert_eq!(linked.id.as_str(), "msg_created1-linked");
    assert_eq!(
        linked.stripe_customer_id.as_ref().unwrap().as_str(),
        customers[0].0
    );
    assert_eq!(linked.occurred_at, "2026-11-22T10:00:00Z");
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing_and_publishes_nothing() {
    let h = harness();
    deliver(&h, "msg_again", &body("user.created")).await;
    let calls = h.stripe.calls().len();
    let (status, reply) = deliver(&h, "msg_again", &body("user.created")).await;
    assert_eq!(
        (status, reply["duplicate"].clone()),
        (200, serde_json::json!(true))
    );
    assert_eq!(h.stripe.calls().len(), calls);
    assert_eq!(h.publisher.events().len(), 2);
}

#[tokio::test]
async fn user_updated_writes_to_stripe_only_what_changed_and_nothing_when_nothing_did() {
    let h = harness();
    deliver(&h, "msg_c", &body("user.created")).await;
    deliver(&h, "msg_u1", &body("user.updated")).await;
    let customer = &h.stripe.customers()[0];
    assert_eq!(customer.2.email.as_deref(), Some("ada.old@example.com"));
    assert_eq!(customer.2.name.as_deref(), Some("Augusta Ada Lovelace"));
    let updates = |h: &Harness| {
        h.stripe
            .calls()
            .iter()
            .filter(|c| c.starts_with("update_customer"))
            .count()
    };
    assert_eq!(updates(&h), 2);
    // The same profile again (a new message): no Stripe call.
    deliver(&h, "msg_u2", &body("user.updated")).await;
    assert_eq!(updates(&h), 2);
    assert_eq!(
        published_types(&h),
        [
            "user.created",
            "customer.linked",
            "user.updated",
            "user.updated"
        ]
    );
}

#[tokio::test]
async fn user_updated_before_user_created_creates_the_customer_once() {
    let h = harness();
    deliver(&h, "msg_u", &body("user.updated")).await;
    deliver(&h, "msg_c", &body("user.created")).await;
    assert_eq!(h.stripe.customers().len(), 1);
    assert_eq!(
        published_types(&h),
        [
            "user.updated",
            "customer.linked",
            "user.created",
            "customer.linked"
        ]
    );
}

#[tokio::test]
async fn user_deleted_keeps_the_customer_marks_the_row_and_cancels_at_period_end() {
    let h = harness();
    deliver(&h, "msg_c", &body("user.created")).await;
    let customer = h.stripe.customers()[0].0.clone();
    h.stripe.add_subscription("sub_live", &customer, "active");
    h.stripe.add_subscription("sub_old", &customer, "canceled");
    let (status, _) = deliver(&h, "msg_d", &body("user.deleted")).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.stripe.subscription_status("sub_live").as_deref(),
        Some("canceling")
    );
    assert_eq!(
        h.stripe.subscription_status("sub_old").as_deref(),
        Some("canceled")
    );
    let row = h.customers.row(&user()).unwrap();
    assert!(row.deleted);
    assert_eq!(
        row.customer.unwrap().as_str(),
        customer,
        "the mapping and history stay"
    );
    assert_eq!(published_types(&h).last(), Some(&"user.deleted"));
}

#[tokio::test]
async fn a_refusal_to_stop_a_deleted_users_subscription_is_dead_lettered_with_the_reason() {
    let h = harness();
    deliver(&h, "msg_c", &body("user.created")).await;
    let customer = h.stripe.customers()[0].0.clone();
    h.stripe.add_subscription("sub_live", &customer, "active");
    h.stripe.add_subscription("sub_pack", &customer, "active");
    h.stripe
        .fail_next("set_cancel_at_period_end sub_live", false);
    let (status, _) = deliver(&h, "msg_d", &body("user.deleted")).await;
    assert_eq!(status, 200, "retrying cannot fix a refusal");
    assert_eq!(
        h.stripe.subscription_status("sub_live").as_deref(),
        Some("active")
    );
    assert_eq!(
        h.stripe.subscription_status("sub_pack").as_deref(),
        Some("canceling"),
        "one refusal does not leave the others billing"
    );
    let letters = h.dead_letters.letters.lock().unwrap().clone();
    assert_eq!(letters.len(), 1, "never a silent 200");
    assert!(
        letters[0].0.contains("\"user.deleted\""),
        "{}",
        letters[0].0
    );
    assert!(
        letters[0].1.contains("injected rejection"),
        "{}",
        letters[0].1
    );
    assert_eq!(published_types(&h).last(), Some(&"user.deleted"));
}

#[tokio::test]
async fn the_deletion_policy_can_cancel_now_or_keep_subscriptions() {
    for (policy, expected) in [
        (OnUserDeleted::CancelNow, "canceled"),
        (OnUserDeleted::Keep, "active"),
    ] {
        let mut h = harness();
        h.deps.config.on_user_deleted = policy;
        deliver(&h, "msg_c", &body("user.created")).await;
        let customer = h.stripe.customers()[0].0.clone();
        h.stripe.add_subscription("sub_1", &customer, "active");
        deliver(&h, "msg_d", &body("user.deleted")).await;
        assert_eq!(
            h.stripe.subscription_status("sub_1").as_deref(),
            Some(expected),
            "{policy:?}"
        );
    }
}

#[tokio::test]
async fn a_late_user_created_after_user_deleted_creates_no_customer() {
    let h = harness();
    deliver(&h, "msg_d", &body("user.deleted")).await;
    let (status, _) = deliver(&h, "msg_c", &body("user.created")).await;
    assert_eq!(status, 200);
    assert!(h.stripe.customers().is_empty());
    assert_eq!(published_types(&h), ["user.deleted"]);
}

#[tokio::test]
async fn stripe_unavailable_is_a_503_and_the_retry_creates_exactly_one_customer() {
    let h = harness();
    h.stripe.fail_next("create_customer", true);
    let (status, reply) = deliver(&h, "msg_retry", &body("user.created")).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    assert!(h.publisher.events().is_empty());
    assert!(
        h.customers.row(&user()).is_none(),
        "the creation claim was released"
    );
    let (status, _) = deliver(&h, "msg_retry", &body("user.created")).await;
    assert_eq!(status, 200);
    assert_eq!(h.stripe.customers().len(), 1);
}

#[tokio::test]
async fn a_stripe_rejection_retrying_cannot_fix_is_acknowledged_not_retried_forever() {
    let h = harness();
    h.stripe.fail_next("create_customer", false);
    let (status, _) = deliver(&h, "msg_rejected", &body("user.created")).await;
    assert_eq!(status, 200);
    assert!(h.stripe.customers().is_empty());
    assert_eq!(published_types(&h), ["user.created"]);
    let (_, reply) = deliver(&h, "msg_rejected", &body("user.created")).await;
    assert_eq!(reply["duplicate"], true);
}

#[tokio::test]
async fn bad_signatures_stale_timestamps_and_malformed_bodies_are_400s_that_change_nothing() {
    let h = harness();
    let body = body("user.created");
    let now = NOW.to_string();
    let good = sign(body.as_bytes(), SECRET, "msg_x", NOW);
    let cases = [
        (
            vec![
                ("svix-id", "msg_x".to_owned()),
                ("svix-timestamp", now.clone()),
            ],
            "missing_signature",
        ),
        (
            vec![
                ("svix-id", "msg_x".to_owned()),
                ("svix-timestamp", now.clone()),
                (
                    "svix-signature",
                    sign(
                        body.as_bytes(),
                        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                        "msg_x",
                        NOW,
                    ),
                ),
            ],
            "invalid_signature",
        ),
        (
            vec![
                ("svix-id", "msg_y".to_owned()),
                ("svix-timestamp", now.clone()),
                ("svix-signature", good.clone()),
            ],
            "invalid_signature",
        ),
        (
            vec![
                ("svix-id", "msg_x".to_owned()),
                ("svix-timestamp", (NOW - 301).to_string()),
                (
                    "svix-signature",
                    sign(body.as_bytes(), SECRET, "msg_x", NOW - 301),
                ),
            ],
            "stale_timestamp",
        ),
        (
            vec![
                ("svix-id", "msg_x".to_owned()),
                ("svix-timestamp", (NOW + 301).to_string()),
                (
                    "svix-signature",
                    sign(body.as_bytes(), SECRET, "msg_x", NOW + 301),
                ),
            ],
            "stale_timestamp",
        ),
    ];
    for (headers, code) in cases {
        let mut spec = RequestSpec::post("/webhooks/clerk", body.as_bytes());
        for (name, value) in headers {
            spec = spec.header(name, value);
        }
        let response = handle_at(&h.deps, &spec.build(), UnixTime::from_secs(NOW)).await;
        let reply: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            (response.status().as_u16(), reply["error"]["code"].as_str()),
            (400, Some(code))
        );
    }
    let (status, reply) = deliver(&h, "msg_bad", "{not json").await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("malformed_payload"))
    );
    let not_a_user = r#"{"type":"user.created","data":{"id":"org_1"},"object":"event"}"#;
    assert_eq!(deliver(&h, "msg_bad2", not_a_user).await.0, 400);
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    assert_eq!(deliver(&h, "msg_big", &huge).await.0, 413);
    assert!(h.stripe.calls().is_empty());
    assert!(h.publisher.events().is_empty());
}

#[tokio::test]
async fn unbranded_webhook_headers_are_accepted_and_other_types_ignored() {
    let h = harness();
    let body = body("session.created");
    let request = RequestSpec::post("/webhooks/clerk", body.as_bytes())
        .header("webhook-id", "msg_session")
        .header("webhook-timestamp", NOW.to_string())
        .header(
            "webhook-signature",
            sign(body.as_bytes(), SECRET, "msg_session", NOW),
        )
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200);
    let reply: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"received": true, "ignored": true})
    );
    assert!(h.stripe.calls().is_empty());
}
