//! Everything the API needs, built once per cold start: the plan catalog (validated here, so a broken
//! catalog fails the deploy's smoke test rather than a customer's request), the token verifier, clients.
use crate::billing_api::redirect::AllowedOrigins;
use aws_config::SdkConfig;
use entitle_core::adapters::{
    ClerkClient, DynamoCustomerDirectory, DynamoEntitlements, DynamoUsage,
};
use entitle_core::auth::Verifier;
use entitle_core::config::{self, ConfigError};
use entitle_core::secrets::{self, Rotating};
use entitle_core::stripe::StripeClient;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::ports::{
    CustomerDirectory, EntitlementHistory, EntitlementReader, OrganizationMembers, StripeBilling,
    StripeCustomers, SubscriptionLifecycle,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Deps {
    pub verifier: Verifier,
    pub catalog: PlanCatalog,
    pub customers: Arc<dyn CustomerDirectory>,
    pub stripe_customers: Arc<dyn StripeCustomers>,
    pub billing: Arc<dyn StripeBilling>,
    /// The entitlements row and the usage counters, read together (GET /entitlements, GET /usage).
    pub usage: Arc<dyn UsageStore>,
    pub lifecycle: Arc<dyn SubscriptionLifecycle>,
    pub entitlements: Arc<dyn EntitlementReader>,
    /// The entitlements' versions (`GET /entitlements/history`).
    pub history: Arc<dyn EntitlementHistory>,
    /// Who may manage an organization's billing (Clerk's memberships); `None` without `CLERK_SECRET_KEY`,
    /// and then an organization's billing can be read but not changed.
    pub members: Option<Arc<dyn OrganizationMembers>>,
    pub config: ApiConfig,
    /// Lookup key → Stripe price id, resolved once per cold start.
    pub price_ids: Mutex<HashMap<String, String>>,
    /// The billing portal configuration sessions are made on (`STRIPE_PORTAL_CONFIGURATION`, else the one
    /// `entitle setup` made, found on first use).
    pub portal_configuration: Mutex<Option<String>>,
}

pub struct ApiConfig {
    /// Where success, cancel and return URLs may point.
    pub redirect_origins: AllowedOrigins,
    /// Browser origins allowed to call the API (CORS).
    pub cors_origins: AllowedOrigins,
}

/// billing-api's configuration, typed: what [`Config::from_env`] reads in Lambda, and what a test or the
/// demo sets.
pub struct Config {
    pub customers_table: String,
    pub entitlements_table: String,
    pub usage_table: String,
    pub stripe_api_base: String,
    pub catalog: PlanCatalog,
    pub api: ApiConfig,
    /// `STRIPE_PORTAL_CONFIGURATION`: `None` finds the one `entitle setup` made.
    pub portal_configuration: Option<String>,
    pub clerk_api_base: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            customers_table: config::required("CUSTOMERS_TABLE")?,
            entitlements_table: config::required("ENTITLEMENTS_TABLE")?,
            usage_table: config::required("USAGE_TABLE")?,
            stripe_api_base: config::optional("STRIPE_API_BASE")
                .unwrap_or_else(|| "https://api.stripe.com".into()),
            catalog: PlanCatalog::from_env()?,
            api: ApiConfig {
                redirect_origins: AllowedOrigins::parse(&config::required(
                    "ALLOWED_REDIRECT_ORIGINS",
                )?),
                cors_origins: AllowedOrigins::parse(
                    &config::optional("ALLOWED_ORIGINS").unwrap_or_default(),
                ),
            },
            portal_configuration: config::optional("STRIPE_PORTAL_CONFIGURATION"),
            clerk_api_base: config::optional("CLERK_API_BASE")
                .unwrap_or_else(|| "https://api.clerk.com".into()),
        })
    }
}

impl Deps {
    /// Lambda's composition root: the environment's configuration, the session-token verifier and the
    /// Stripe key, then [`Deps::new`].
    pub async fn from_env() -> Result<Self, ConfigError> {
        let aws = config::aws().await;
        let config = Config::from_env()?;
        let jwt_secret = match config::optional("JWT_SECRET").or(config::optional("JWT_SECRET_ARN"))
        {
            Some(_) => Some(config::secret("JWT_SECRET", &aws).await?),
            None => None,
        };
        let verifier = Verifier::from_config(
            jwt_secret,
            config::optional("CLERK_JWKS_URL"),
            config::optional("CLERK_ISSUER"),
            config::optional("CLERK_AUTHORIZED_PARTIES"),
        )?;
        let stripe_key = Rotating::load("STRIPE_SECRET_KEY", &aws, secrets::one).await?;
        let clerk_key = match config::optional("CLERK_SECRET_KEY")
            .or(config::optional("CLERK_SECRET_KEY_ARN"))
        {
            Some(_) => Some(Rotating::load("CLERK_SECRET_KEY", &aws, secrets::one).await?),
            None => None,
        };
        Ok(Self::new(config, verifier, (stripe_key, clerk_key), &aws))
    }

    /// The real adapters for `config`: the one wiring of billing-api, used by Lambda, its integration tests
    /// and the demo.
    /// `keys`: Stripe's secret key, and Clerk's when organizations' billing can be managed here.
    pub fn new(
        config: Config,
        verifier: Verifier,
        keys: (Rotating<SecretString>, Option<Rotating<SecretString>>),
        aws: &SdkConfig,
    ) -> Self {
        let (stripe_key, clerk_key) = keys;
        let members = clerk_key.map(|key| {
            Arc::new(ClerkClient::new(key, config.clerk_api_base.clone()))
                as Arc<dyn OrganizationMembers>
        });
        let stripe = Arc::new(StripeClient::new(stripe_key, config.stripe_api_base));
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        Self {
            verifier,
            catalog: config.catalog,
            customers: Arc::new(DynamoCustomerDirectory::new(
                dynamodb.clone(),
                config.customers_table,
            )),
            entitlements: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                config.entitlements_table.clone(),
            )),
            history: Arc::new(DynamoEntitlements::new(
                dynamodb.clone(),
                config.entitlements_table.clone(),
            )),
            usage: Arc::new(DynamoUsage::new(
                dynamodb,
                config.usage_table,
                config.entitlements_table,
            )),
            stripe_customers: stripe.clone(),
            billing: stripe.clone(),
            lifecycle: stripe,
            members,
            config: config.api,
            price_ids: Mutex::new(HashMap::new()),
            portal_configuration: Mutex::new(config.portal_configuration),
        }
    }
}
