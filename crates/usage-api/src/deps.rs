//! Everything usage-api needs, built once per cold start: the catalog (validated here), the API keys, the
//! usage store and the topic.
use crate::auth::ApiKeys;
use entitle_core::adapters::{DynamoUsage, SnsPublisher};
use entitle_core::config::{self, ConfigError};
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::EventPublisher;
use std::sync::Arc;

pub struct Deps {
    pub keys: ApiKeys,
    pub catalog: PlanCatalog,
    pub store: Arc<dyn UsageStore>,
    pub publisher: Arc<dyn EventPublisher>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let catalog = PlanCatalog::from_env()?;
        let keys = ApiKeys::new(&config::secret("USAGE_API_KEYS", &aws).await?);
        if keys.is_empty() {
            return Err(ConfigError::Invalid {
                name: "USAGE_API_KEYS".into(),
                reason: "no key in the list".into(),
            });
        }
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
