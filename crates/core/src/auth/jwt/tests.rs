//! The session-token checks, case by case, on tokens signed with the test keys.
use super::*;
pub(crate) use entitle_test_support::jwt::{
    public_key_components, rs256_header, sign_hs256, sign_rs256, KEY_1, KEY_2,
};
use entitle_test_support::jwt::{replace_payload, unsigned};
use serde_json::json;

pub(crate) const JWKS: &str = include_str!("../../../../../fixtures/jwt/jwks.json");
pub(crate) const JWKS_ROTATED: &str = include_str!("../../../../../fixtures/jwt/jwks-rotated.json");
pub(crate) const ISSUER: &str = "https://clerk.example.com";
pub(crate) const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
pub(crate) const APP: &str = "https://app.example.com";
pub(crate) const NOW: i64 = 1_795_341_600;
const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

pub(crate) fn claims() -> Value {
    json!({
        "sub": USER, "iss": ISSUER, "azp": APP, "sid": "sess_2xyz",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60,
    })
}

pub(crate) fn rs256(claims: &Value) -> String {
    sign_rs256(KEY_1, &rs256_header("test-key-1"), claims)
}

fn key() -> RsaKey {
    let (n, e) = public_key_components();
    RsaKey::from_components(&n, &e).unwrap()
}

fn policy() -> Policy {
    Policy::new(Some(ISSUER.into()), vec![])
}

fn verify(token: &str, policy: &Policy, now: i64) -> Result<Claims, AuthError> {
    Token::parse(token)?.verify_rs256(&key(), policy, UnixTime::from_secs(now))
}

fn hs256(token: &str, policy: &Policy) -> Result<Claims, AuthError> {
    Token::parse(token)?.verify_hs256(
        &SecretString::from(SECRET),
        policy,
        UnixTime::from_secs(NOW),
    )
}

#[track_caller]
fn assert_rejected(result: Result<Claims, AuthError>, expected: AuthError) {
    match result {
        Ok(claims) => panic!("expected {expected:?}, the token was accepted: {claims:?}"),
        Err(error) => assert_eq!(error.reason(), expected.reason(), "{error:?}"),
    }
}

fn with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[test]
fn a_valid_rs256_token_yields_its_claims() {
    let claims = verify(&rs256(&claims()), &policy(), NOW).unwrap();
    assert_eq!(
        claims,
        Claims {
            sub: UserId::parse(USER).unwrap(),
            sid: Some("sess_2xyz".into()),
            azp: Some(APP.into()),
            exp: NOW + 60,
            iat: Some(NOW - 10),
            nbf: Some(NOW - 10),
            email: None,
            org: None,
        }
    );
}

#[test]
fn a_v1_token_names_the_active_organization_its_role_and_permissions() {
    let token = rs256(&with(json!({
        "org_id": "org_2team", "org_role": "org:admin", "org_slug": "acme",
        "org_permissions": ["org:reports:read"],
    })));
    let org = verify(&token, &policy(), NOW).unwrap().org.unwrap();
    assert_eq!(org.id.as_str(), "org_2team");
    assert_eq!(org.role, "org:admin");
    assert_eq!(org.slug.as_deref(), Some("acme"));
    assert_eq!(org.permissions, vec!["org:reports:read".to_string()]);
}

#[test]
fn a_v2_token_names_the_active_organization_and_its_compact_permissions_are_expanded() {
    // Clerk's documented example: features dashboard and impersonation; masks 3 (read, manage) and 2
    // (manage); the role without its prefix.
    let token = rs256(&with(json!({
        "v": 2, "fea": "o:dashboard,u:export,o:impersonation",
        "o": {"id": "org_2team", "rol": "admin", "slg": "acme", "per": "read,manage", "fpm": "3,2"},
    })));
    let org = verify(&token, &policy(), NOW).unwrap().org.unwrap();
    assert_eq!(org.id.as_str(), "org_2team");
    assert_eq!(org.role, "org:admin");
    assert_eq!(
        org.permissions,
        vec![
            "org:dashboard:read".to_string(),
            "org:dashboard:manage".to_string(),
            "org:impersonation:manage".to_string(),
        ]
    );
}

#[test]
fn a_token_without_an_organization_acts_for_the_user_and_a_bad_organization_id_refuses_it() {
    assert_eq!(verify(&rs256(&claims()), &policy(), NOW).unwrap().org, None);
    for bad in [
        json!({"org_id": "user_2x"}),
        json!({"o": {"id": "org_1;drop"}}),
    ] {
        let token = rs256(&with(bad));
        assert_rejected(
            verify(&token, &policy(), NOW),
            AuthError::InvalidOrganization,
        );
    }
}

