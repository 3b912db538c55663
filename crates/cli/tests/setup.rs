//! `entitle setup`, run as an operator runs it after the first deploy: against the local AWS (the stack's
//! secrets, created empty as the template creates them) and the local Stripe stand-in.
use entitle_core::stripe::client::STRIPE_VERSION;
use entitle_core::stripe::events::HANDLED_STRIPE_TYPES;
use entitle_core::stripe::StripeClient;
use entitle_test_support::aws;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Output};

const STRIPE_WEBHOOK_URL: &str =
    "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/stripe";
const CLERK_WEBHOOK_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/clerk";

struct Stack {
    secrets: aws_sdk_secretsmanager::Client,
    stripe_webhook: String,
    stripe_key: String,
    clerk_key: String,
    clerk_webhook: String,
}

impl Stack {
    /// The stack's four secrets as the template creates them: `{"key": ""}`.
    async fn new() -> Self {
        let secrets = aws_sdk_secretsmanager::Client::new(&aws::sdk_config().await);
        let mut arns = Vec::new();
        for name in [
            "stripe-webhook-secret",
            "stripe-secret-key",
            "clerk-secret-key",
            "clerk-webhook-secret",
        ] {
            let arn =
                aws::create_secret(&format!("entitle-setup-test/{name}-"), r#"{"key": ""}"#).await;
            arns.push(arn);
        }
        let [stripe_webhook, stripe_key, clerk_key, clerk_webhook] = arns.try_into().unwrap();
        Self {
            secrets,
            stripe_webhook,
            stripe_key,
            clerk_key,
            clerk_webhook,
        }
    }

    async fn value(&self, arn: &str) -> String {
        let text = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .unwrap()
            .secret_string
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn entitle(&self, stripe: &FakeStripe, args: &[&str]) -> Output {
        self.entitle_with(stripe, args, &[])
    }

    /// `entitle` with the environment of [`Stack::entitle`], `vars` set over it.
    fn entitle_with(&self, stripe: &FakeStripe, args: &[&str], vars: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_entitle"))
            .args(args)
            .env_remove("STRIPE_SETUP_KEY")
            .env_remove("PLAN_CATALOG")
            .env("STRIPE_SECRET_KEY", &stripe.api_key)
            .env("STRIPE_API_BASE", &stripe.base_url)
            .env("CLERK_SECRET_KEY", "sk_test_clerk_for_setup")
            .env("STRIPE_WEBHOOK_URL", STRIPE_WEBHOOK_URL)
            .env("CLERK_WEBHOOK_URL", CLERK_WEBHOOK_URL)
            .env("STRIPE_WEBHOOK_SECRET_ARN", &self.stripe_webhook)
            .env("STRIPE_SECRET_KEY_ARN", &self.stripe_key)
            .env("CLERK_SECRET_KEY_ARN", &self.clerk_key)
            .env("CLERK_WEBHOOK_SECRET_ARN", &self.clerk_webhook)
            .envs(vars.iter().copied())
            .output()
            .expect("the entitle binary runs")
    }
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn stripe_get(stripe: &FakeStripe, path: &str) -> Value {
    StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    )
    .get(path)
    .await
    .unwrap()
}

#[tokio::test]
async fn setup_is_a_dry_run_first_then_registers_the_webhook_stores_the_secrets_and_configures_the_portal_once(
) {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    // The catalog goes to Stripe first (setup names its prices in the portal).
    let catalog = stack.entitle(&stripe, &["catalog", "apply", "--yes"]);
    assert_eq!(catalog.status.code(), Some(0), "{}", report(&catalog));

    let dry = stack.entitle(&stripe, &["setup", "--dry-run"]);
    let text = report(&dry);
    assert_eq!(
        dry.status.code(),
        Some(3),
        "a dry run with changes exits 3: {text}"
    );
    assert!(
        text.contains(&format!(
            "would  register the Stripe webhook endpoint {STRIPE_WEBHOOK_URL}"
        )),
        "{text}"
    );
    assert!(text.contains("would  store STRIPE_SECRET_KEY"), "{text}");
    assert!(text.contains("billing portal configuration"), "{text}");
    assert!(
        text.contains(CLERK_WEBHOOK_URL)
            && text.contains("user.created, user.updated, user.deleted"),
        "{text}"
    );
    assert!(text.contains("{{user.public_metadata.billing}}"), "{text}");
    // Nothing changed.
    assert_eq!(
        stripe_get(&stripe, "/v1/webhook_endpoints").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(stack.value(&stack.stripe_webhook).await, "");
    assert_eq!(stack.value(&stack.stripe_key).await, "");

    let applied = stack.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(applied.status.code(), Some(0), "{}", report(&applied));
    let endpoints = stripe_get(&stripe, "/v1/webhook_endpoints").await;
    let endpoints = endpoints["data"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["url"], STRIPE_WEBHOOK_URL);
    let events: BTreeSet<&str> = endpoints[0]["enabled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events, HANDLED_STRIPE_TYPES.iter().copied().collect());
    assert!(stack
        .value(&stack.stripe_webhook)
        .await
        .starts_with("whsec_"));
    assert_eq!(stack.value(&stack.stripe_key).await, stripe.api_key);
    assert_eq!(
        stack.value(&stack.clerk_key).await,
        "sk_test_clerk_for_setup"
    );
    assert_eq!(
        stack.value(&stack.clerk_webhook).await,
        "",
        "no CLERK_WEBHOOK_SECRET given"
    );

    // Entitle's own portal configuration (a fresh account has no default, and setup never makes or rewrites
    // it) offers the self-serve plans, by their prices.
    let configs = stripe_get(&stripe, "/v1/billing_portal/configurations").await;
    assert_eq!(configs["data"].as_array().unwrap().len(), 1);
    let config = &configs["data"][0];
    assert_eq!(config["is_default"], false);
    assert_eq!(config["metadata"]["entitle"], "setup");
    assert_eq!(
        config["features"]["subscription_cancel"]["mode"],
        "at_period_end"
    );
    let offered: BTreeSet<String> = config["features"]["subscription_update"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["prices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
        })
        .collect();
    let mut wanted = BTreeSet::new();
    for lookup_key in ["starter_monthly", "pro_monthly"] {
        let found = stripe_get(&stripe, &format!("/v1/prices?lookup_keys[]={lookup_key}")).await;
        wanted.insert(found["data"][0]["id"].as_str().unwrap().to_owned());
    }
    assert!(wanted.is_subset(&offered), "{offered:?} lacks {wanted:?}");

    // Idempotent: a second run changes nothing, and its dry run exits 0.
    let secret = stack.value(&stack.stripe_webhook).await;
    let again = stack.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(again.status.code(), Some(0), "{}", report(&again));
    assert!(
        report(&again).contains("nothing to change"),
        "{}",
        report(&again)
    );
    let check = stack.entitle(&stripe, &["setup"]);
    assert_eq!(check.status.code(), Some(0), "{}", report(&check));
    assert_eq!(
        stripe_get(&stripe, "/v1/webhook_endpoints").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(stack.value(&stack.stripe_webhook).await, secret);
}

#[tokio::test]
async fn an_endpoint_whose_secret_was_lost_is_reported_with_what_to_do() {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        stack.entitle(&stripe, &["setup", "--apply"]).status.code(),
        Some(0)
    );
    // The stack was deleted and deployed again: a new, empty secret, the old endpoint still in Stripe.
    let fresh = Stack::new().await;
    let out = fresh.entitle(&stripe, &["setup", "--apply"]);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("its signing secret is not in") && text.contains("put-secret-value"),
        "{text}"
    );
    // Its own advice: delete the endpoint and run setup again — a new attempt, a new endpoint and secret
    // (not a replay of the deleted endpoint's creation, whose secret is dead).
    let endpoints = stripe_get(&stripe, "/v1/webhook_endpoints").await;
    let old = endpoints["data"][0]["id"].as_str().unwrap().to_owned();
    StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    )
    .delete(
        &format!("/v1/webhook_endpoints/{old}"),
        "delete-old-endpoint",
    )
    .await
    .unwrap();
    // Stripe keys are per second: the rerun is a later attempt, as an operator's would be.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = fresh.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(again.status.code(), Some(0), "{}", report(&again));
    let endpoints = stripe_get(&stripe, "/v1/webhook_endpoints").await;
    let endpoints = endpoints["data"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_ne!(endpoints[0]["id"].as_str(), Some(old.as_str()));
    let stored = fresh.value(&fresh.stripe_webhook).await;
    assert!(stored.starts_with("whsec_"));
    assert_ne!(
        stored,
        stack.value(&stack.stripe_webhook).await,
        "the new endpoint's secret, not the deleted one's"
    );
}

#[tokio::test]
async fn setup_leaves_the_accounts_default_portal_configuration_alone_and_makes_its_own() {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    // The team saved its portal settings in the Dashboard once.
    let default = stripe.control("POST", "/__fake/portal/default", None);
    let before = stripe_get(
        &stripe,
        &format!(
            "/v1/billing_portal/configurations/{}",
            default["id"].as_str().unwrap()
        ),
    )
    .await;
    let applied = stack.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(applied.status.code(), Some(0), "{}", report(&applied));
    let configs = stripe_get(&stripe, "/v1/billing_portal/configurations").await;
    let configs = configs["data"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    let ours: Vec<_> = configs
        .iter()
        .filter(|c| c["metadata"]["entitle"] == "setup")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["is_default"], false);
    let after = stripe_get(
        &stripe,
        &format!(
            "/v1/billing_portal/configurations/{}",
            default["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(before, after, "the account's default is untouched");
}

/// A restricted key made in the fake with the permissions docs/deploy.md lists for the functions.
fn functions_key(stripe: &FakeStripe) -> String {
    let made = stripe.control(
        "POST",
        "/__fake/restricted_keys",
        Some(&serde_json::json!({"permissions": {
            "customer": "write", "subscription": "write", "subscription_schedule": "write",
            "checkout_session": "write", "billing_portal": "write", "invoice": "read",
            "price": "read", "billing_meter_event": "write",
        }})),
    );
    made["key"].as_str().unwrap().to_owned()
}

async fn endpoints(stripe: &FakeStripe) -> Vec<Value> {
    stripe_get(stripe, "/v1/webhook_endpoints").await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_restricted_key_is_stored_for_the_functions_while_setup_calls_stripe_with_the_operators_key(
) {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    let restricted = functions_key(&stripe);
    let setup_key = [
        ("STRIPE_SECRET_KEY", restricted.as_str()),
        ("STRIPE_SETUP_KEY", stripe.api_key.as_str()),
    ];
    let applied = stack.entitle_with(&stripe, &["setup", "--apply"], &setup_key);
    let text = report(&applied);
    assert_eq!(applied.status.code(), Some(0), "{text}");
    assert!(
        text.contains("store STRIPE_SECRET_KEY (a restricted test-mode key (rk_test_…))"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    assert_eq!(stack.value(&stack.stripe_key).await, restricted);
    assert_eq!(endpoints(&stripe).await.len(), 1);

    // Without the operator's key, setup calls Stripe with the functions' key, which may not touch webhook
    // endpoints: Stripe's 403 names the permission, and setup says which key it used.
    let refused = stack.entitle_with(
        &stripe,
        &["setup", "--apply"],
        &[("STRIPE_SECRET_KEY", restricted.as_str())],
    );
    let text = report(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("403") && text.contains("rak_webhook_endpoint_read"),
        "{text}"
    );
    assert!(text.contains("STRIPE_SETUP_KEY"), "{text}");
    assert_eq!(stack.value(&stack.stripe_key).await, restricted);
}

#[tokio::test]
async fn a_stored_key_is_replaced_by_one_of_another_kind_only_with_replace_key() {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    let first = stack.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(first.status.code(), Some(0), "{}", report(&first));
    assert_eq!(stack.value(&stack.stripe_key).await, stripe.api_key);

    // The same kind (another full test key) replaces it, as a key roll does.
    let rolled = "sk_test_rolled_key_of_the_same_kind";
    let same = stack.entitle_with(
        &stripe,
        &["setup", "--apply"],
        &[
            ("STRIPE_SECRET_KEY", rolled),
            ("STRIPE_SETUP_KEY", stripe.api_key.as_str()),
        ],
    );
    assert_eq!(same.status.code(), Some(0), "{}", report(&same));
    assert_eq!(stack.value(&stack.stripe_key).await, rolled);

    // Another kind: refused, dry run or not, and nothing stored.
    let restricted = functions_key(&stripe);
    for (given, kind) in [
        (
            restricted.as_str(),
            "a restricted test-mode key (rk_test_…)",
        ),
        (
            "sk_live_a_live_key_in_a_test_stack",
            "a full live-mode secret key (sk_live_…)",
        ),
    ] {
        for mode in ["--dry-run", "--apply"] {
            let vars = [
                ("STRIPE_SECRET_KEY", given),
                ("STRIPE_SETUP_KEY", stripe.api_key.as_str()),
            ];
            let out = stack.entitle_with(&stripe, &["setup", mode], &vars);
            let text = report(&out);
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert!(
                text.contains("holds a full test-mode secret key (sk_test_…)")
                    && text.contains(&format!("the key given is {kind}"))
                    && text.contains("--replace-key"),
                "{text}"
            );
            assert_eq!(stack.value(&stack.stripe_key).await, rolled);
        }
    }

    // --replace-key stores it.
    let replaced = stack.entitle_with(
        &stripe,
        &["setup", "--apply", "--replace-key"],
        &[
            ("STRIPE_SECRET_KEY", restricted.as_str()),
            ("STRIPE_SETUP_KEY", stripe.api_key.as_str()),
        ],
    );
    assert_eq!(replaced.status.code(), Some(0), "{}", report(&replaced));
    assert_eq!(stack.value(&stack.stripe_key).await, restricted);
}

#[tokio::test]
async fn a_full_live_key_is_warned_about_before_it_is_stored() {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    let vars = [
        ("STRIPE_SECRET_KEY", "sk_live_the_full_live_key"),
        ("STRIPE_SETUP_KEY", stripe.api_key.as_str()),
    ];
    let dry = stack.entitle_with(&stripe, &["setup", "--dry-run"], &vars);
    let text = report(&dry);
    assert_eq!(dry.status.code(), Some(3), "{text}");
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(
        stderr.contains("warning: STRIPE_SECRET_KEY is a full live-mode secret key (sk_live_…)")
            && stderr.contains("rk_live_"),
        "{text}"
    );
    let json = stack.entitle_with(&stripe, &["setup", "--dry-run", "--json"], &vars);
    let answer: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(answer["warnings"].as_array().unwrap().len(), 1, "{answer}");
}

/// An endpoint made as an older setup (or the Dashboard) made it: on `version`, its secret in the stack.
async fn old_endpoint(stripe: &FakeStripe, stack: &Stack, version: &str) -> (String, String) {
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let made = client
        .post_form(
            "/v1/webhook_endpoints",
            &[
                ("url", STRIPE_WEBHOOK_URL.to_owned()),
                ("api_version", version.to_owned()),
                ("enabled_events[]", "invoice.paid".to_owned()),
            ],
            &format!("old-endpoint-{version}-{}", stack.stripe_webhook),
        )
        .await
        .unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    aws::put_secret(
        &stack.stripe_webhook,
        &serde_json::json!({ "key": secret }).to_string(),
    )
    .await;
    (made["id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn an_endpoint_on_another_api_version_is_reported_then_replaced_by_one_on_the_pinned_version()
{
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    let (old, old_secret) = old_endpoint(&stripe, &stack, "2025-03-31.basil").await;

    let dry = stack.entitle(&stripe, &["setup", "--dry-run"]);
    let text = report(&dry);
    assert_eq!(dry.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "would  move the Stripe webhook endpoint {old} from API version 2025-03-31.basil to {STRIPE_VERSION}"
        )),
        "{text}"
    );
    let json = stack.entitle(&stripe, &["setup", "--dry-run", "--json"]);
    let answer: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        answer["stripeWebhook"]["endpointApiVersion"],
        "2025-03-31.basil"
    );
    assert_eq!(answer["stripeWebhook"]["apiVersion"], STRIPE_VERSION);
    let listed = endpoints(&stripe).await;
    assert_eq!(listed.len(), 1, "a dry run changes nothing");
    assert_eq!(stack.value(&stack.stripe_webhook).await, old_secret);

    let applied = stack.entitle(&stripe, &["setup", "--apply"]);
    assert_eq!(applied.status.code(), Some(0), "{}", report(&applied));
    let listed = endpoints(&stripe).await;
    assert_eq!(listed.len(), 1, "the old endpoint is deleted: {listed:?}");
    let new = &listed[0];
    assert_ne!(new["id"].as_str(), Some(old.as_str()));
    assert_eq!(new["api_version"], STRIPE_VERSION);
    assert_eq!(new["url"], STRIPE_WEBHOOK_URL);
    assert_eq!(new["metadata"]["entitle_replaces"], old.as_str());
    let events: BTreeSet<&str> = new["enabled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events, HANDLED_STRIPE_TYPES.iter().copied().collect());
    let stored = stack.value(&stack.stripe_webhook).await;
    let secrets: Vec<&str> = stored.split(',').collect();
    assert_eq!(secrets.len(), 2, "{stored}");
    assert!(secrets[0].starts_with("whsec_") && secrets[0] != old_secret);
    assert_eq!(secrets[1], old_secret, "the old secret beside the new one");

    let again = stack.entitle(&stripe, &["setup", "--apply"]);
    assert!(
        report(&again).contains("nothing to change"),
        "{}",
        report(&again)
    );

    // A move that stopped after storing the new secret (the old endpoint still there): finished.
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let leftover = client
        .post_form(
            "/v1/webhook_endpoints",
            &[
                ("url", STRIPE_WEBHOOK_URL.to_owned()),
                ("api_version", "2025-03-31.basil".to_owned()),
                ("enabled_events[]", "invoice.paid".to_owned()),
            ],
            "leftover-endpoint",
        )
        .await
        .unwrap();
    let finished = stack.entitle(&stripe, &["setup", "--apply"]);
    let text = report(&finished);
    assert_eq!(finished.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "done  delete the webhook endpoint {} (API version 2025-03-31.basil)",
            leftover["id"].as_str().unwrap()
        )),
        "{text}"
    );
    assert_eq!(endpoints(&stripe).await.len(), 1);
}

#[tokio::test]
async fn a_move_whose_new_secret_was_never_stored_says_which_endpoint_to_delete() {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    let (_old, old_secret) = old_endpoint(&stripe, &stack, "2025-03-31.basil").await;
    // The new endpoint was made, and the run died before storing its secret.
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let orphan = client
        .post_form(
            "/v1/webhook_endpoints",
            &[
                ("url", STRIPE_WEBHOOK_URL.to_owned()),
                ("api_version", STRIPE_VERSION.to_owned()),
                ("enabled_events[]", "invoice.paid".to_owned()),
            ],
            "orphan-endpoint",
        )
        .await
        .unwrap();
    let orphan = orphan["id"].as_str().unwrap();
    let out = stack.entitle(&stripe, &["setup", "--apply"]);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("Delete the endpoint {orphan}")),
        "{text}"
    );
    assert_eq!(endpoints(&stripe).await.len(), 2, "nothing deleted");
    assert_eq!(stack.value(&stack.stripe_webhook).await, old_secret);
}

#[tokio::test]
async fn a_move_that_died_before_storing_its_secret_is_not_taken_for_finished_after_an_earlier_move(
) {
    let stripe = FakeStripe::start();
    let stack = Stack::new().await;
    assert_eq!(
        stack
            .entitle(&stripe, &["catalog", "apply", "--yes"])
            .status
            .code(),
        Some(0)
    );
    // The endpoint an earlier move made (on what was then the pinned version): the stack's secret still
    // lists the secret of the endpoint that move replaced, beside the live one, as a move leaves it.
    let (_old, old_secret) = old_endpoint(&stripe, &stack, "2025-03-31.basil").await;
    let stored = format!("{old_secret},whsec_of_the_endpoint_an_earlier_move_deleted");
    aws::put_secret(
        &stack.stripe_webhook,
        &serde_json::json!({ "key": stored }).to_string(),
    )
    .await;
    // This move made the new endpoint, and the run died before storing its secret.
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    let orphan = client
        .post_form(
            "/v1/webhook_endpoints",
            &[
                ("url", STRIPE_WEBHOOK_URL.to_owned()),
                ("api_version", STRIPE_VERSION.to_owned()),
                ("enabled_events[]", "invoice.paid".to_owned()),
            ],
            "orphan-endpoint-after-a-move",
        )
        .await
        .unwrap();
    let orphan = orphan["id"].as_str().unwrap();
    let out = stack.entitle(&stripe, &["setup", "--apply"]);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("Delete the endpoint {orphan}")),
        "{text}"
    );
    assert_eq!(
        endpoints(&stripe).await.len(),
        2,
        "the endpoint whose secret is stored is not deleted"
    );
    assert_eq!(stack.value(&stack.stripe_webhook).await, stored);
}
