//! Everything usage-api needs, built once per cold start: the catalog (validated here), the API keys, the
//! usage store and the topic.
use crate::usage_api::auth::ApiKeys;
use aws_config::SdkConfig;
use entitle_core::adapters::{DynamoEntitlements, DynamoUsage, SnsPublisher};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::Rotating;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::{EntitlementHistory, EventPublisher};
use std::sync::Arc;

pub struct Deps {
    /// Re-read per TTL, and when a request presents an unknown key (a rotation).
    pub keys: Rotating<ApiKeys>,
    pub catalog: PlanCatalog,
    pub store: Arc<dyn UsageStore>,
    /// The entitlements' history (point-in-time reads, versions, explain).
    pub history: Arc<dyn EntitlementHistory>,
    pub publisher: Arc<dyn EventPublisher>,
}

/// usage-api's configuration, typed: what [`Config::from_env`] reads in Lambda, and what a test or the demo
/// sets to its local stack.
#[derive(Debug, Clone)]
pub struct Config {
    pub usage_table: String,
    pub entitlements_table: String,
    pub billing_events_topic_arn: String,
    pub catalog: PlanCatalog,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            usage_table: config::required("USAGE_TABLE")?,
            entitlements_table: config::required("ENTITLEMENTS_TABLE")?,
            billing_events_topic_arn: config::required("BILLING_EVENTS_TOPIC_ARN")?,
            catalog: PlanCatalog::from_env()?,
        })
    }
}

impl Deps {
    /// Lambda's composition root: the environment's configuration and API keys, then [`Deps::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let config = Config::from_env()?;
        let keys = Rotating::load("USAGE_API_KEYS", &aws, ApiKeys::parse).await?;
        Ok(Self::new(config, keys, &aws))
    }

    /// The real adapters for `config`: the one wiring of usage-api, used by Lambda, its integration tests
    /// and the demo.
    pub fn new(config: Config, keys: Rotating<ApiKeys>, aws: &SdkConfig) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        Self {
            keys,
            catalog: config.catalog,
            history: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                config.entitlements_table.clone(),
            )),
            store: Arc::new(DynamoUsage::new(
                dynamodb,
                config.usage_table,
                config.entitlements_table,
            )),
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(aws),
                config.billing_events_topic_arn,
            )),
        }
    }
}
