use crate::helpers::config;
use entitle_core::config::secret;
use entitle_test_support::fixtures::unique_id;
use secrecy::ExposeSecret;

async fn stored(value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(&config().await);
    client
        .create_secret()
        .name(unique_id("entitle/test-"))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn a_secret_is_read_from_secrets_manager_as_a_plain_string_or_json_key() {
    let config = config().await;
    for (stored_value, expected) in [
        ("whsec_plain", "whsec_plain"),
        (r#"{"key":"whsec_a,whsec_b"}"#, "whsec_a,whsec_b"),
    ] {
        let name = unique_id("ENTITLE_TEST_SECRET_").to_uppercase();
        std::env::set_var(format!("{name}_ARN"), stored(stored_value).await);
        let value = secret(&name, &config).await.unwrap();
        assert_eq!(value.expose_secret(), expected);
    }
}

#[tokio::test]
async fn a_direct_value_wins_over_the_arn_and_a_missing_secret_is_an_error() {
    let config = config().await;
    let name = unique_id("ENTITLE_TEST_SECRET_").to_uppercase();
    assert!(secret(&name, &config).await.is_err());
    std::env::set_var(&name, "whsec_direct");
    std::env::set_var(
        format!("{name}_ARN"),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope",
    );
    assert_eq!(
        secret(&name, &config).await.unwrap().expose_secret(),
        "whsec_direct"
    );
}
