//! Everything usage-api needs, built once per cold start: the catalog (validated here), the API keys, the
//! usage store and the topic.
use crate::auth::ApiKeys;
use entitle_core::adapters::{DynamoUsage, SnsPublisher};
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::Rotating;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::EventPublisher;
use std::sync::Arc;

pub struct Deps {
    /// Re-read per TTL, and when a request presents an unknown key (a rotation).
    pub keys: Rotating<ApiKeys>,
    pub catalog: PlanCatalog,
    pub store: Arc<dyn UsageStore>,
    pub publisher: Arc<dyn EventPublisher>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let catalog = PlanCatalog::from_env()?;
        let keys = Rotating::load("USAGE_API_KEYS", &aws, ApiKeys::parse).await?;
        Ok(Self {
            keys,
            catalog,
            store: Arc::new(DynamoUsage::new(
                aws_sdk_dynamodb::Client::new(&aws),
                config::required("USAGE_TABLE")?,
                config::required("ENTITLEMENTS_TABLE")?,
            )),
            publisher: Arc::new(SnsPublisher::new(
                aws_sdk_sns::Client::new(&aws),
                config::required("BILLING_EVENTS_TOPIC_ARN")?,
            )),
        })
    }
}
