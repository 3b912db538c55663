//! The handler with fakes at the ports: every answer it gives and what each changes.
use super::*;
use crate::stripe_webhook::deps::WebhookConfig;
use entitle_core::stripe::signature::sign;
use entitle_domain::fakes::{InMemoryEventLog, RecordingPublisher};
use entitle_domain::ports::ClaimRequest;
use entitle_domain::ports::EventLog;
use entitle_test_support::fixtures::stripe_event;
use entitle_test_support::http::{RequestSpec, Shape, ALL_SHAPES};
use secrecy::SecretString;
use std::sync::Arc;

const SECRET: &str = "whsec_unit_test_secret";
const NOW: i64 = 1_795_341_600;
const PATH: &str = "/webhooks/stripe";

struct Harness {
    deps: Deps,
    log: Arc<InMemoryEventLog>,
    publisher: Arc<RecordingPublisher>,
}

fn harness_with(secrets: &[&str], publisher: RecordingPublisher) -> Harness {
    let log = Arc::new(InMemoryEventLog::default());
    let publisher = Arc::new(publisher);
    let secrets = secrets
        .iter()
        .map(|s| SecretString::from(s.to_string()))
        .collect();
    Harness {
        deps: Deps {
            events: log.clone(),
            publisher: publisher.clone(),
            config: WebhookConfig::new(secrets),
        },
        log,
        publisher,
    }
}

fn harness() -> Harness {
    harness_with(&[SECRET], RecordingPublisher::default())
}

fn signed<'a>(body: &'a [u8], secret: &str, t: i64) -> RequestSpec<'a> {
    RequestSpec::post(PATH, body).header("stripe-signature", sign(body, secret, t))
}

async fn send(h: &Harness, spec: RequestSpec<'_>) -> (u16, serde_json::Value) {
    let response = handle_at(&h.deps, &spec.build(), UnixTime::from_secs(NOW)).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = serde_json::from_slice(response.body().as_ref()).expect("a JSON body");
    (status, body)
}

fn error_code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().expect("an error code")
}

#[tokio::test]
async fn a_signed_event_is_published_once_from_every_request_shape() {
    for shape in ALL_SHAPES {
        for base64 in [false, true] {
            let h = harness();
            let body = stripe_event("customer.subscription.created", "evt_shape", NOW);
            let spec = signed(body.as_bytes(), SECRET, NOW)
                .shape(shape)
                .base64(base64);
            let (status, reply) = send(&h, spec).await;
            assert_eq!(
                (status, reply),
                (200, serde_json::json!({"received": true})),
                "{shape:?} base64={base64}"
            );
            let events = h.publisher.events();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].id.as_str(), "evt_shape");
            assert_eq!(events[0].event_type.as_str(), "subscription.created");
            assert_eq!(
                h.log.record("stripe#evt_shape").unwrap().payload,
                body,
                "the raw payload is kept"
            );
        }
    }
}

#[tokio::test]
async fn the_published_event_carries_the_user_customer_and_normalized_data() {
    let h = harness();
    let body = stripe_event("checkout.session.completed", "evt_checkout", NOW);
    let (status, _) = send(&h, signed(body.as_bytes(), SECRET, NOW)).await;
    assert_eq!(status, 200);
    let event = serde_json::to_value(&h.publisher.events()[0]).unwrap();
    assert_eq!(event["schemaVersion"], 1);
    assert_eq!(event["source"], "stripe");
    assert_eq!(event["type"], "checkout.completed");
    assert_eq!(event["occurredAt"], "2026-11-22T10:00:00Z");
    assert_eq!(event["userId"], "user_2abcDEFghiJKLmnoPQRstuVWxyz");
    assert_eq!(event["stripeCustomerId"], "cus_PqR5tUvWxYz012");
    assert_eq!(event["data"]["mode"], "subscription");
    assert!(event["data"]["subscriptionId"]
        .as_str()
        .unwrap()
        .starts_with("sub_"));
}

#[tokio::test]
async fn a_replayed_event_is_acknowledged_without_publishing_twice() {
    let h = harness();
    let body = stripe_event("invoice.paid", "evt_replayed", NOW);
    assert_eq!(send(&h, signed(body.as_bytes(), SECRET, NOW)).await.0, 200);
    let (status, reply) = send(&h, signed(body.as_bytes(), SECRET, NOW)).await;
    assert_eq!(status, 200);
    assert_eq!(reply["duplicate"], true);
    assert_eq!(h.publisher.events().len(), 1);
}

#[tokio::test]
async fn an_unhandled_event_type_is_acknowledged_and_nothing_is_published_or_recorded() {
    let h = harness();
    let body = stripe_event("customer.created", "evt_ignored", NOW);
    let (status, reply) = send(&h, signed(body.as_bytes(), SECRET, NOW)).await;
    assert_eq!(
        (status, reply),
        (200, serde_json::json!({"received": true, "ignored": true}))
    );
    assert!(h.publisher.events().is_empty());
    assert!(h.log.is_empty());
}

#[tokio::test]
async fn bad_signatures_are_rejected_with_400_and_change_nothing() {
    let h = harness();
    let body = stripe_event("invoice.paid", "evt_bad", NOW);
    let cases = [
        (
            signed(body.as_bytes(), "whsec_someone_else", NOW),
            "invalid_signature",
        ),
        (
            RequestSpec::post(PATH, body.as_bytes()),
            "missing_signature",
        ),
        (
            RequestSpec::post(PATH, body.as_bytes()).header("stripe-signature", "garbage"),
            "malformed_signature",
        ),
        (
            signed(body.as_bytes(), SECRET, NOW - 301),
            "stale_timestamp",
        ),
        (
            signed(body.as_bytes(), SECRET, NOW + 301),
            "stale_timestamp",
        ),
    ];
    for (spec, code) in cases {
        let (status, reply) = send(&h, spec).await;
        assert_eq!((status, error_code(&reply)), (400, code));
    }
    let tampered = body.replace("in_", "in_X");
    let header = sign(body.as_bytes(), SECRET, NOW);
    let (status, reply) = send(
        &h,
        RequestSpec::post(PATH, tampered.as_bytes()).header("stripe-signature", header),
    )
    .await;
    assert_eq!((status, error_code(&reply)), (400, "invalid_signature"));
    assert!(h.publisher.events().is_empty());
    assert!(h.log.is_empty());
}

