//! Stripe webhook verification (`Stripe-Signature: t=…,v1=…[,v1=…]`) and the event envelope.
//!
//! Every `v1` is checked against every configured secret, so a secret rotation (Stripe signs with both
//! secrets for a while) never drops an event; async-stripe's verifier keeps only the last `v1`.
use crate::webhook::SignatureError;
use entitle_domain::time::UnixTime;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The part of a Stripe event every API version shares. `data.object` stays raw until the normalizer
/// reads the fields it needs, so unknown or changed fields never break verification.
#[derive(Debug, Deserialize)]
pub struct StripeEnvelope<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(borrow)]
    pub data: EnvelopeData<'a>,
}

#[derive(Debug, Deserialize)]
pub struct EnvelopeData<'a> {
    #[serde(borrow)]
    pub object: &'a RawValue,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the payload is not a Stripe event")]
    Malformed(#[source] serde_json::Error),
}

/// Verifies `body` against the `Stripe-Signature` header, then reads its envelope.
pub fn verify<'a>(
    body: &'a [u8],
    header: Option<&str>,
    secrets: &[SecretString],
    now: UnixTime,
    tolerance: Duration,
) -> Result<StripeEnvelope<'a>, VerifyError> {
    verify_signature(body, header, secrets, now, tolerance)?;
    serde_json::from_slice(body).map_err(VerifyError::Malformed)
}

pub fn verify_signature(
    body: &[u8],
    header: Option<&str>,
    secrets: &[SecretString],
    now: UnixTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = parse_header(header)?;
    if !secrets
        .iter()
        .any(|secret| matches(secret, parsed.timestamp, body, &parsed.signatures))
    {
        return Err(SignatureError::Mismatch);
    }
    let t: i64 = parsed
        .timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    if now.secs().abs_diff(t) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The header Stripe would send for `body` at `timestamp` — for tests, the local tools and benchmarks.
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let t = timestamp.to_string();
    let tag = hmac(secret.as_bytes(), &t, body);
    format!("t={t},v1={}", hex::encode(tag))
}

struct Header<'h> {
    timestamp: &'h str,
    signatures: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<Header<'_>, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::with_capacity(2);
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => {
                let mut sig = [0u8; 32];
                // A v1 that isn't 32 bytes of hex can't match; other v1s may still.
                if hex::decode_to_slice(value, &mut sig).is_ok() {
                    signatures.push(sig);
                }
            }
            _ => {} // v0 and future schemes
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok(Header {
        timestamp,
        signatures,
    })
}

fn matches(secret: &SecretString, timestamp: &str, body: &[u8], signatures: &[[u8; 32]]) -> bool {
    let tag = hmac(secret.expose_secret().as_bytes(), timestamp, body);
    signatures
        .iter()
        .fold(0u8, |any, sig| any | tag.ct_eq(sig).unwrap_u8())
        == 1
}

fn hmac(key: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] =
        br#"{"id":"evt_1","type":"invoice.paid","created":1700000000,"livemode":false,"data":{"object":{"id":"in_1"}}}"#;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    fn check(header: &str, secret_list: &[&str], now: i64) -> Result<(), SignatureError> {
        verify_signature(
            BODY,
            Some(header),
            &secrets(secret_list),
            UnixTime::from_secs(now),
            DEFAULT_TOLERANCE,
        )
    }

    #[test]
    fn a_correctly_signed_payload_is_accepted_and_its_envelope_read() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        let envelope = verify(
            BODY,
            Some(&header),
            &secrets(&[SECRET]),
            UnixTime::from_secs(1_700_000_100),
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        assert_eq!(envelope.id, "evt_1");
        assert_eq!(envelope.event_type, "invoice.paid");
        assert_eq!(envelope.data.object.get(), r#"{"id":"in_1"}"#);
    }

    #[test]
    fn any_v1_may_match_any_configured_secret() {
        let good = sign(BODY, "whsec_new", 1_700_000_000);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1700000000,v1={},v0=abc,v1={good_sig}", "ab".repeat(32));
        assert_eq!(
            check(&header, &["whsec_old", "whsec_new"], 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            check(&header, &["whsec_old"], 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale_in_both_directions() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(check(&header, &[SECRET], 1_700_000_300), Ok(()));
        assert_eq!(
            check(&header, &[SECRET], 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(&header, &[SECRET], 1_699_999_699),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_signature_over_another_timestamp_does_not_match() {
        let header = sign(BODY, SECRET, 1_700_000_000).replace("t=1700000000", "t=1700000001");
        assert_eq!(
            check(&header, &[SECRET], 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_told_apart_from_wrong_signatures() {
        assert_eq!(check("", &[SECRET], 0), Err(SignatureError::Malformed));
        assert_eq!(
            check("t=1700000000", &[SECRET], 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check("v1=00,t=abc", &[SECRET], 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(
                BODY,
                None,
                &secrets(&[SECRET]),
                UnixTime::from_secs(0),
                DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_signed_body_that_is_not_json_is_malformed_not_unsigned() {
        let body = b"not json";
        let header = sign(body, SECRET, 1_700_000_000);
        let err = verify(
            body,
            Some(&header),
            &secrets(&[SECRET]),
            UnixTime::from_secs(1_700_000_000),
            DEFAULT_TOLERANCE,
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::Malformed(_)));
    }
}
