//! `entitle customers import`, run as an operator runs it, against the local AWS (the template's customers
//! table) and the local Stripe and Clerk: Stripe customers made before Entitle, linked to their Clerk users
//! by metadata or by email.
use entitle_core::adapters::DynamoCustomerDirectory;
use entitle_core::stripe::StripeClient;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::CustomerDirectory;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Output};

struct World {
    stripe: FakeStripe,
    clerk: FakeClerk,
    client: StripeClient,
    customers: DynamoCustomerDirectory,
}

impl World {
    async fn new() -> Self {
        let stripe = FakeStripe::start();
        stripe.seed_price(
            json!({"id": "price_local_starter_monthly", "lookup_key": "starter_monthly",
            "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws::sdk_config().await);
        Self {
            client: StripeClient::new(
                SecretString::from(stripe.api_key.clone()),
                stripe.base_url.clone(),
            ),
            stripe,
            clerk: FakeClerk::start(),
            customers: DynamoCustomerDirectory::new(dynamodb, aws::env("CUSTOMERS_TABLE")),
        }
    }

    /// A Clerk user, with `email` as its primary address.
    fn clerk_user(&self, email: Option<&str>) -> SubjectId {
        let user = SubjectId::parse(unique_id("user_")).unwrap();
        self.clerk
            .create_user_with(json!({"id": user.as_str(), "email": email}));
        user
    }

    /// A Stripe customer made outside Entitle, with these form params (`email`, `metadata[userId]`, …).
    async fn stripe_customer(&self, params: &[(&str, String)]) -> StripeCustomerId {
        let made = self
            .client
            .post_form("/v1/customers", params, &unique_id("made-"))
            .await
            .unwrap();
        StripeCustomerId::parse(made["id"].as_str().unwrap()).unwrap()
    }

    fn metadata(&self, customer: &StripeCustomerId) -> Value {
        self.stripe
            .customers()
            .into_iter()
            .find(|c| c["id"] == customer.as_str())
            .unwrap()["metadata"]
            .clone()
    }

    async fn linked(&self, user: &SubjectId) -> Option<String> {
        self.customers
            .get(user)
            .await
            .unwrap()
            .and_then(|l| l.customer)
            .map(|c| c.to_string())
    }

    /// Stripe writes made so far (the import's only writes are customer updates).
    fn customer_updates(&self) -> usize {
        self.stripe
            .requests()
            .iter()
            .filter(|r| {
                r["method"] == "POST"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/v1/customers/"))
            })
            .count()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_entitle"))
            .args(["customers", "import"])
            .args(args)
            .env("STRIPE_SECRET_KEY", &self.stripe.api_key)
            .env("STRIPE_API_BASE", &self.stripe.base_url)
            .env("CLERK_SECRET_KEY", &self.clerk.secret_key)
            .env("CLERK_API_BASE", &self.clerk.base_url)
            .output()
            .expect("the entitle binary runs")
    }

    fn import(&self, args: &[&str]) -> (i32, Value) {
        let output = self.run(&[args, &["--json"]].concat());
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
        (output.status.code().expect("an exit code"), report)
    }
}

/// customer id → (outcome, metadata keys written or to write).
fn outcomes(report: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    report["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let keys = c["metadata"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            (
                c["customer"].as_str().unwrap().to_owned(),
                (c["outcome"].as_str().unwrap().to_owned(), keys),
            )
        })
        .collect()
}

fn outcome(report: &Value, customer: &StripeCustomerId) -> String {
    outcomes(report)[customer.as_str()].0.clone()
}

fn reason(report: &Value, customer: &StripeCustomerId) -> String {
    report["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"] == customer.as_str())
        .unwrap()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn import_links_by_metadata_and_by_email_reports_conflicts_and_a_second_apply_changes_nothing(
) {
    let world = World::new().await;
    let by_metadata = world.clerk_user(None);
    let metadata_customer = world
        .stripe_customer(&[("metadata[userId]", by_metadata.to_string())])
        .await;
    let email = format!("{}@example.com", unique_id("buyer-"));
    let by_email = world.clerk_user(Some(&email));
    let email_customer = world.stripe_customer(&[("email", email.clone())]).await;
    let nobody = world
        .stripe_customer(&[("email", "nobody@example.com".into())])
        .await;
    // Two customers name one user: the one with a live subscription wins, though it is older.
    let twice = world.clerk_user(None);
    let subscribed = world
        .stripe_customer(&[("metadata[userId]", twice.to_string())])
        .await;
    world
        .stripe
        .seed_subscription(json!({"customer": subscribed.as_str(),
        "price": "price_local_starter_monthly", "status": "active"}));
    let newer = world
        .stripe_customer(&[("metadata[clerkUserId]", twice.to_string())])
        .await;
    // A user Entitle already linked to another customer.
    let taken = world.clerk_user(None);
    world
        .customers
        .link(
            &taken,
            &StripeCustomerId::parse(unique_id("cus_")).unwrap(),
            UnixTime::now(),
        )
        .await
        .unwrap();
    let taken_customer = world
        .stripe_customer(&[("metadata[userId]", taken.to_string())])
        .await;
    let writes = world.customer_updates();

    // A dry run: exit 3, nothing written.
    let (code, report) = world.import(&[]);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["apply"], false);
    assert_eq!(outcome(&report, &metadata_customer), "would_link");
    assert_eq!(
        outcomes(&report)[metadata_customer.as_str()].1,
        ["clerkUserId"],
        "userId is there already"
    );
    assert_eq!(outcome(&report, &email_customer), "no_match");
    assert_eq!(outcome(&report, &nobody), "no_match");
    assert_eq!(outcome(&report, &subscribed), "would_link");
    assert_eq!(outcome(&report, &newer), "conflict");
    assert!(
        reason(&report, &newer)
            .contains(&format!("{subscribed} wins (it has a live subscription)")),
        "{report}"
    );
    assert_eq!(outcome(&report, &taken_customer), "conflict");
    assert!(reason(&report, &taken_customer).contains("already linked to cus_"));
    assert_eq!(world.linked(&by_metadata).await, None);
    assert_eq!(world.linked(&twice).await, None);
    assert_eq!(world.customer_updates(), writes);
    assert!(world.metadata(&metadata_customer)["clerkUserId"].is_null());

