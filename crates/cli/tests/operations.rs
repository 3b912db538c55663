//! `entitle reconcile` and `entitle dlq`, run as an operator runs them, against the local AWS (the
//! template's tables and topic, a queue of the test's own as the DLQ) and the local Stripe and Clerk.
use entitle_core::adapters::{DynamoCustomerDirectory, DynamoEntitlements, SqsDeadLetters};
use entitle_core::stripe::StripeClient;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{CustomerDirectory, DeadLetters, EntitlementStore, StripeCustomers};
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::json;
use std::process::{Command, Output};

struct World {
    stripe: FakeStripe,
    clerk: FakeClerk,
    client: StripeClient,
    store: DynamoEntitlements,
    customers: DynamoCustomerDirectory,
    sqs: aws_sdk_sqs::Client,
    dlq: String,
}

impl World {
    async fn new() -> Self {
        let stripe = FakeStripe::start();
        stripe.seed_price(
            json!({"id": "price_local_starter_monthly", "lookup_key": "starter_monthly",
            "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}),
        );
        stripe.seed_price(
            json!({"id": "price_local_pro_monthly", "lookup_key": "pro_monthly",
            "unit_amount": 19900, "currency": "usd", "recurring": {"interval": "month"}}),
        );
        let config = aws::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let dlq = sqs
            .create_queue()
            .queue_name(unique_id("cli-dlq-"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Self {
            client: StripeClient::new(
                SecretString::from(stripe.api_key.clone()),
                stripe.base_url.clone(),
            ),
            stripe,
            clerk: FakeClerk::start(),
            store: DynamoEntitlements::new(dynamodb.clone(), aws::env("ENTITLEMENTS_TABLE")),
            customers: DynamoCustomerDirectory::new(dynamodb, aws::env("CUSTOMERS_TABLE")),
            sqs,
            dlq,
        }
    }

    fn entitle(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_entitle"))
            .args(args)
            .env_remove("PLAN_CATALOG")
            // Unpaced, so that a fan-out's messages can be drained at once (pacing has its own tests).
            .env("RECONCILE_USERS_PER_SECOND", "0")
            .env("STRIPE_SECRET_KEY", &self.stripe.api_key)
            .env("STRIPE_API_BASE", &self.stripe.base_url)
            .env("CLERK_SECRET_KEY", &self.clerk.secret_key)
            .env("CLERK_API_BASE", &self.clerk.base_url)
            .env("DEAD_LETTER_QUEUE_URL", &self.dlq)
            .output()
            .expect("the entitle binary runs")
    }

    /// A Clerk user with a customer in Stripe: made by Entitle and linked, or made elsewhere and unlinked.
    async fn user(&self, linked: bool) -> (SubjectId, StripeCustomerId) {
        let user = SubjectId::parse(unique_id("user_")).unwrap();
        self.clerk.create_user(user.as_str());
        let customer = if linked {
            self.client
                .create_customer(&user, &unique_id("create-"))
                .await
                .unwrap()
        } else {
            // Made outside Entitle: no `clerkUserId` in its metadata, so nothing names its user.
            let made = self
                .client
                .post_form("/v1/customers", &[], &unique_id("bare-"))
                .await
                .unwrap();
            StripeCustomerId::parse(made["id"].as_str().unwrap()).unwrap()
        };
        if linked {
            self.customers
                .link(&user, &customer, UnixTime::now())
                .await
                .unwrap();
        }
        (user, customer)
    }

    fn subscribe(&self, customer: &StripeCustomerId, price: &str) -> String {
        let sub = self.stripe.seed_subscription(
            json!({"customer": customer.as_str(), "price": price, "status": "active"}),
        );
        sub["id"].as_str().unwrap().to_owned()
    }

    async fn plan(&self, user: &SubjectId) -> Option<String> {
        self.store
            .load(user)
            .await
            .unwrap()
            .map(|s| s.entitlements.plan)
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn reconcile_recomputes_a_user_from_stripe_and_mirrors_it_to_clerk() {
    let world = World::new().await;
    let (user, customer) = world.user(true).await;
    world.subscribe(&customer, "price_local_pro_monthly");
    assert_eq!(world.plan(&user).await, None, "nothing processed yet");

    let out = world.entitle(&["reconcile", user.as_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("[1/1] {user}: professional (active)")),
        "{}",
        text(&out)
    );
    assert_eq!(world.plan(&user).await.as_deref(), Some("professional"));
    assert_eq!(
        world.clerk.user(user.as_str()).unwrap()["public_metadata"]["billing"]["plan"],
        "professional"
    );

    let json = world.entitle(&["reconcile", user.as_str(), "--json"]);
    let line: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (line["userId"].as_str(), line["plan"].as_str()),
        (Some(user.as_str()), Some("professional"))
    );

    // What usage-api would answer for them: the plan's limits, nothing used yet.
    let usage = world.entitle(&["usage", user.as_str()]);
    assert_eq!(usage.status.code(), Some(0), "{}", text(&usage));
    let table = text(&usage);
    assert!(
        table.contains(&format!("{user}  plan professional")),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("messages_per_day"))
        .expect("a row per limit");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..6],
        ["messages_per_day", "metered", "0", "0", "10000", "10000"],
        "{row}"
    );
    let json = world.entitle(&["usage", user.as_str(), "--json"]);
    let picture: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(picture["plan"], "professional");

    // A malformed USER_ID is bad usage (2), refused before anything is read.
    let bad = world.entitle(&["reconcile", "not-a-user"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let usage = world.entitle(&["reconcile", user.as_str(), "--all"]);
    assert_eq!(usage.status.code(), Some(2), "a user and --all: bad usage");
}

#[tokio::test]
async fn redrive_applies_a_fixed_event_once_removes_it_and_leaves_what_still_fails() {
    let world = World::new().await;
    // An event about a customer nobody is linked to: dead-lettered ("no user for customer").
    let (user, customer) = world.user(false).await;
    let sub = world.subscribe(&customer, "price_local_starter_monthly");
    let event = json!({"schemaVersion": 1, "id": unique_id("evt_"), "source": "stripe", "type": "subscription.created",
        "occurredAt": UnixTime::now().to_rfc3339(), "stripeCustomerId": customer.as_str(),
        "data": {"subscriptionId": sub}}).to_string();
    let letters = SqsDeadLetters::new(world.sqs.clone(), world.dlq.clone());
    letters
        .dead_letter(&event, &format!("no user for customer {customer}"))
        .await
        .unwrap();
    letters
        .dead_letter("{not json", "not a billing event")
        .await
        .unwrap();

    let list = world.entitle(&["dlq", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert!(
        text(&list).contains(&format!(
            "subscription.created  no user for customer {customer}"
        )),
        "{}",
        text(&list)
    );
    assert!(text(&list).contains("2 dead-lettered events"));

    // Not fixed yet: nothing applies, nothing is removed.
    let early = world.entitle(&["dlq", "redrive"]);
    assert_eq!(early.status.code(), Some(1));
    assert!(
        text(&early).contains("0 applied and removed, 2 still failing"),
        "{}",
        text(&early)
    );

    // The cause fixed: the customer linked to its user.
    world
        .customers
        .link(&user, &customer, UnixTime::now())
        .await
        .unwrap();
    let redrive = world.entitle(&["dlq", "redrive"]);
    assert_eq!(
        redrive.status.code(),
        Some(1),
        "the poison still fails: {}",
        text(&redrive)
    );
    assert!(
        text(&redrive).contains("1 applied and removed, 1 still failing"),
        "{}",
        text(&redrive)
    );
    assert_eq!(world.plan(&user).await.as_deref(), Some("starter"));

    let again = world.entitle(&["dlq", "redrive", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&again.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the poison is left: {lines:?}");
    assert_eq!(lines[0]["applied"], false);
    let left = aws::drain(&world.sqs, &world.dlq).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body(), Some("{not json"));
}

#[tokio::test]
async fn customer_sync_makes_the_missing_customer_and_writes_the_clerk_profile_again() {
    let world = World::new().await;
    let user = unique_id("user_");
    world
        .clerk
        .create_user_with(json!({"id": user, "email": "ada@example.com",
        "first_name": "Ada", "last_name": "Lovelace"}));
    let first = world.entitle(&["customer", "sync", &user, "--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let line: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(line["created"], true);
    let customer = line["stripeCustomerId"].as_str().unwrap().to_owned();
    let mine: Vec<_> = world
        .stripe
        .customers()
        .into_iter()
        .filter(|c| c["metadata"]["clerkUserId"] == user.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (
            mine[0]["id"].as_str(),
            mine[0]["email"].as_str(),
            mine[0]["name"].as_str()
        ),
        (
            Some(customer.as_str()),
            Some("ada@example.com"),
            Some("Ada Lovelace")
        )
    );
    let linked = world
        .customers
        .get(&SubjectId::parse(&user).unwrap())
        .await
        .unwrap()
        .and_then(|l| l.customer);
    assert_eq!(linked.as_ref().map(|c| c.as_str()), Some(customer.as_str()));

    // Again: the same customer, no second one.
    let again = world.entitle(&["customer", "sync", &user]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains(&format!(
            "→ {customer} (existing): email ada@example.com, name Ada Lovelace"
        )),
        "{}",
        text(&again)
    );
    assert_eq!(
        world
            .stripe
            .customers()
            .iter()
            .filter(|c| c["metadata"]["clerkUserId"] == user.as_str())
            .count(),
        1
    );
    let unknown = world.entitle(&["customer", "sync", "user_2NoSuchUserAnywhere00000"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
}

#[tokio::test]
async fn reconcile_all_fan_out_queues_the_first_page_for_the_processor() {
    let world = World::new().await;
    let (user, _) = world.user(true).await;
    let out = world.entitle(&["reconcile", "--all", "--fan-out", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(page["queued"].as_u64().unwrap() >= 1, "{page}");
    let queue = entitle_test_support::aws::env("ENTITLEMENT_QUEUE_URL");
    let messages = entitle_test_support::aws::drain(&world.sqs, &queue).await;
    let bodies: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .filter(|v: &serde_json::Value| v["data"]["run"] == page["run"])
        .collect();
    let users = bodies
        .iter()
        .filter(|v| v["type"] == "reconcile.requested")
        .count() as u64;
    assert_eq!(users, page["queued"].as_u64().unwrap());
    assert_eq!(
        bodies.iter().any(|v| v["type"] == "reconcile.page"),
        page["done"] == false
    );
    let ours = bodies.iter().any(|v| v["userId"] == user.as_str());
    // Our user is on the first page, or on a later one the processor will walk.
    assert!(ours || page["done"] == false);
    let bad = world.entitle(&["reconcile", "--fan-out"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "--fan-out without --all: bad usage"
    );
}

#[tokio::test]
async fn explain_and_history_say_where_a_reconciled_users_numbers_come_from() {
    let world = World::new().await;
    let (user, customer) = world.user(true).await;
    let sub = world.subscribe(&customer, "price_local_pro_monthly");
    let out = world.entitle(&["reconcile", user.as_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let explained = world.entitle(&["explain", user.as_str(), "agents"]);
    assert_eq!(explained.status.code(), Some(0), "{}", text(&explained));
    let shown = String::from_utf8_lossy(&explained.stdout).into_owned();
    assert!(shown.contains("version 1"), "{shown}");
    // The term names the subscription, its item (si_…) and the price's lookup key.
    assert!(
        shown.contains(&format!("agents 10 = professional 10 ({sub}, si_")),
        "{shown}"
    );
    assert!(shown.contains(", pro_monthly)"), "{shown}");
    assert!(shown.contains(&format!("item: {sub} si_")), "{shown}");
    assert!(
        !shown.contains("messages_per_day"),
        "only the feature asked: {shown}"
    );
    assert!(
        shown.contains("→ professional"),
        "the Stripe item it came from: {shown}"
    );

    let before = world.entitle(&["explain", user.as_str(), "--at", "2020-01-01T00:00:00Z"]);
    assert!(String::from_utf8_lossy(&before.stdout).contains("no version yet"));

    let history = world.entitle(&["history", user.as_str(), "--json"]);
    assert_eq!(history.status.code(), Some(0), "{}", text(&history));
    let answer: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let versions = answer["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0]["provenance"]["reasons"],
        json!(["plan_changed"])
    );
    // A reconcile has no prompting event.
    assert_eq!(versions[0]["provenance"]["cause"], serde_json::Value::Null);

    let bad = world.entitle(&["history", user.as_str(), "--from", "last week"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
}
