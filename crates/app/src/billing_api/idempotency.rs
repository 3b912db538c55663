//! A client's `Idempotency-Key` on a POST: the same key with the same body gets the first answer (kept 48 h in
//! the usage table, beside usage-api's records), the same key with another body `409 idempotency_conflict`.
//! Only successes are kept: a refusal (4xx) did nothing and our failures (5xx) are retried, so either runs again — under Stripe idempotency keys made from the
//! client's key, so what Stripe already did is replayed, never done twice.
use entitle_core::api_error::ApiError;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{Record, UsageStore, WriteOutcome};
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const RETENTION_SECS: i64 = 48 * 3600;
/// Stripe's own limit on an idempotency key.
const MAX_KEY_LEN: usize = 255;

/// A stored answer: its status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// The client's key, checked: 1 to 255 visible ASCII characters. It takes the header's bytes: a value that is
/// not ASCII (`café`) is refused, not taken for no key at all — a retry would otherwise run twice.
pub fn parse(raw: &[u8]) -> Result<&str, ApiError> {
    let key = raw.trim_ascii();
    match std::str::from_utf8(key) {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(key)
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

fn hex_digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// Where `key` of `scope` is kept, and the fingerprint of this request (route and body). The scope is the
/// user's id, or `org_…/user_…` when a member acts for an organization: two members who happen to send the
/// same key never share an answer (nor a Stripe write).
pub fn slot(scope: &str, key: &str, route: &str, body: &[u8]) -> (String, String) {
    (
        format!("api#{}", hex_digest(&[scope.as_bytes(), key.as_bytes()])),
        hex_digest(&[route.as_bytes(), body]),
    )
}

fn stored_answer(record: &Record, fingerprint: &str) -> Result<Answer, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this Idempotency-Key was used with another request",
        ));
    }
    let stored: Value = serde_json::from_str(&record.response).unwrap_or(Value::Null);
    Ok(Answer {
        status: stored["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(200),
        body: stored["body"].as_str().unwrap_or("{}").to_owned(),
    })
}

fn unavailable(e: entitle_domain::ports::StoreError) -> ApiError {
    tracing::error!(error = %e, "the idempotency store failed");
    ApiError::unavailable()
}

/// The answer already given under this key, if any (or the conflict of another body).
pub async fn prior(
    store: &dyn UsageStore,
    record_key: &str,
    fingerprint: &str,
) -> Result<Option<Answer>, ApiError> {
    match store.record(record_key).await.map_err(unavailable)? {
        Some(record) => stored_answer(&record, fingerprint).map(Some),
        None => Ok(None),
    }
}

/// Keeps `answer` under the key unless it is our failure (5xx); a twin that got there first wins, and its
/// answer is the one returned.
pub async fn remember(
    store: &dyn UsageStore,
    user: &SubjectId,
    (record_key, fingerprint): (&str, &str),
    answer: Answer,
    now: UnixTime,
) -> Result<Answer, ApiError> {
    // Only a success is kept. A refusal (4xx) changed nothing, so it is not kept either, as Stripe keeps no
    // result for a request that failed validation: the same key may be sent again once the request is fixed.
    // A 5xx may have done part of its work: its retry runs again, under the Stripe keys made from this key.
    if !(200..300).contains(&answer.status) {
        return Ok(answer);
    }
    let record = Record {
        key: record_key.to_owned(),
        user: user.clone(),
        fingerprint: fingerprint.to_owned(),
        response: json!({"status": answer.status, "body": answer.body}).to_string(),
        credits: 0,
        reason: "billing-api request".into(),
        at: now,
        expires_at: Some(UnixTime::from_secs(now.secs() + RETENTION_SECS)),
    };
    match store.put_record(&record).await.map_err(unavailable)? {
        WriteOutcome::Applied => Ok(answer),
        WriteOutcome::Conflict => match prior(store, record_key, fingerprint).await? {
            Some(first) => Ok(first),
            None => Ok(answer),
        },
    }
}

#[cfg(test)]
mod properties {
    use super::slot;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The same key with another body, route or scope is never taken for the same request, and the same
        /// request always is.
        #[test]
        fn a_slot_and_its_fingerprint_tell_requests_apart(
            scope in "(user|org)_[a-zA-Z0-9]{1,12}",
            key in "[!-~]{1,20}",
            route in prop::sample::select(vec!["checkout", "portal", "cancel", "resume", "change"]),
            body in prop::collection::vec(any::<u8>(), 0..64),
            other in prop::collection::vec(any::<u8>(), 0..64),
            other_key in "[!-~]{1,20}",
        ) {
            let (place, print) = slot(&scope, &key, route, &body);
            prop_assert_eq!(slot(&scope, &key, route, &body), (place.clone(), print.clone()));
            prop_assert_eq!(slot(&scope, &key, route, &other).1 == print, other == body);
            prop_assert_eq!(slot(&scope, &other_key, route, &body).0 == place, other_key == key);
            let elsewhere = slot(&format!("{scope}/user_x"), &key, route, &body).0;
            prop_assert_ne!(elsewhere, place);
            for another in ["checkout", "portal", "cancel", "resume", "change"] {
                prop_assert_eq!(slot(&scope, &key, another, &body).1 == print, another == route);
            }
        }
    }
}
