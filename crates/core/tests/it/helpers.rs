use aws_config::SdkConfig;
use entitle_test_support::aws;

pub async fn config() -> SdkConfig {
    aws::sdk_config().await
}

pub fn env(name: &str) -> String {
    aws::env(name)
}