#[test]
fn an_email_claim_is_read_when_the_template_adds_one() {
    let token = rs256(&with(json!({"email": "ada@example.com"})));
    let claims = verify(&token, &policy(), NOW).unwrap();
    assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
}

#[test]
fn a_token_expired_beyond_the_leeway_is_rejected() {
    let token = rs256(&with(json!({"exp": NOW - 6})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::Expired);
    let token = rs256(&with(json!({"exp": NOW - 5})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::Expired);
}

#[test]
fn a_token_expired_within_the_leeway_is_accepted() {
    let token = rs256(&with(json!({"exp": NOW - 4})));
    assert!(verify(&token, &policy(), NOW).is_ok());
}

#[test]
fn a_token_without_an_expiry_is_malformed() {
    let token = rs256(&with(json!({"exp": null})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::Malformed);
}

#[test]
fn a_token_not_yet_valid_beyond_the_leeway_is_rejected() {
    let token = rs256(&with(json!({"nbf": NOW + 6, "iat": NOW})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::NotYetValid);
    let token = rs256(&with(json!({"nbf": NOW + 5})));
    assert!(verify(&token, &policy(), NOW).is_ok());
}

#[test]
fn a_token_issued_in_the_future_is_not_yet_valid() {
    let token = rs256(&with(json!({"iat": NOW + 60, "nbf": null})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::NotYetValid);
}

#[test]
fn only_the_injected_clock_decides_whether_a_token_is_current() {
    // Decades in the past and centuries ahead of the system clock: only the `now` given counts.
    let (past, future) = (1_000, 32_503_680_000);
    for now in [past, future] {
        let token = rs256(&with(json!({"iat": now, "nbf": now, "exp": now + 60})));
        assert!(verify(&token, &policy(), now).is_ok(), "at {now}");
        assert_rejected(verify(&token, &policy(), now + 65), AuthError::Expired);
        assert_rejected(verify(&token, &policy(), now - 6), AuthError::NotYetValid);
    }
}

#[test]
fn fractional_times_are_accepted() {
    let token = rs256(&with(json!({"exp": (NOW + 60) as f64 + 0.5})));
    assert_eq!(verify(&token, &policy(), NOW).unwrap().exp, NOW + 60);
}

#[test]
fn a_token_from_another_issuer_is_rejected() {
    let token = rs256(&with(json!({"iss": "https://clerk.attacker.example"})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::WrongIssuer);
    let token = rs256(&with(json!({"iss": format!("{ISSUER}/")})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::WrongIssuer);
    let token = rs256(&with(json!({"iss": null})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::WrongIssuer);
}

#[test]
fn an_azp_outside_the_allowed_parties_is_rejected() {
    let policy = Policy::new(Some(ISSUER.into()), vec![APP.into()]);
    let token = rs256(&with(json!({"azp": "https://evil.example.com"})));
    assert_rejected(verify(&token, &policy, NOW), AuthError::WrongParty);
    let token = rs256(&with(json!({"azp": null})));
    assert_rejected(verify(&token, &policy, NOW), AuthError::WrongParty);
}

#[test]
fn an_azp_among_the_allowed_parties_is_accepted() {
    let policy = Policy::new(
        Some(ISSUER.into()),
        vec!["http://localhost:3000".into(), APP.into()],
    );
    assert!(verify(&rs256(&claims()), &policy, NOW).is_ok());
}

#[test]
fn any_azp_is_accepted_when_no_parties_are_configured() {
    let token = rs256(&with(json!({"azp": "https://anywhere.example.com"})));
    assert!(verify(&token, &policy(), NOW).is_ok());
    let token = rs256(&with(json!({"azp": null})));
    assert!(verify(&token, &policy(), NOW).is_ok());
}

#[test]
fn a_token_without_a_subject_is_rejected() {
    let token = rs256(&with(json!({"sub": null})));
    assert_rejected(verify(&token, &policy(), NOW), AuthError::InvalidSubject);
}

#[test]
fn a_subject_that_is_not_a_user_id_is_rejected() {
    for sub in ["org_2abc", "", "user_1 OR 1=1"] {
        let token = rs256(&with(json!({ "sub": sub })));
        assert_rejected(verify(&token, &policy(), NOW), AuthError::InvalidSubject);
    }
}

#[test]
fn alg_none_is_rejected_with_or_without_a_signature_part() {
    let token = unsigned(r#"{"alg":"none","typ":"JWT"}"#, &claims());
    assert_rejected(
        verify(&format!("{token}."), &policy(), NOW),
        AuthError::UnsupportedAlgorithm,
    );
    assert_rejected(verify(&token, &policy(), NOW), AuthError::Malformed);
    let token = unsigned(r#"{"alg":"None"}"#, &claims());
    assert_rejected(
        verify(&format!("{token}.c2ln"), &policy(), NOW),
        AuthError::UnsupportedAlgorithm,
    );
}

#[test]
fn an_hs256_token_signed_with_the_public_modulus_is_rejected_by_rs256_verification() {
    let (n, _) = public_key_components();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "test-key-1"});
    for secret in [n.as_slice(), JWKS.as_bytes(), SECRET.as_bytes()] {
        let token = sign_hs256(secret, &header, &claims());
        assert_rejected(
            verify(&token, &policy(), NOW),
            AuthError::UnsupportedAlgorithm,
        );
    }
}

#[test]
fn an_rs256_token_is_rejected_by_hs256_verification() {
    assert_rejected(
        hs256(&rs256(&claims()), &policy()),
        AuthError::UnsupportedAlgorithm,
    );
}

#[test]
fn a_valid_hs256_token_yields_its_claims() {
    let token = sign_hs256(
        SECRET.as_bytes(),
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims(),
    );
    assert_eq!(hs256(&token, &policy()).unwrap().sub.as_str(), USER);
}

#[test]
fn an_hs256_token_signed_with_another_secret_is_rejected() {
    let token = sign_hs256(
        b"another-secret-of-at-least-32-bytes!",
        &json!({"alg": "HS256"}),
        &claims(),
    );
    assert_rejected(hs256(&token, &policy()), AuthError::BadSignature);
}

#[test]
fn a_tampered_payload_is_a_bad_signature() {
    let token = rs256(&claims());
    let tampered = replace_payload(&token, &with(json!({"sub": "user_someoneElse"})));
    assert_rejected(verify(&tampered, &policy(), NOW), AuthError::BadSignature);
}

#[test]
fn a_token_signed_with_another_key_is_a_bad_signature() {
    let token = sign_rs256(KEY_2, &rs256_header("test-key-1"), &claims());
    assert_rejected(verify(&token, &policy(), NOW), AuthError::BadSignature);
}

#[test]
fn a_typ_other_than_jwt_is_rejected() {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "test-key-1"});
    let token = sign_rs256(KEY_1, &header, &claims());
    assert_rejected(verify(&token, &policy(), NOW), AuthError::WrongType);
}

#[test]
fn an_absent_typ_is_accepted() {
    let header = json!({"alg": "RS256", "kid": "test-key-1"});
    assert!(verify(&sign_rs256(KEY_1, &header, &claims()), &policy(), NOW).is_ok());
}

#[test]
fn a_critical_header_extension_is_rejected() {
    let header = json!({"alg": "RS256", "kid": "test-key-1", "crit": ["exp"], "exp": 1});
    let token = sign_rs256(KEY_1, &header, &claims());
    assert_rejected(verify(&token, &policy(), NOW), AuthError::Malformed);
}

#[test]
fn garbage_tokens_are_malformed() {
    let valid = rs256(&claims());
    let oversized = format!("{valid}{}", "A".repeat(MAX_TOKEN_BYTES));
    let padded = format!("{valid}=");
    for garbage in [
        "",
        "a.b",
        "a.b.c.d",
        "...",
        "!!!.###.$$$",
        "eyJhbGciOiJSUzI1NiJ9..c2ln",
        "bm90IGpzb24.e30.c2ln",
        &padded,
        &oversized,
    ] {
        assert_rejected(verify(garbage, &policy(), NOW), AuthError::Malformed);
    }
}

#[test]
fn keys_outside_2048_to_8192_bits_are_refused() {
    let (n, e) = public_key_components();
    assert_eq!(
        RsaKey::from_components(&n[..128], &e).unwrap_err(),
        InvalidKey("modulus is not 2048 to 8192 bits")
    );
    let mut padded = vec![0, 0];
    padded.extend_from_slice(&n);
    assert!(RsaKey::from_components(&padded, &e).is_ok());
}
