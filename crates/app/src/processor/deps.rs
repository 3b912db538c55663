//! Everything the processor needs, built once per cold start.
use entitle_core::adapters::{
    ClerkClient, DynamoCustomerDirectory, DynamoEntitlements, DynamoUsage, SnsPublisher,
    SqsDeadLetters, SqsWorkQueue, StripeClient,
};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::{self, Rotating};
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::{
    ClerkUsers, CustomerDirectory, DeadLetters, EntitlementStore, EventPublisher, StripeReader,
    UsageMeter, WorkQueue,
};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_GRACE_DAYS: u64 = 7;

pub struct Deps {
    pub store: Arc<dyn EntitlementStore>,
    /// The credits balance (and its ledger) that credit packs add to and usage-api spends.
    pub usage: Arc<dyn UsageStore>,
    pub stripe: Arc<dyn StripeReader>,
    /// Overage, reported as Stripe billing meter events.
    pub meter: Arc<dyn UsageMeter>,
    pub customers: Arc<dyn CustomerDirectory>,
    pub clerk: Arc<dyn ClerkUsers>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetters>,
    /// The processor's own queue: a full reconcile's pages and users.
    pub work: Arc<dyn WorkQueue>,
    pub catalog: PlanCatalog,
    /// Access kept after the first failed payment.
    pub grace: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let catalog = PlanCatalog::from_env()?;
        let grace_days = match config::optional("GRACE_PERIOD_DAYS") {
            None => DEFAULT_GRACE_DAYS,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "GRACE_PERIOD_DAYS".into(),
                reason: "expected whole days".into(),
            })?,
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let entitlements_table = config::required("ENTITLEMENTS_TABLE")?;
        let stripe = Arc::new(StripeClient::new(
            Rotating::load("STRIPE_SECRET_KEY", &aws, secrets::one).await?,
            config::optional("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into()),
        ));
        Ok(Self {
            store: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                entitlements_table.clone(),
            )),
            usage: Arc::new(DynamoUsage::new(
                dynamodb.clone(),
                config::required("USAGE_TABLE")?,
                entitlements_table,
            )),
            customers: Arc::new(DynamoCustomerDirectory::new(
                dynamodb,
                config::required("CUSTOMERS_TABLE")?,
            )),
            stripe: stripe.clone(),
            meter: stripe,
            clerk: Arc::new(ClerkClient::new(
                Rotating::load("CLERK_SECRET_KEY", &aws, secrets::one).await?,
                config::optional("CLERK_API_BASE")
                    .unwrap_or_else(|| "https://api.clerk.com".into()),
            )),
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(&aws),
                config::required("BILLING_EVENTS_TOPIC_ARN")?,
            )),
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                config::required("DEAD_LETTER_QUEUE_URL")?,
            )),
            work: Arc::new(SqsWorkQueue::new(
                sqs,
                config::required("ENTITLEMENT_QUEUE_URL")?,
            )),
            catalog,
            grace: Duration::from_secs(grace_days * 86_400),
        })
    }
}