    // Apply: the links and the missing metadata are written.
    let (code, report) = world.import(&["--apply"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(outcome(&report, &metadata_customer), "linked");
    assert_eq!(outcome(&report, &subscribed), "linked");
    assert_eq!(outcome(&report, &newer), "conflict");
    assert_eq!(outcome(&report, &taken_customer), "conflict");
    assert_eq!(
        world.linked(&by_metadata).await.as_deref(),
        Some(metadata_customer.as_str())
    );
    assert_eq!(
        world.linked(&twice).await.as_deref(),
        Some(subscribed.as_str())
    );
    assert_ne!(
        world.linked(&taken).await.as_deref(),
        Some(taken_customer.as_str()),
        "an existing link is never re-pointed"
    );
    let metadata = world.metadata(&metadata_customer);
    assert_eq!(
        (&metadata["userId"], &metadata["clerkUserId"]),
        (&json!(by_metadata.as_str()), &json!(by_metadata.as_str()))
    );
    assert!(
        world.metadata(&newer)["userId"].is_null(),
        "a loser is left alone"
    );
    let after_apply = world.customer_updates();
    assert_eq!(
        after_apply,
        writes + 2,
        "one metadata write per linked customer"
    );

    // A second apply changes nothing.
    let (code, report) = world.import(&["--apply"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(outcome(&report, &metadata_customer), "already_linked");
    assert_eq!(outcome(&report, &subscribed), "already_linked");
    assert!(outcomes(&report)
        .values()
        .all(|(o, keys)| o != "linked" && keys.is_empty()));
    assert_eq!(report["summary"]["linked"], Value::Null);
    assert_eq!(world.customer_updates(), after_apply);
    let (code, _) = world.import(&[]);
    assert_eq!(code, 0, "a dry run after the import finds nothing to do");

    // By email: the customer whose email is a Clerk user's primary email. For people, one line each.
    let human = world.run(&["--by", "email"]);
    assert_eq!(human.status.code(), Some(3));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!(
            "{email_customer} → {by_email}: would link; would write metadata userId={by_email}, clerkUserId={by_email}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{nobody} → -: no match: no Clerk user has the primary email nobody@example.com"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "1 to link, 0 already linked, 0 conflicts, 5 no match (a dry run: --apply writes)"
        ),
        "{text}"
    );
    let (code, report) = world.import(&["--by", "email"]);
    assert_eq!(code, 3, "{report}");
    assert_eq!(outcome(&report, &email_customer), "would_link");
    assert_eq!(outcome(&report, &nobody), "no_match");
    assert!(reason(&report, &nobody).contains("no Clerk user has the primary email"));
    let (code, report) = world.import(&["--by", "email", "--apply"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(outcome(&report, &email_customer), "linked");
    assert_eq!(
        world.linked(&by_email).await.as_deref(),
        Some(email_customer.as_str())
    );
    assert_eq!(world.metadata(&email_customer)["userId"], by_email.as_str());
    let (code, report) = world.import(&["--by", "email", "--apply"]);
    assert_eq!(code, 0);
    assert_eq!(outcome(&report, &email_customer), "already_linked");
}

#[test]
fn a_bad_by_is_bad_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(["customers", "import", "--by", "phone"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