#[tokio::test]
async fn either_secret_is_accepted_during_a_rotation() {
    let h = harness_with(&["whsec_old", "whsec_new"], RecordingPublisher::default());
    for (id, secret) in [("evt_old", "whsec_old"), ("evt_new", "whsec_new")] {
        let body = stripe_event("invoice.paid", id, NOW);
        assert_eq!(send(&h, signed(body.as_bytes(), secret, NOW)).await.0, 200);
    }
    assert_eq!(h.publisher.events().len(), 2);
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_a_400() {
    let h = harness();
    for body in [
        &b"{not json"[..],
        br#"{"id":"evt_1"}"#,
        br#"{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{"id":3}}}"#,
    ] {
        let (status, reply) = send(&h, signed(body, SECRET, NOW)).await;
        assert_eq!((status, error_code(&reply)), (400, "malformed_payload"));
    }
    assert!(h.log.is_empty());
}

#[tokio::test]
async fn a_body_over_256_kib_is_a_413() {
    let h = harness();
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let (status, reply) = send(&h, signed(body.as_bytes(), SECRET, NOW)).await;
    assert_eq!((status, error_code(&reply)), (413, "payload_too_large"));
}

#[tokio::test]
async fn other_methods_get_405_and_other_paths_404() {
    let h = harness();
    let body = stripe_event("invoice.paid", "evt_method", NOW);
    let response = handle_at(
        &h.deps,
        &signed(body.as_bytes(), SECRET, NOW).method("GET").build(),
        UnixTime::from_secs(NOW),
    )
    .await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let spec = RequestSpec::post("/webhooks/other", body.as_bytes());
    assert_eq!(send(&h, spec).await.0, 404);
    assert!(h.publisher.events().is_empty());
}

#[tokio::test]
async fn the_route_works_under_any_path_prefix() {
    let h = harness();
    for (i, path) in [
        "/prod/webhooks/stripe",
        "/lambda-url/stripe-webhook/webhooks/stripe",
        "/webhooks/stripe/",
    ]
    .into_iter()
    .enumerate()
    {
        let body = stripe_event("invoice.paid", &format!("evt_prefix{i}"), NOW);
        let header = sign(body.as_bytes(), SECRET, NOW);
        let spec = RequestSpec::post(path, body.as_bytes()).header("stripe-signature", header);
        assert_eq!(send(&h, spec).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn a_publish_failure_is_a_503_that_releases_the_claim_so_the_retry_publishes_once() {
    let h = harness_with(&[SECRET], RecordingPublisher::failing());
    let body = stripe_event("invoice.payment_failed", "evt_retry", NOW);
    let (status, reply) = send(&h, signed(body.as_bytes(), SECRET, NOW)).await;
    assert_eq!((status, error_code(&reply)), (503, "unavailable"));
    assert!(h.log.record("stripe#evt_retry").is_none(), "claim released");
    h.publisher.set_failing(false);
    assert_eq!(send(&h, signed(body.as_bytes(), SECRET, NOW)).await.0, 200);
    assert_eq!(send(&h, signed(body.as_bytes(), SECRET, NOW)).await.0, 200);
    assert_eq!(h.publisher.events().len(), 1);
}

#[tokio::test]
async fn a_delivery_while_another_holds_the_claim_is_told_to_retry_and_publishes_nothing() {
    let h = harness();
    let body = stripe_event("invoice.paid", "evt_busy", NOW);
    let claim = ClaimRequest {
        key: "stripe#evt_busy",
        event_type: "invoice.paid",
        payload: "",
        now: UnixTime::from_secs(NOW),
        lease: std::time::Duration::from_secs(8),
    };
    h.log.claim(&claim).await.unwrap();
    let response = handle_at(
        &h.deps,
        &signed(body.as_bytes(), SECRET, NOW).build(),
        UnixTime::from_secs(NOW),
    )
    .await;
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(response.headers()["retry-after"], "10");
    assert!(h.publisher.events().is_empty());
    // Once the lease has run out, a retry takes the abandoned claim over.
    let later = UnixTime::from_secs(NOW + 9);
    let header = sign(body.as_bytes(), SECRET, NOW + 9);
    let request = RequestSpec::post(PATH, body.as_bytes())
        .header("stripe-signature", header)
        .build();
    assert_eq!(
        handle_at(&h.deps, &request, later).await.status().as_u16(),
        200
    );
    assert_eq!(h.publisher.events().len(), 1);
}

#[tokio::test]
async fn the_source_ip_allow_list_admits_only_listed_addresses() {
    let mut h = harness();
    h.deps.config.allowed_ips = Some(vec!["54.187.174.169".parse().unwrap()]);
    let body = stripe_event("invoice.paid", "evt_ip", NOW);
    for shape in [Shape::RestV1, Shape::HttpV2] {
        let (status, reply) = send(
            &h,
            signed(body.as_bytes(), SECRET, NOW)
                .shape(shape)
                .source_ip("10.0.0.1"),
        )
        .await;
        assert_eq!((status, error_code(&reply)), (403, "forbidden_source"));
    }
    assert_eq!(send(&h, signed(body.as_bytes(), SECRET, NOW)).await.0, 200);
}
