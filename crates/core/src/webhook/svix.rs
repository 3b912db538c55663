//! Svix webhook verification (Clerk signs its webhooks with Svix): `svix-id`, `svix-timestamp`,
//! `svix-signature` (or the unbranded `webhook-*` names). Signed content `{id}.{timestamp}.{body}`, HMAC-SHA256
//! keyed with the base64-decoded secret after `whsec_`; the signature header is a space-separated list of
//! `v1,<base64>` and any of them may match any configured secret (rotation).
use super::SignatureError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use entitle_domain::time::UnixTime;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A decoded Svix signing key.
pub struct SvixKey(SecretSlice<u8>);

#[derive(Debug, thiserror::Error)]
#[error("a Svix secret must be whsec_ followed by base64")]
pub struct InvalidSvixSecret;

impl SvixKey {
    pub fn parse(secret: &SecretString) -> Result<Self, InvalidSvixSecret> {
        let raw = secret.expose_secret().trim();
        let encoded = raw.strip_prefix("whsec_").unwrap_or(raw);
        let bytes = STANDARD.decode(encoded).map_err(|_| InvalidSvixSecret)?;
        if bytes.is_empty() {
            return Err(InvalidSvixSecret);
        }
        Ok(Self(bytes.into()))
    }
}

/// The three headers, as received (either naming).
#[derive(Debug, Clone, Copy, Default)]
pub struct SvixHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

pub fn verify(
    body: &[u8],
    headers: &SvixHeaders<'_>,
    keys: &[SvixKey],
    now: UnixTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let (Some(id), Some(timestamp), Some(signature)) =
        (headers.id, headers.timestamp, headers.signature)
    else {
        return Err(SignatureError::Missing);
    };
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let signatures: Vec<[u8; 32]> = signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| {
            let mut sig = [0u8; 32];
            match STANDARD.decode_slice(b64, &mut sig) {
                Ok(32) => Some(sig),
                _ => None,
            }
        })
        .collect();
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = keys.iter().any(|key| {
        let tag = sign_raw(key.0.expose_secret(), id, timestamp.trim(), body);
        signatures
            .iter()
            .fold(0u8, |any, sig| any | tag.ct_eq(sig).unwrap_u8())
            == 1
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now.secs().abs_diff(t) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The `svix-signature` value Svix would send — for tests and local tools.
pub fn sign(body: &[u8], secret: &str, id: &str, timestamp: i64) -> String {
    let key =
        SvixKey::parse(&SecretString::from(secret.to_owned())).expect("a valid whsec_ secret");
    let tag = sign_raw(key.0.expose_secret(), id, &timestamp.to_string(), body);
    format!("v1,{}", STANDARD.encode(tag))
}

fn sign_raw(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Svix's published test vector.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn keys(secrets: &[&str]) -> Vec<SvixKey> {
        secrets
            .iter()
            .map(|s| SvixKey::parse(&SecretString::from(s.to_string())).unwrap())
            .collect()
    }

    fn check(signature: &str, secrets: &[&str], now: i64) -> Result<(), SignatureError> {
        let ts = TIMESTAMP.to_string();
        let headers = SvixHeaders {
            id: Some(ID),
            timestamp: Some(&ts),
            signature: Some(signature),
        };
        verify(
            BODY,
            &headers,
            &keys(secrets),
            UnixTime::from_secs(now),
            DEFAULT_TOLERANCE,
        )
    }

    #[test]
    fn svix_published_test_vector_verifies_and_signs_identically() {
        assert_eq!(check(SIGNATURE, &[SECRET], TIMESTAMP), Ok(()));
        assert_eq!(sign(BODY, SECRET, ID, TIMESTAMP), SIGNATURE);
    }

    #[test]
    fn any_listed_signature_may_match_any_configured_secret() {
        let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let header = format!("v1,{} v2,abc {SIGNATURE}", STANDARD.encode([7u8; 32]));
        assert_eq!(check(&header, &[other, SECRET], TIMESTAMP), Ok(()));
        assert_eq!(
            check(&header, &[other], TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_in_either_direction_are_stale() {
        assert_eq!(check(SIGNATURE, &[SECRET], TIMESTAMP + 300), Ok(()));
        assert_eq!(
            check(SIGNATURE, &[SECRET], TIMESTAMP + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(SIGNATURE, &[SECRET], TIMESTAMP - 301),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn missing_headers_and_unparseable_values_are_rejected() {
        let headers = SvixHeaders {
            id: Some(ID),
            timestamp: None,
            signature: Some(SIGNATURE),
        };
        assert_eq!(
            verify(
                BODY,
                &headers,
                &keys(&[SECRET]),
                UnixTime::from_secs(TIMESTAMP),
                DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check("v1,not-base64!", &[SECRET], TIMESTAMP),
            Err(SignatureError::Malformed)
        );
        assert!(SvixKey::parse(&SecretString::from("whsec_***".to_owned())).is_err());
    }
}
