use crate::helpers::{signed_event, TestApp, SECRET};
use entitle_test_support::aws;

#[tokio::test]
async fn one_signed_delivery_reaches_the_entitlement_queue_as_one_raw_message_with_attributes() {
    let app = TestApp::spawn().await;
    let (id, body, signature) = signed_event("customer.subscription.created", SECRET);
    let reply = app.deliver(&body, &signature).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, serde_json::json!({"received": true}));

    // The template's own queue and subscription (raw delivery), as the processor will read it.
    let queue = aws::env("ENTITLEMENT_QUEUE_URL");
    let messages: Vec<_> = aws::drain(&app.tap.sqs, &queue)
        .await
        .into_iter()
        .filter(|m| m.body().is_some_and(|b| b.contains(&id)))
        .collect();
    assert_eq!(messages.len(), 1);
    let event: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["schemaVersion"], 1);
    assert_eq!(event["source"], "stripe");
    assert_eq!(event["type"], "subscription.created");
    assert_eq!(event["userId"], "user_2abcDEFghiJKLmnoPQRstuVWxyz");
    assert_eq!(event["stripeCustomerId"], "cus_PqR5tUvWxYz012");
    assert_eq!(
        event["data"]["subscriptionId"],
        "sub_1QxR7tKx7Yz2LmNoA8fE3kWd"
    );
    assert_eq!(event["data"]["items"][0]["lookupKey"], "starter_monthly");
    let attributes = messages[0].message_attributes().unwrap();
    assert_eq!(
        attributes["type"].string_value(),
        Some("subscription.created")
    );
    assert_eq!(attributes["source"].string_value(), Some("stripe"));
}

#[tokio::test]
async fn the_record_keeps_the_verified_payload_for_thirty_days() {
    let app = TestApp::spawn().await;
    let (id, body, signature) = signed_event("invoice.paid", SECRET);
    assert_eq!(app.deliver(&body, &signature).await.status, 200);
    let record = app.record(&id).await.expect("a record");
    assert_eq!(record["status"].as_s().unwrap(), "completed");
    assert_eq!(record["payload"].as_s().unwrap(), &body);
    let expires: i64 = record["expiresAt"].as_n().unwrap().parse().unwrap();
    let completed: i64 = record["completedAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires - completed, 30 * 24 * 3600);
}

#[tokio::test]
async fn during_a_secret_rotation_events_signed_with_either_secret_are_published() {
    let topic = aws::env("BILLING_EVENTS_TOPIC_ARN");
    let app = TestApp::with(&["whsec_outgoing", "whsec_incoming"], &topic).await;
    for secret in ["whsec_outgoing", "whsec_incoming"] {
        let (id, body, signature) = signed_event("invoice.paid", secret);
        assert_eq!(app.deliver(&body, &signature).await.status, 200, "{secret}");
        assert_eq!(app.published(&id).await.len(), 1, "{secret}");
    }
}

#[tokio::test]
async fn every_handled_stripe_event_type_is_published_under_its_billing_event_type() {
    let app = TestApp::spawn().await;
    let cases = [
        ("checkout.session.completed", "checkout.completed"),
        ("checkout.session.completed.payment", "checkout.completed"),
        ("customer.subscription.created", "subscription.created"),
        ("customer.subscription.updated", "subscription.updated"),
        ("customer.subscription.deleted", "subscription.canceled"),
        (
            "customer.subscription.trial_will_end",
            "subscription.trial_will_end",
        ),
        ("invoice.paid", "invoice.paid"),
        ("invoice.payment_succeeded", "invoice.paid"),
        ("invoice.payment_failed", "invoice.payment_failed"),
        ("payment_intent.succeeded", "payment.succeeded"),
        ("payment_intent.payment_failed", "payment.failed"),
        ("payment_intent.requires_action", "payment.action_required"),
        (
            "subscription_schedule.released",
            "subscription.schedule_changed",
        ),
    ];
    let mut ids = Vec::new();
    for (fixture, _) in cases {
        let (id, body, signature) = signed_event(fixture, SECRET);
        assert_eq!(
            app.deliver(&body, &signature).await.status,
            200,
            "{fixture}"
        );
        ids.push(id);
    }
    let published = app.tap.messages().await;
    for ((fixture, expected), id) in cases.iter().zip(&ids) {
        let found: Vec<_> = published
            .iter()
            .filter(|m| entitle_test_support::aws::body_id(m).as_deref() == Some(id.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{fixture}");
        let attributes = found[0].message_attributes().unwrap();
        assert_eq!(
            attributes["type"].string_value(),
            Some(*expected),
            "{fixture}"
        );
    }
}
