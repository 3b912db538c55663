//! The five functions wired in-process, each with its production adapters: DynamoDB, SNS and SQS on the local
//! AWS emulator (the template's own tables, topic and queues), the production `StripeClient` pointed at a
//! local fake Stripe and the production `ClerkClient` at a local fake Clerk. Only the clock and the secrets
//! are the demo's.
use entitle_core::auth::Verifier;
use entitle_core::webhook::svix::SvixKey;
use entitle_domain::plans::PlanCatalog;
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_entitle_demo_stripe_signing_secret";
/// Svix secrets are base64 after the prefix.
pub const CLERK_WEBHOOK_SECRET: &str = "whsec_ZW50aXRsZS1kZW1vLWNsZXJrLXN2aXgta2V5LTMyYnk=";
/// HS256 needs at least 32 bytes.
pub const JWT_SECRET: &str = "entitle-demo-hs256-session-token-secret";
pub const APP_ORIGIN: &str = "https://app.entitle.demo";
/// The product server's key for usage-api.
pub const USAGE_API_KEY: &str = "sk_usage_entitle_demo";

pub struct World {
    pub stripe: FakeStripe,
    pub clerk: FakeClerk,
    pub stripe_webhook: entitle_app::stripe_webhook::deps::Deps,
    pub clerk_webhook: entitle_app::clerk_webhook::deps::Deps,
    pub billing_api: entitle_app::billing_api::deps::Deps,
    pub processor: entitle_app::processor::deps::Deps,
    pub usage_api: entitle_app::usage_api::deps::Deps,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dead_letter_queue_url: String,
    pub region: String,
}

/// A variable `scripts/with-local-aws.sh` exports.
fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!(
            "{name} is not set: the demo runs against the local AWS; use `make demo` \
             (scripts/with-local-aws.sh cargo run -p entitle-demo)"
        )
    })
}

