//! Configuration from the environment, read once per cold start. A secret is given directly (`NAME`, for
//! local development) or as `NAME_ARN`, a Secrets Manager secret holding a plain string or JSON
//! `{"key": "…"}`.
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set, and the function cannot start without it (see Configuration in the README)")]
    Missing(String),
    #[error("the environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    #[error("reading secret {name} from Secrets Manager failed")]
    SecretsManager {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub fn required(name: &str) -> Result<String, ConfigError> {
    optional(name).ok_or_else(|| ConfigError::Missing(name.to_owned()))
}

/// The variable's value, `None` when unset or blank.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn seconds(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                reason: "expected whole seconds".into(),
            }),
    }
}

/// The shared AWS SDK configuration: built once per cold start (it is the expensive part; clients made
/// from it are cheap). Honours `AWS_ENDPOINT_URL` for the local emulator.
pub async fn aws() -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build();
    // The SDK's own hyper 1 + rustls (aws-lc) client, trusting only AWS_ROOTS. Its default trusts the system's
    // roots, which it reads from the certificate files at every client's construction: that was most of a
    // cold start (measured 5.7 of 8.6 ms). The SDK builds a connector, parsing these roots, per client: so the
    // few AWS roots, not Mozilla's whole set.
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS);
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with a trust store is valid");
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https();
    // The timeouts above already end a stalled call; the SDK's stalled-stream watch would only add a timer
    // and a body wrapper to every request (measured: ~3% of a warm event's CPU).
    let stalled = aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(timeouts)
        .stalled_stream_protection(stalled)
        .load()
        .await
}

/// The roots every AWS endpoint's certificate chains to (Amazon Trust Services), compiled in.
const AWS_ROOTS: &[u8] = include_bytes!("adapters/aws-roots.pem");

/// Reads secret `name` from the environment or, through `NAME_ARN`, from Secrets Manager.
pub async fn secret(name: &str, aws: &SdkConfig) -> Result<SecretString, ConfigError> {
    if let Some(value) = optional(name) {
        return Ok(SecretString::from(value));
    }
    let arn_name = format!("{name}_ARN");
    let arn =
        optional(&arn_name).ok_or_else(|| ConfigError::Missing(format!("{name} or {arn_name}")))?;
    let text =
        crate::secrets::read_text(&aws_sdk_secretsmanager::Client::new(aws), &arn, &arn_name)
            .await?;
    if text.expose_secret().is_empty() {
        return Err(ConfigError::Invalid {
            name: arn_name,
            reason: "the secret is empty".into(),
        });
    }
    Ok(text)
}

/// A Secrets Manager value usable as a secret: the plain string, or the `key` field of a JSON object, not
/// empty (what [`secret`] accepts).
#[cfg(test)]
fn secret_value(raw: &str) -> Option<SecretString> {
    secret_text(raw).filter(|s| !s.expose_secret().is_empty())
}

/// A Secrets Manager value's text, trimmed: the plain string, or the `key` field of a JSON object — `""`
/// for a secret not filled yet (`{"key": ""}` or blank). `None`: JSON without a string `key`.
pub(crate) fn secret_text(raw: &str) -> Option<SecretString> {
    let trimmed = raw.trim();
    if !trimmed.starts_with('{') {
        return Some(SecretString::from(trimmed.to_owned()));
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    let key = value.get("key")?.as_str()?.trim();
    Some(SecretString::from(key.to_owned()))
}

/// A comma-separated list of secrets (several during a rotation).
pub fn secret_list(secret: &SecretString) -> Vec<SecretString> {
    secret
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()))
        .collect()
}

/// A broken catalog is a configuration error: it fails the cold start (and the deploy's smoke test).
impl From<entitle_domain::plans::CatalogError> for ConfigError {
    fn from(error: entitle_domain::plans::CatalogError) -> Self {
        ConfigError::Invalid {
            name: entitle_domain::plans::PLAN_CATALOG_ENV.into(),
            reason: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_is_a_plain_string_or_the_key_of_a_json_object() {
        assert_eq!(
            secret_value(" whsec_a ").unwrap().expose_secret(),
            "whsec_a"
        );
        assert_eq!(
            secret_value(r#"{"key": "whsec_b,whsec_c"}"#)
                .unwrap()
                .expose_secret(),
            "whsec_b,whsec_c"
        );
        assert!(secret_value(r#"{"other": "x"}"#).is_none());
        assert!(secret_value("").is_none());
    }

    #[test]
    fn the_compiled_in_aws_roots_are_the_five_amazon_trust_services_roots_of_mozillas_store() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let ders = CertificateDer::pem_slice_iter(AWS_ROOTS)
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(ders.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(ders);
        assert_eq!((valid, invalid), (5, 0));
        for root in &store.roots {
            assert!(
                webpki_roots::TLS_SERVER_ROOTS.iter().any(|mozilla| {
                    mozilla.subject == root.subject
                        && mozilla.subject_public_key_info == root.subject_public_key_info
                }),
                "a root of aws-roots.pem is not in Mozilla's root store"
            );
        }
    }

    #[test]
    fn a_secret_list_splits_on_commas_and_drops_blanks() {
        let list = secret_list(&SecretString::from("whsec_a, whsec_b,,".to_owned()));
        let exposed: Vec<_> = list.iter().map(|s| s.expose_secret().to_owned()).collect();
        assert_eq!(exposed, ["whsec_a", "whsec_b"]);
    }
}
