//! Everything the handler needs, built once per cold start from the environment.
use aws_config::SdkConfig;
use entitle_core::adapters::{
    DynamoCustomerDirectory, DynamoEventLog, SnsPublisher, SqsDeadLetters,
};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::{self, Rotating};
use entitle_core::stripe::StripeClient;
use entitle_core::webhook::svix::{SvixKey, DEFAULT_TOLERANCE};
use entitle_domain::ports::{
    CustomerDirectory, DeadLetters, EventLog, EventPublisher, StripeCustomers,
    SubscriptionLifecycle,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Shorter than the function's 15 s timeout.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(14);

/// What happens to a deleted user's subscriptions (`ON_USER_DELETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUserDeleted {
    CancelAtPeriodEnd,
    CancelNow,
    Keep,
}

impl OnUserDeleted {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cancel_at_period_end" => Some(Self::CancelAtPeriodEnd),
            "cancel_now" => Some(Self::CancelNow),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }
}

pub struct Deps {
    pub events: Arc<dyn EventLog>,
    pub publisher: Arc<dyn EventPublisher>,
    pub customers: Arc<dyn CustomerDirectory>,
    pub stripe_customers: Arc<dyn StripeCustomers>,
    /// The customer's subscriptions, stopped on `user.deleted` by the lifecycle code billing-api's cancel uses.
    pub lifecycle: Arc<dyn SubscriptionLifecycle>,
    /// Where a `user.deleted` goes whose subscriptions Stripe refused to stop (the processor's DLQ).
    pub dead_letters: Arc<dyn DeadLetters>,
    pub config: ClerkConfig,
}

pub struct ClerkConfig {
    /// Every currently valid signing secret (two during a rotation), re-read per TTL and when a signature
    /// matches none of them.
    pub keys: Rotating<Vec<SvixKey>>,
    pub tolerance: Duration,
    pub lease: Duration,
    pub on_user_deleted: OnUserDeleted,
    /// The same for a deleted organization's subscriptions (`ON_ORG_DELETED`).
    pub on_org_deleted: OnUserDeleted,
}

impl ClerkConfig {
    pub fn new(keys: Vec<SvixKey>) -> Self {
        Self {
            keys: Rotating::fixed(keys),
            tolerance: DEFAULT_TOLERANCE,
            lease: DEFAULT_LEASE,
            on_user_deleted: OnUserDeleted::CancelAtPeriodEnd,
            on_org_deleted: OnUserDeleted::CancelAtPeriodEnd,
        }
    }
}

/// clerk-webhook's configuration, typed: what [`Config::from_env`] reads in Lambda, and what a test or the
/// demo sets.
pub struct Config {
    pub idempotency_table: String,
    pub customers_table: String,
    pub billing_events_topic_arn: String,
    pub dead_letter_queue_url: String,
    pub stripe_api_base: String,
    pub webhook: ClerkConfig,
}

impl Config {
    pub async fn from_env(aws: &SdkConfig) -> Result<Self, ConfigError> {
        let keys = Rotating::load("CLERK_WEBHOOK_SECRET", aws, svix_keys).await?;
        let policy = |name: &str| match config::optional(name) {
            None => Ok(OnUserDeleted::CancelAtPeriodEnd),
            Some(v) => OnUserDeleted::parse(&v).ok_or_else(|| ConfigError::Invalid {
                name: name.into(),
                reason: "expected cancel_at_period_end, cancel_now or keep".into(),
            }),
        };
        let on_user_deleted = policy("ON_USER_DELETED")?;
        let on_org_deleted = policy("ON_ORG_DELETED")?;
        Ok(Self {
            idempotency_table: config::required("IDEMPOTENCY_TABLE")?,
            customers_table: config::required("CUSTOMERS_TABLE")?,
            billing_events_topic_arn: config::required("BILLING_EVENTS_TOPIC_ARN")?,
            dead_letter_queue_url: config::required("DEAD_LETTER_QUEUE_URL")?,
            stripe_api_base: config::optional("STRIPE_API_BASE")
                .unwrap_or_else(|| "https://api.stripe.com".into()),
            webhook: ClerkConfig {
                keys,
                tolerance: config::seconds("CLERK_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE)?,
                lease: config::seconds("IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE)?,
                on_user_deleted,
                on_org_deleted,
            },
        })
    }
}

impl Deps {
    /// Lambda's composition root: the environment's configuration and the Stripe key, then [`Deps::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let config = Config::from_env(&aws).await?;
        let stripe_key = Rotating::load("STRIPE_SECRET_KEY", &aws, secrets::one).await?;
        Ok(Self::new(config, stripe_key, &aws))
    }

    /// The real adapters for `config`: the one wiring of clerk-webhook, used by Lambda, its integration
    /// tests and the demo.
    pub fn new(config: Config, stripe_key: Rotating<SecretString>, aws: &SdkConfig) -> Self {
        let stripe = Arc::new(StripeClient::new(stripe_key, config.stripe_api_base));
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        Self {
            events: Arc::new(DynamoEventLog::new(
                dynamodb.clone(),
                config.idempotency_table,
            )),
            customers: Arc::new(DynamoCustomerDirectory::new(
                dynamodb,
                config.customers_table,
            )),
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(aws),
                config.billing_events_topic_arn,
            )),
            stripe_customers: stripe.clone(),
            lifecycle: stripe,
            dead_letters: Arc::new(SqsDeadLetters::new(
                aws_sdk_sqs::Client::new(aws),
                config.dead_letter_queue_url,
            )),
            config: config.webhook,
        }
    }
}

/// Svix signing secrets (`whsec_…`, comma-separated during a rotation).
fn svix_keys(raw: &SecretString) -> Result<Vec<SvixKey>, String> {
    secrets::secret_list(raw)?
        .iter()
        .map(SvixKey::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
