//! How things reach the functions, as they would in AWS: signed webhooks and signed-in API calls as API
//! Gateway requests, and billing events from the entitlement queue as SQS event payloads (the job Lambda's
//! event source mapping does, and `scripts/bridge.py` does for `make dev`).
use crate::world::{World, CLERK_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures;
use entitle_test_support::http::RequestSpec;
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// A function's HTTP answer.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn of(response: Response<Body>) -> Self {
        Self {
            status: response.status().as_u16(),
            body: serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null),
        }
    }
}

/// A Stripe event ready to send: a fixture with its ids swapped for the demo's, a fresh id and `created`.
pub struct StripeDelivery {
    pub event_type: String,
    pub body: String,
}

impl StripeDelivery {
    /// `fixtures/stripe/<name>.json` with each `(fixture id, demo id)` replaced, then `patch`ed.
    pub fn from_fixture(
        name: &str,
        replace: &[(&str, &str)],
        created: UnixTime,
        patch: impl FnOnce(&mut Value),
    ) -> Self {
        let mut text = fixtures::text(&format!("stripe/{name}.json"));
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        let mut event: Value = serde_json::from_str(&text).expect("a JSON fixture");
        event["id"] = fixtures::unique_id("evt_demo").into();
        event["created"] = created.secs().into();
        patch(&mut event);
        Self {
            event_type: event["type"].as_str().unwrap_or(name).to_owned(),
            body: event.to_string(),
        }
    }
}

/// `POST /webhooks/stripe` with a valid `Stripe-Signature`.
pub async fn stripe_webhook(world: &World, event: &StripeDelivery) -> Reply {
    let now = UnixTime::now();
    let signature = entitle_core::stripe::signature::sign(
        event.body.as_bytes(),
        STRIPE_WEBHOOK_SECRET,
        now.secs(),
    );
    let request = RequestSpec::post("/webhooks/stripe", event.body.as_bytes())
        .header("stripe-signature", signature)
        .build();
    Reply::of(
        entitle_app::stripe_webhook::handler::handle_at(&world.stripe_webhook, &request, now).await,
    )
}

/// `POST /webhooks/clerk`: a Svix-signed Clerk event.
pub async fn clerk_webhook(world: &World, body: &str) -> Reply {
    let now = UnixTime::now();
    let message_id = fixtures::unique_id("msg_demo");
    let signature = entitle_core::webhook::svix::sign(
        body.as_bytes(),
        CLERK_WEBHOOK_SECRET,
        &message_id,
        now.secs(),
    );
    let request = RequestSpec::post("/webhooks/clerk", body.as_bytes())
        .header("svix-id", message_id)
        .header("svix-timestamp", now.secs().to_string())
        .header("svix-signature", signature)
        .build();
    Reply::of(
        entitle_app::clerk_webhook::handler::handle_at(&world.clerk_webhook, &request, now).await,
    )
}

/// A billing-api call with the user's session token.
pub async fn api(
    world: &World,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Reply {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let request = RequestSpec::post(path, text.as_bytes())
        .method(method)
        .header("authorization", format!("Bearer {token}"))
        .build();
    Reply::of(
        entitle_app::billing_api::router::handle_at(&world.billing_api, &request, UnixTime::now())
            .await,
    )
}

/// A usage-api call, as the product's server makes it: its API key, a JSON body.
pub async fn usage(world: &World, method: &str, path: &str, body: Option<Value>) -> Reply {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let request = RequestSpec::post(path, text.as_bytes())
        .method(method)
        .header(
            "authorization",
            format!("Bearer {}", crate::world::USAGE_API_KEY),
        )
        .build();
    Reply::of(
        entitle_app::usage_api::router::handle_at(&world.usage_api, &request, UnixTime::now())
            .await,
    )
}

/// Feeds everything waiting in the entitlement queue to the processor, ten at a time, deleting what it
/// handled. SNS delivers to SQS before `Publish` returns in the emulator, so an empty receive means done.
/// Returns the events' types. A record the processor hands back for a retry fails the demo: nothing in
/// this story should need one.
pub async fn pump(world: &World) -> Result<Vec<String>, String> {
    let mut types = Vec::new();
    loop {
        let messages = world
            .sqs
            .receive_message()
            .queue_url(&world.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "receiving from the entitlement queue: {}",
                    DisplayErrorContext(e)
                )
            })?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(types);
        }
        let records: Vec<Value> = messages.iter().map(|m| sqs_record(world, m)).collect();
        let reply = entitle_app::processor::handler::handle_at(
            &world.processor,
            json!({ "Records": records }),
            UnixTime::now(),
        )
        .await
        .map_err(|e| format!("entitlement-processor failed the whole batch: {e}"))?;
        let failed: HashSet<&str> = reply["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for message in &messages {
            let id = message.message_id().unwrap_or_default();
            if failed.contains(id) {
                continue;
            }
            types.push(event_type(message));
            if let Some(handle) = message.receipt_handle() {
                world
                    .sqs
                    .delete_message()
                    .queue_url(&world.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| {
                        format!("deleting a handled message: {}", DisplayErrorContext(e))
                    })?;
            }
        }
        if !failed.is_empty() {
            let which: Vec<String> = messages
                .iter()
                .filter(|m| failed.contains(m.message_id().unwrap_or_default()))
                .map(event_type)
                .collect();
            return Err(format!(
                "entitlement-processor asked for a retry of {} (run with RUST_LOG=info to see why)",
                which.join(", ")
            ));
        }
    }
}

/// What the processor dead-lettered since the last look: `(event type, reason)`.
pub async fn dead_letters(world: &World) -> Result<Vec<(String, String)>, String> {
    let messages = world
        .sqs
        .receive_message()
        .queue_url(&world.dead_letter_queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(|e| {
            format!(
                "receiving from the dead-letter queue: {}",
                DisplayErrorContext(e)
            )
        })?
        .messages
        .unwrap_or_default();
    Ok(messages
        .iter()
        .map(|m| {
            let reason = m
                .message_attributes()
                .and_then(|a| a.get("reason"))
                .and_then(|r| r.string_value())
                .unwrap_or("no reason given")
                .to_owned();
            (event_type(m), reason)
        })
        .collect())
}

fn event_type(message: &Message) -> String {
    message
        .body()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|b| b["type"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(not a billing event)".to_owned())
}

/// One record of the SQS event Lambda hands a function (`aws_lambda_events::sqs::SqsMessage`'s shape).
fn sqs_record(world: &World, message: &Message) -> Value {
    let attributes: Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), value.clone().into()))
        .collect();
    let message_attributes: Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({
                    "stringValue": value.string_value(),
                    "binaryValue": null,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.data_type(),
                }),
            )
        })
        .collect();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": world.queue_arn,
        "awsRegion": world.region,
    })
}
