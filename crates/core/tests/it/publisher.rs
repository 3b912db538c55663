use crate::helpers::{config, env};
use entitle_core::adapters::SnsPublisher;
use entitle_domain::event::{BillingEvent, EventData, EventType, InvoiceData, Source};
use entitle_domain::ids::{EventId, SubjectId};
use entitle_domain::ports::EventPublisher;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{body_id, TopicTap};
use entitle_test_support::fixtures::unique_id;

fn event(id: &str) -> BillingEvent {
    let mut event = BillingEvent::occurred(
        EventId::parse(id).unwrap(),
        Source::Stripe,
        EventType::InvoicePaid,
        UnixTime::from_secs(1_795_341_600),
        EventData::Invoice(InvoiceData {
            invoice_id: "in_1".into(),
            subscription_id: Some("sub_1".into()),
            status: Some("paid".into()),
            amount_due: 4900,
            amount_paid: 4900,
            currency: "usd".into(),
            attempt_count: 1,
            next_payment_attempt: None,
            billing_reason: Some("subscription_cycle".into()),
            period_end: None,
        }),
    );
    event.user_id = Some(SubjectId::parse("user_1").unwrap());
    event
}

#[tokio::test]
async fn a_published_event_arrives_raw_with_type_and_source_attributes() {
    let config = config().await;
    let topic = env("BILLING_EVENTS_TOPIC_ARN");
    let tap = TopicTap::subscribe(&config, &topic).await;
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&config), topic);
    let id = unique_id("evt_");
    let sent = event(&id);
    publisher.publish(&sent).await.unwrap();

    let messages = tap.messages_for(&id).await;
    assert_eq!(messages.len(), 1);
    let received: BillingEvent = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(received, sent);
    let attributes = messages[0].message_attributes().unwrap();
    assert_eq!(attributes["type"].string_value(), Some("invoice.paid"));
    assert_eq!(attributes["source"].string_value(), Some("stripe"));
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_an_error() {
    let config = config().await;
    let publisher = SnsPublisher::new(
        aws_sdk_sns::Client::new(&config),
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
    );
    assert!(publisher.publish(&event(&unique_id("evt_"))).await.is_err());
}

#[tokio::test]
async fn publish_all_sends_a_batch_each_event_arriving_once_with_its_attributes() {
    let config = config().await;
    let topic = env("BILLING_EVENTS_TOPIC_ARN");
    let tap = TopicTap::subscribe(&config, &topic).await;
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&config), topic);
    // 12 events: a batch of SNS's 10 and one of 2.
    let sent: Vec<BillingEvent> = (0..12).map(|_| event(&unique_id("evt_"))).collect();
    publisher.publish_all(&sent).await.unwrap();
    let all = tap.messages().await;
    for event in &sent {
        let messages: Vec<_> = all
            .iter()
            .filter(|m| body_id(m).as_deref() == Some(event.id.as_str()))
            .collect();
        assert_eq!(messages.len(), 1, "{}", event.id);
        let received: BillingEvent = serde_json::from_str(messages[0].body().unwrap()).unwrap();
        assert_eq!(&received, event);
        let attributes = messages[0].message_attributes().unwrap();
        assert_eq!(attributes["type"].string_value(), Some("invoice.paid"));
        assert_eq!(attributes["source"].string_value(), Some("stripe"));
    }

    let missing = SnsPublisher::new(
        aws_sdk_sns::Client::new(&config),
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
    );
    let two = [event(&unique_id("evt_")), event(&unique_id("evt_"))];
    assert!(missing.publish_all(&two).await.is_err());
}
