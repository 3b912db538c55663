use crate::helpers::config;
use entitle_core::config::secret;
use entitle_core::secrets::{self, Rotating};
use entitle_core::stripe::StripeClient;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{StripeCustomers, StripeError};
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::stripe::FakeStripe;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

async fn stored(value: &str) -> String {
    aws::create_secret("entitle/test-", value).await
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

async fn put(arn: &str, value: &str) {
    aws::put_secret(arn, value).await;
}

/// A secret read from Secrets Manager under a fresh variable name: `(name, arn)`.
async fn rotating_secret(stored_value: &str) -> (String, String) {
    let name = unique_id("ENTITLE_TEST_ROTATING_").to_uppercase();
    let arn = stored(stored_value).await;
    std::env::set_var(format!("{name}_ARN"), &arn);
    (name, arn)
}

fn list(value: &[SecretString]) -> Vec<String> {
    value.iter().map(|s| s.expose_secret().to_owned()).collect()
}

#[tokio::test]
async fn a_rotating_secret_is_read_again_when_forced_at_most_once_per_interval_and_after_its_ttl() {
    let (name, arn) = rotating_secret("whsec_one").await;
    let secret = Rotating::load(&name, &config().await, secrets::secret_list)
        .await
        .unwrap()
        .with_timing(Duration::from_secs(3600), Duration::from_secs(3600));
    assert_eq!(list(&secret.current().await.unwrap()), ["whsec_one"]);

    // Rolled in Secrets Manager: the cached copy is used until something forces a read.
    put(&arn, r#"{"key": "whsec_one,whsec_two"}"#).await;
    assert_eq!(list(&secret.current().await.unwrap()), ["whsec_one"]);
    let fresh = secret.refresh().await.expect("the value changed");
    assert_eq!(list(&fresh), ["whsec_one", "whsec_two"]);
    assert_eq!(
        list(&secret.current().await.unwrap()),
        ["whsec_one", "whsec_two"]
    );

    // A second forced read within the interval does not call Secrets Manager.
    put(&arn, "whsec_three").await;
    assert!(secret.refresh().await.is_none());
    assert_eq!(
        list(&secret.current().await.unwrap()),
        ["whsec_one", "whsec_two"]
    );

    // Past its TTL the secret is read again on its own.
    let secret = secret.with_timing(Duration::ZERO, Duration::from_secs(3600));
    assert_eq!(list(&secret.current().await.unwrap()), ["whsec_three"]);
}

#[tokio::test]
async fn a_secret_not_filled_yet_starts_the_function_and_is_picked_up_once_stored() {
    let (name, arn) = rotating_secret(r#"{"key": ""}"#).await;
    let secret = Rotating::load(&name, &config().await, secrets::secret_list)
        .await
        .expect("an empty stack-created secret does not fail the cold start")
        .with_timing(Duration::from_secs(3600), Duration::ZERO);
    let not_set = secret.current().await.unwrap_err();
    assert_eq!(not_set.variable, format!("{name}_ARN"));
    assert!(not_set.to_string().contains("entitle setup --apply"));

    put(&arn, r#"{"key": "whsec_stored"}"#).await;
    // No TTL to wait for: a secret that is not set is read again on the next use.
    assert_eq!(list(&secret.current().await.unwrap()), ["whsec_stored"]);
}

#[tokio::test]
async fn a_missing_secret_and_a_bad_direct_value_fail_the_cold_start() {
    let config = config().await;
    let name = unique_id("ENTITLE_TEST_ROTATING_").to_uppercase();
    let missing = Rotating::load(&name, &config, secrets::secret_list)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains(&format!("{name}_ARN")));
    std::env::set_var(&name, " , ");
    let invalid = Rotating::load(&name, &config, secrets::secret_list)
        .await
        .unwrap_err();
    assert!(
        invalid.to_string().contains("no secret in the list"),
        "{invalid}"
    );
    let nowhere = format!("{name}_GONE");
    std::env::set_var(
        format!("{nowhere}_ARN"),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:entitle/none-AbCdEf",
    );
    assert!(Rotating::load(&nowhere, &config, secrets::one)
        .await
        .is_err());
}

#[tokio::test]
async fn the_stripe_client_reads_a_rolled_api_key_again_when_stripe_answers_401() {
    let fake = FakeStripe::start();
    // The key Stripe no longer accepts (a live-mode key, which the local Stripe refuses)...
    let (name, arn) = rotating_secret("sk_live_rolled_key_0000").await;
    let key = Rotating::load(&name, &config().await, secrets::one)
        .await
        .unwrap()
        .with_timing(Duration::from_secs(3600), Duration::ZERO);
    let stripe = StripeClient::new(key, &fake.base_url);
    let user = SubjectId::parse("user_rotation").unwrap();
    let refused = stripe.create_customer(&user, &unique_id("rotation-")).await;
    assert!(
        matches!(refused, Err(StripeError::Rejected { status: 401, .. })),
        "{refused:?}"
    );
    // ...then the new one is stored: the next call reads it on the 401 and succeeds, no new client.
    put(&arn, &fake.api_key).await;
    let customer = stripe
        .create_customer(&user, &unique_id("rotation-"))
        .await
        .expect("the call retried with the new key");
    assert!(customer.as_str().starts_with("cus_"));
}
