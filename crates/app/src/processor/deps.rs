//! Everything the processor needs, built once per cold start.
use aws_config::SdkConfig;
use entitle_core::adapters::{
    ClerkClient, DynamoCustomerDirectory, DynamoEntitlements, DynamoUsage, SnsPublisher,
    SqsDeadLetters, SqsWorkQueue,
};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::{self, Rotating};
use entitle_core::stripe::StripeClient;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::{
    ClerkUsers, CustomerDirectory, DeadLetters, EntitlementHistory, EntitlementStore,
    EventPublisher, OrganizationMembers, StripeReader, SubscriptionLifecycle, UsageMeter,
    WorkQueue,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_GRACE_DAYS: u64 = 7;

pub struct Deps {
    pub store: Arc<dyn EntitlementStore>,
    /// The versions `store` appended: the announcements of versions superseded before theirs went out.
    pub history: Arc<dyn EntitlementHistory>,
    /// The credits balance (and its ledger) that credit packs add to and usage-api spends.
    pub usage: Arc<dyn UsageStore>,
    pub stripe: Arc<dyn StripeReader>,
    /// Overage, reported as Stripe billing meter events.
    pub meter: Arc<dyn UsageMeter>,
    pub customers: Arc<dyn CustomerDirectory>,
    pub clerk: Arc<dyn ClerkUsers>,
    /// An organization's members, counted for its seats.
    pub members: Arc<dyn OrganizationMembers>,
    /// A seat plan's subscription, whose seat quantity follows the count.
    pub lifecycle: Arc<dyn SubscriptionLifecycle>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetters>,
    /// The processor's own queue: a full reconcile's pages and users.
    pub work: Arc<dyn WorkQueue>,
    pub catalog: PlanCatalog,
    /// Access kept after the first failed payment.
    pub grace: Duration,
    /// How many users a second a full reconcile reconciles (0: unpaced; [`DEFAULT_RECONCILE_RATE`]).
    pub reconcile_rate: u32,
}

/// A full reconcile's default pace, users a second (`RECONCILE_USERS_PER_SECOND`): each reconcile reads
/// Stripe a few times, so 5 a second stays well under Stripe's test-mode limit (25 requests a second; 100
/// live) while webhooks and billing-api share it.
pub const DEFAULT_RECONCILE_RATE: u32 = 5;

/// The processor's configuration, typed: what [`Config::from_env`] reads in Lambda, and what a test or the
/// demo sets to its local stack.
#[derive(Debug, Clone)]
pub struct Config {
    pub entitlements_table: String,
    pub usage_table: String,
    pub customers_table: String,
    pub billing_events_topic_arn: String,
    pub dead_letter_queue_url: String,
    /// The processor's own queue (a full reconcile's pages and users).
    pub work_queue_url: String,
    pub stripe_api_base: String,
    pub clerk_api_base: String,
    pub catalog: PlanCatalog,
    /// Access kept after the first failed payment.
    pub grace: Duration,
    /// `RECONCILE_USERS_PER_SECOND`: a full reconcile's pace (0: unpaced).
    pub reconcile_rate: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let grace_days = match config::optional("GRACE_PERIOD_DAYS") {
            None => DEFAULT_GRACE_DAYS,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "GRACE_PERIOD_DAYS".into(),
                reason: "expected whole days".into(),
            })?,
        };
        Ok(Self {
            entitlements_table: config::required("ENTITLEMENTS_TABLE")?,
            usage_table: config::required("USAGE_TABLE")?,
            customers_table: config::required("CUSTOMERS_TABLE")?,
            billing_events_topic_arn: config::required("BILLING_EVENTS_TOPIC_ARN")?,
            dead_letter_queue_url: config::required("DEAD_LETTER_QUEUE_URL")?,
            work_queue_url: config::required("ENTITLEMENT_QUEUE_URL")?,
            stripe_api_base: config::optional("STRIPE_API_BASE")
                .unwrap_or_else(|| "https://api.stripe.com".into()),
            clerk_api_base: config::optional("CLERK_API_BASE")
                .unwrap_or_else(|| "https://api.clerk.com".into()),
            catalog: PlanCatalog::from_env()?,
            grace: Duration::from_secs(grace_days * 86_400),
            reconcile_rate: match config::optional("RECONCILE_USERS_PER_SECOND") {
                None => DEFAULT_RECONCILE_RATE,
                Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    name: "RECONCILE_USERS_PER_SECOND".into(),
                    reason: "expected a whole number of users a second (0: unpaced)".into(),
                })?,
            },
        })
    }
}

/// The secret keys the processor calls Stripe and Clerk with (re-read from Secrets Manager when they
/// rotate; fixed in tests).
pub struct Keys {
    pub stripe: Rotating<SecretString>,
    pub clerk: Rotating<SecretString>,
}

impl Deps {
    /// The composition root of Lambda (and of the CLI, which runs the processor's code): the environment's
    /// configuration and secrets, then [`Deps::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let config = Config::from_env()?;
        let keys = Keys {
            stripe: Rotating::load("STRIPE_SECRET_KEY", &aws, secrets::one).await?,
            clerk: Rotating::load("CLERK_SECRET_KEY", &aws, secrets::one).await?,
        };
        Ok(Self::new(config, keys, &aws))
    }

    /// The real adapters for `config`: the one wiring of the processor, used by Lambda, the CLI, the
    /// integration tests and the demo.
    pub fn new(config: Config, keys: Keys, aws: &SdkConfig) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let sqs = aws_sdk_sqs::Client::new(aws);
        let stripe = Arc::new(StripeClient::new(keys.stripe, config.stripe_api_base));
        let clerk = Arc::new(ClerkClient::new(keys.clerk, config.clerk_api_base));
        Self {
            store: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                config.entitlements_table.clone(),
            )),
            history: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                config.entitlements_table.clone(),
            )),
            usage: Arc::new(DynamoUsage::new(
                dynamodb.clone(),
                config.usage_table,
                config.entitlements_table,
            )),
            customers: Arc::new(DynamoCustomerDirectory::new(
                dynamodb,
                config.customers_table,
            )),
            stripe: stripe.clone(),
            lifecycle: stripe.clone(),
            meter: stripe,
            clerk: clerk.clone(),
            members: clerk,
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(aws),
                config.billing_events_topic_arn,
            )),
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                config.dead_letter_queue_url,
            )),
            work: Arc::new(SqsWorkQueue::new(sqs, config.work_queue_url)),
            catalog: config.catalog,
            grace: config.grace,
            reconcile_rate: config.reconcile_rate,
        }
    }
}
