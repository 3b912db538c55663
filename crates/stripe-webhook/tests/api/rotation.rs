//! Rolling the signing secret needs no redeploy: the function reads Secrets Manager (the local AWS) again when
//! a signature matches none of its cached secrets, and a stack whose secret is not stored yet answers 503
//! (Stripe retries) rather than failing its cold start.
use crate::helpers::{signed_event, TestApp};
use entitle_core::secrets::{self, Rotating};
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use std::time::Duration;

#[tokio::test]
async fn a_secret_stored_or_rolled_in_secrets_manager_is_used_without_a_new_cold_start() {
    let config = aws::sdk_config().await;
    // What the stack creates: a secret with no value yet.
    let arn = aws::create_secret("entitle/test-stripe-webhook-secret-", r#"{"key": ""}"#).await;
    let name = unique_id("STRIPE_WEBHOOK_SECRET_TEST_").to_uppercase();
    std::env::set_var(format!("{name}_ARN"), &arn);
    // A long TTL, so only a failed signature (or an unset secret) makes it read again; no rate limit here
    // (the core suite tests it), so each step's read happens.
    let secrets = Rotating::load(&name, &config, secrets::secret_list)
        .await
        .expect("an unfilled secret does not fail the cold start")
        .with_timing(Duration::from_secs(3600), Duration::ZERO);
    let app = TestApp::with_secrets(secrets, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;

    let (early, body, signature) = signed_event("invoice.paid", "whsec_first");
    let reply = app.deliver(&body, &signature).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (503, Some("not_configured"))
    );
    assert!(app.record(&early).await.is_none());

    // `entitle setup --apply` stores the endpoint's secret: Stripe's retry of the same event goes through.
    aws::put_secret(&arn, "whsec_first").await;
    let reply = app.deliver(&body, &signature).await;
    assert_eq!((reply.status, &reply.body["received"]), (200, &true.into()));
    assert_eq!(app.published(&early).await.len(), 1);

    // Rolled in the dashboard: Stripe signs with the new secret (and, for a while, the old).
    aws::put_secret(&arn, "whsec_first,whsec_second").await;
    let (rolled, body, signature) = signed_event("invoice.paid", "whsec_second");
    let reply = app.deliver(&body, &signature).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.published(&rolled).await.len(), 1);

    // A forged signature still fails, after the one read.
    let (forged, body, signature) = signed_event("invoice.paid", "whsec_forged");
    let reply = app.deliver(&body, &signature).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (400, Some("invalid_signature"))
    );
    assert!(app.record(&forged).await.is_none());
}