impl World {
    pub async fn start() -> Result<Self, String> {
        env("AWS_ENDPOINT_URL")?;
        let stripe = FakeStripe::start();
        seed_catalog_prices(&stripe);
        let clerk = FakeClerk::start();
        let aws = entitle_core::config::aws().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        // The template's own tables, topic and queues (scripts/with-local-aws.sh exports their names).
        let idempotency = env("IDEMPOTENCY_TABLE")?;
        let customers_table = env("CUSTOMERS_TABLE")?;
        let entitlements_table = env("ENTITLEMENTS_TABLE")?;
        let usage_table = env("USAGE_TABLE")?;
        let topic = env("BILLING_EVENTS_TOPIC_ARN")?;
        let queue_url = env("ENTITLEMENT_QUEUE_URL")?;
        let dead_letter_queue_url = env("ENTITLEMENT_DLQ_URL")?;
        let queue_arn = queue_arn(&sqs, &queue_url).await?;
        let region = aws
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let catalog = PlanCatalog::builtin().clone();
        let stripe_key = || SecretString::from(stripe.api_key.clone()).into();

        // Each function's own composition root (`Deps::new`), the one its Lambda `main` uses.
        let stripe_webhook = entitle_app::stripe_webhook::deps::Deps::new(
            entitle_app::stripe_webhook::deps::Config {
                idempotency_table: idempotency.clone(),
                billing_events_topic_arn: topic.clone(),
                webhook: entitle_app::stripe_webhook::deps::WebhookConfig::new(vec![
                    SecretString::from(STRIPE_WEBHOOK_SECRET.to_owned()),
                ]),
            },
            &aws,
        );
        let svix_key = SvixKey::parse(&SecretString::from(CLERK_WEBHOOK_SECRET.to_owned()))
            .map_err(|e| format!("the demo's Clerk webhook secret: {e}"))?;
        let clerk_webhook = entitle_app::clerk_webhook::deps::Deps::new(
            entitle_app::clerk_webhook::deps::Config {
                idempotency_table: idempotency,
                customers_table: customers_table.clone(),
                billing_events_topic_arn: topic.clone(),
                dead_letter_queue_url: dead_letter_queue_url.clone(),
                stripe_api_base: stripe.base_url.clone(),
                webhook: entitle_app::clerk_webhook::deps::ClerkConfig::new(vec![svix_key]),
            },
            stripe_key(),
            &aws,
        );
        let verifier = Verifier::from_config(
            Some(SecretString::from(JWT_SECRET.to_owned())),
            None,
            None,
            None,
        )
        .map_err(|e| format!("billing-api's HS256 verifier: {e}"))?;
        let origins = || entitle_app::billing_api::redirect::AllowedOrigins::parse(APP_ORIGIN);
        let billing_api = entitle_app::billing_api::deps::Deps::new(
            entitle_app::billing_api::deps::Config {
                customers_table: customers_table.clone(),
                entitlements_table: entitlements_table.clone(),
                usage_table: usage_table.clone(),
                stripe_api_base: stripe.base_url.clone(),
                catalog: catalog.clone(),
                api: entitle_app::billing_api::deps::ApiConfig {
                    redirect_origins: origins(),
                    cors_origins: origins(),
                },
                portal_configuration: None,
                clerk_api_base: clerk.base_url.clone(),
            },
            verifier,
            (
                stripe_key(),
                Some(SecretString::from(clerk.secret_key.clone()).into()),
            ),
            &aws,
        );
        let processor = entitle_app::processor::deps::Deps::new(
            entitle_app::processor::deps::Config {
                entitlements_table: entitlements_table.clone(),
                usage_table: usage_table.clone(),
                customers_table,
                billing_events_topic_arn: topic.clone(),
                dead_letter_queue_url: dead_letter_queue_url.clone(),
                work_queue_url: queue_url.clone(),
                stripe_api_base: stripe.base_url.clone(),
                clerk_api_base: clerk.base_url.clone(),
                catalog: catalog.clone(),
                grace: Duration::from_secs(
                    entitle_app::processor::deps::DEFAULT_GRACE_DAYS * 86_400,
                ),
                reconcile_rate: 0,
            },
            entitle_app::processor::deps::Keys {
                stripe: stripe_key(),
                clerk: SecretString::from(clerk.secret_key.clone()).into(),
            },
            &aws,
        );
        let usage_api = entitle_app::usage_api::deps::Deps::new(
            entitle_app::usage_api::deps::Config {
                usage_table,
                entitlements_table,
                billing_events_topic_arn: topic,
                catalog,
            },
            entitle_app::usage_api::auth::ApiKeys::new(&SecretString::from(
                USAGE_API_KEY.to_owned(),
            ))
            .into(),
            &aws,
        );
        Ok(Self {
            stripe,
            clerk,
            stripe_webhook,
            clerk_webhook,
            billing_api,
            processor,
            usage_api,
            sqs,
            queue_url,
            queue_arn,
            dead_letter_queue_url,
            region,
        })
    }
}

/// Every price of the plan catalog, as `scripts/seed_fake_stripe.py` seeds them for `make dev`: the
/// catalog's id when it names one, else `price_local_<lookup key>`.
fn seed_catalog_prices(stripe: &FakeStripe) {
    let catalog = PlanCatalog::builtin();
    let plans = catalog.plans().iter().flat_map(|plan| {
        plan.prices
            .iter()
            .map(move |price| (plan.id.as_str(), price))
    });
    let packs = catalog.credit_packs().iter().flat_map(|pack| {
        pack.prices
            .iter()
            .map(move |price| (pack.id.as_str(), price))
    });
    for (product, price) in plans.chain(packs) {
        let id = price
            .id
            .clone()
            .unwrap_or_else(|| format!("price_local_{}", price.reference()));
        stripe.seed_price(json!({
            "id": id,
            "lookup_key": price.lookup_key,
            "unit_amount": price.amount.unwrap_or(0),
            "currency": price.currency.as_deref().unwrap_or("usd"),
            "recurring": price.interval.map_or(Value::Null, |i| json!({ "interval": i })),
            "product": format!("prod_local_{product}"),
        }));
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("reading the entitlement queue's ARN: {e}"))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| "the entitlement queue has no ARN".to_owned())
}
