//! Everything the handler needs, built once per cold start from the environment.
use aws_config::SdkConfig;
use entitle_core::adapters::{DynamoEventLog, SnsPublisher};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::{self, Rotating};
use entitle_core::stripe::signature::DEFAULT_TOLERANCE;
use entitle_domain::ports::{EventLog, EventPublisher};
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Shorter than the function's 10 s timeout, so an attempt that died frees the event before Stripe's
/// first retry.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(8);

pub struct Deps {
    pub events: Arc<dyn EventLog>,
    pub publisher: Arc<dyn EventPublisher>,
    pub config: WebhookConfig,
}

pub struct WebhookConfig {
    /// Every currently valid signing secret (two during a rotation), re-read per TTL and when a signature
    /// matches none of them.
    pub secrets: Rotating<Vec<SecretString>>,
    pub tolerance: Duration,
    pub lease: Duration,
    /// `None`: any source address.
    pub allowed_ips: Option<Vec<IpAddr>>,
}

impl WebhookConfig {
    pub fn new(secrets: Vec<SecretString>) -> Self {
        Self {
            secrets: Rotating::fixed(secrets),
            tolerance: DEFAULT_TOLERANCE,
            lease: DEFAULT_LEASE,
            allowed_ips: None,
        }
    }
}

/// stripe-webhook's configuration, typed: what [`Config::from_env`] reads in Lambda, and what a test or the
/// demo sets.
pub struct Config {
    pub idempotency_table: String,
    pub billing_events_topic_arn: String,
    pub webhook: WebhookConfig,
}

impl Config {
    pub async fn from_env(aws: &SdkConfig) -> Result<Self, ConfigError> {
        let secrets = Rotating::load("STRIPE_WEBHOOK_SECRET", aws, secrets::secret_list).await?;
        Ok(Self {
            idempotency_table: config::required("IDEMPOTENCY_TABLE")?,
            billing_events_topic_arn: config::required("BILLING_EVENTS_TOPIC_ARN")?,
            webhook: WebhookConfig {
                secrets,
                tolerance: config::seconds("STRIPE_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE)?,
                lease: config::seconds("IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE)?,
                allowed_ips: config::optional("STRIPE_WEBHOOK_IPS")
                    .map(|list| parse_ips(&list))
                    .transpose()?,
            },
        })
    }
}

impl Deps {
    /// Lambda's composition root: the environment's configuration (the signing secrets included), then
    /// [`Deps::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let config = Config::from_env(&aws).await?;
        Ok(Self::new(config, &aws))
    }

    /// The real adapters for `config`: the one wiring of stripe-webhook, used by Lambda, its integration
    /// tests and the demo.
    pub fn new(config: Config, aws: &SdkConfig) -> Self {
        Self {
            events: Arc::new(DynamoEventLog::new(
                aws_sdk_dynamodb::Client::new(aws),
                config.idempotency_table,
            )),
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(aws),
                config.billing_events_topic_arn,
            )),
            config: config.webhook,
        }
    }
}

fn parse_ips(list: &str) -> Result<Vec<IpAddr>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| ConfigError::Invalid {
                name: "STRIPE_WEBHOOK_IPS".into(),
                reason: format!("{s:?} is not an IP address"),
            })
        })
        .collect()
}
