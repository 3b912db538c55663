//! `entitle user erase`, run as an operator runs it for a deleted user: against the local AWS (the template's
//! customers and idempotency tables) and the local Stripe stand-in.
use aws_sdk_dynamodb::types::AttributeValue;
use entitle_core::stripe::StripeClient;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Command, Output};

type Item = HashMap<String, AttributeValue>;

fn entitle(stripe: &FakeStripe, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(args)
        .env("STRIPE_SECRET_KEY", &stripe.api_key)
        .env("STRIPE_API_BASE", &stripe.base_url)
        .output()
        .expect("the entitle binary runs")
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct Tables {
    dynamodb: aws_sdk_dynamodb::Client,
    customers: String,
    idempotency: String,
}

impl Tables {
    async fn new() -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&aws::sdk_config().await),
            customers: aws::env("CUSTOMERS_TABLE"),
            idempotency: aws::env("IDEMPOTENCY_TABLE"),
        }
    }

    async fn put(&self, table: &str, item: &[(&str, AttributeValue)]) {
        let mut put = self.dynamodb.put_item().table_name(table);
        for (name, value) in item {
            put = put.item(*name, value.clone());
        }
        put.send().await.unwrap();
    }

    async fn get(&self, table: &str, key: (&str, &str)) -> Item {
        self.dynamodb
            .get_item()
            .table_name(table)
            .key(key.0, s(key.1))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the item exists")
    }

    /// A completed webhook record with `payload`, as the webhook pipeline leaves it.
    async fn record(&self, pk: &str, event_type: &str, payload: &Value) {
        self.put(
            &self.idempotency,
            &[
                ("pk", s(pk)),
                ("status", s("completed")),
                ("eventType", s(event_type)),
                ("payload", s(&payload.to_string())),
                ("claimedAt", n(1_765_000_000)),
                ("completedAt", n(1_765_000_001)),
                ("expiresAt", n(1_767_592_001)),
            ],
        )
        .await;
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

#[tokio::test]
async fn erase_plans_then_removes_the_users_personal_data_keeps_the_link_and_is_idempotent() {
    let stripe = FakeStripe::start();
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let tables = Tables::new().await;
    let user = unique_id("user_erase");
    // Another user whose id starts with this one's: none of their data is touched.
    let neighbour = format!("{user}x");
    let customer = client
        .post_form(
            "/v1/customers",
            &[
                ("email", "ada@example.com".to_owned()),
                ("name", "Ada Lovelace".to_owned()),
                ("metadata[clerkUserId]", user.clone()),
            ],
            &format!("erase-customer-{user}"),
        )
        .await
        .unwrap();
    let customer = customer["id"].as_str().unwrap().to_owned();
    tables
        .put(
            &tables.customers,
            &[
                ("userId", s(&user)),
                ("status", s("linked")),
                ("stripeCustomerId", s(&customer)),
                ("email", s("ada@example.com")),
                ("name", s("Ada Lovelace")),
                ("createdAt", n(1_765_000_000)),
                ("linkedAt", n(1_765_000_001)),
                ("deletedAt", n(1_765_100_000)),
            ],
        )
        .await;
    let clerk_pk = unique_id("clerk#msg_");
    let deleted_pk = unique_id("clerk#msg_");
    let stripe_pk = unique_id("stripe#evt_");
    let other_pk = unique_id("clerk#msg_");
    tables
        .record(
            &clerk_pk,
            "user.created",
            &json!({"type": "user.created", "data": {"id": user, "first_name": "Ada", "last_name": "Lovelace",
                "email_addresses": [{"email_address": "ada@example.com"}]}}),
        )
        .await;
    tables
        .record(
            &deleted_pk,
            "user.deleted",
            &json!({"type": "user.deleted", "data": {"id": user, "deleted": true}}),
        )
        .await;
    tables
        .record(
            &stripe_pk,
            "invoice.paid",
            &json!({"type": "invoice.paid", "data": {"object": {"object": "invoice", "customer": customer,
                "customer_email": "ada@example.com", "customer_name": "Ada Lovelace"}}}),
        )
        .await;
    tables
        .record(
            &other_pk,
            "user.created",
            &json!({"type": "user.created", "data": {"id": neighbour,
                "email_addresses": [{"email_address": "grace@example.com"}]}}),
        )
        .await;

    // The plan: what it would remove and keep; nothing changes.
    let dry = entitle(&stripe, &["user", "erase", &user, "--stripe"]);
    let text_out = report(&dry);
    assert_eq!(dry.status.code(), Some(3), "{text_out}");
    assert!(
        text_out.contains("would  remove email, name from the customers row"),
        "{text_out}"
    );
    assert!(
        text_out.contains("would  remove the raw payload of 3 webhook records"),
        "{text_out}"
    );
    for pk in [&clerk_pk, &deleted_pk, &stripe_pk] {
        assert!(text_out.contains(pk.as_str()), "{pk}: {text_out}");
    }
    assert!(!text_out.contains(&other_pk), "{text_out}");
    assert!(
        text_out.contains(&format!(
            "would  clear the name and email of Stripe customer {customer}"
        )),
        "{text_out}"
    );
    assert!(text_out.contains("kept:"), "{text_out}");
    let row = tables.get(&tables.customers, ("userId", &user)).await;
    assert_eq!(text(&row, "email"), Some("ada@example.com"));
    let json_plan = entitle(&stripe, &["user", "erase", &user, "--json"]);
    let plan: Value = serde_json::from_slice(&json_plan.stdout).unwrap();
    assert_eq!(plan["customersRow"]["remove"], json!(["email", "name"]));
    assert_eq!(plan["payloads"].as_array().unwrap().len(), 3);
    assert_eq!(plan["stripe"], Value::Null, "not asked");

    // Applied.
    let applied = entitle(&stripe, &["user", "erase", &user, "--apply", "--stripe"]);
    let text_out = report(&applied);
    assert_eq!(applied.status.code(), Some(0), "{text_out}");
    let row = tables.get(&tables.customers, ("userId", &user)).await;
    assert_eq!(text(&row, "email"), None, "{row:?}");
    assert_eq!(text(&row, "name"), None, "{row:?}");
    assert_eq!(
        text(&row, "stripeCustomerId"),
        Some(customer.as_str()),
        "the link is kept"
    );
    assert_eq!(text(&row, "status"), Some("linked"));
    assert!(row.contains_key("deletedAt") && row.contains_key("erasedAt"));
    assert_eq!(row["erasedPayloads"].as_n().unwrap(), "3");
    for pk in [&clerk_pk, &deleted_pk, &stripe_pk] {
        let record = tables.get(&tables.idempotency, ("pk", pk)).await;
        assert!(!record.contains_key("payload"), "{pk}: {record:?}");
        assert_eq!(
            text(&record, "status"),
            Some("completed"),
            "the record still de-duplicates"
        );
        assert!(record.contains_key("payloadErasedAt") && record.contains_key("expiresAt"));
    }
    let other = tables.get(&tables.idempotency, ("pk", &other_pk)).await;
    assert!(
        text(&other, "payload").is_some_and(|p| p.contains("grace@example.com")),
        "another user's record is untouched"
    );
    let in_stripe = client
        .get(&format!("/v1/customers/{customer}"))
        .await
        .unwrap();
    assert_eq!(in_stripe["email"], Value::Null, "{in_stripe}");
    assert_eq!(in_stripe["name"], Value::Null, "{in_stripe}");
    assert_eq!(in_stripe["metadata"]["clerkUserId"], user.as_str());
    // The record of what was done names ids and counts, never the erased values.
    let stderr = String::from_utf8_lossy(&applied.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("\"erasure\""))
        .expect("an erasure record");
    let record: Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["erasure"]["userId"], user.as_str());
    assert_eq!(
        record["erasure"]["payloadsRemoved"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        !text_out.contains("ada@example.com") && !text_out.contains("Lovelace"),
        "{text_out}"
    );

    // Twice is fine: nothing left to erase.
    let again = entitle(&stripe, &["user", "erase", &user, "--apply", "--stripe"]);
    assert_eq!(again.status.code(), Some(0), "{}", report(&again));
    assert!(
        report(&again).contains("nothing to erase"),
        "{}",
        report(&again)
    );
    let check = entitle(&stripe, &["user", "erase", &user, "--stripe"]);
    assert_eq!(check.status.code(), Some(0), "{}", report(&check));
}

#[tokio::test]
async fn a_user_entitle_never_linked_has_only_payloads_to_erase_and_bad_ids_are_bad_usage() {
    let stripe = FakeStripe::start();
    let tables = Tables::new().await;
    let user = unique_id("user_unlinked");
    let pk = unique_id("clerk#msg_");
    tables
        .record(
            &pk,
            "user.created",
            &json!({"type": "user.created", "data": {"id": user, "first_name": "Alan"}}),
        )
        .await;
    let applied = entitle(&stripe, &["user", "erase", &user, "--apply", "--stripe"]);
    assert_eq!(applied.status.code(), Some(0), "{}", report(&applied));
    let record = tables.get(&tables.idempotency, ("pk", &pk)).await;
    assert!(!record.contains_key("payload"), "{record:?}");
    let missing = tables
        .dynamodb
        .get_item()
        .table_name(&tables.customers)
        .key("userId", s(&user))
        .send()
        .await
        .unwrap();
    assert!(missing.item.is_none(), "no customers row is made");

    let bad = entitle(&stripe, &["user", "erase", "cus_not_a_user"]);
    assert_eq!(bad.status.code(), Some(2), "{}", report(&bad));
}

#[tokio::test]
async fn a_second_erase_clears_what_stripe_got_again_since_the_first() {
    let stripe = FakeStripe::start();
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let tables = Tables::new().await;
    let user = unique_id("user_erase_again");
    let customer = client
        .post_form(
            "/v1/customers",
            &[
                ("email", "ada@example.com".to_owned()),
                ("name", "Ada Lovelace".to_owned()),
            ],
            &format!("erase-again-customer-{user}"),
        )
        .await
        .unwrap();
    let customer = customer["id"].as_str().unwrap().to_owned();
    tables
        .put(
            &tables.customers,
            &[
                ("userId", s(&user)),
                ("status", s("linked")),
                ("stripeCustomerId", s(&customer)),
                ("createdAt", n(1_765_000_000)),
            ],
        )
        .await;
    let first = entitle(&stripe, &["user", "erase", &user, "--apply", "--stripe"]);
    assert_eq!(first.status.code(), Some(0), "{}", report(&first));
    let path = format!("/v1/customers/{customer}");
    assert_eq!(client.get(&path).await.unwrap()["email"], Value::Null);

    // The user was not deleted in Clerk: a later user.updated writes the profile to Stripe again.
    client
        .post_form(
            &path,
            &[
                ("email", "ada@example.com".to_owned()),
                ("name", "Ada Lovelace".to_owned()),
            ],
            &unique_id("profile-again-"),
        )
        .await
        .unwrap();
    let second = entitle(&stripe, &["user", "erase", &user, "--apply", "--stripe"]);
    let text_out = report(&second);
    assert_eq!(second.status.code(), Some(0), "{text_out}");
    assert!(
        text_out.contains(&format!(
            "done  clear the name and email of Stripe customer {customer}"
        )),
        "{text_out}"
    );
    let in_stripe = client.get(&path).await.unwrap();
    assert_eq!(in_stripe["email"], Value::Null, "{in_stripe}");
    assert_eq!(in_stripe["name"], Value::Null, "{in_stripe}");
}
