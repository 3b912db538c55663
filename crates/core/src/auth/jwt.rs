//! Session-token checks around `jsonwebtoken`, which splits the compact JWS, verifies the RS256 or HS256
//! signature before a claim is read, and checks `iss` and that `exp` and `sub` are there. Kept by hand is
//! only what it does not do: refusing `alg: none`, a `typ` other than JWT or any `crit` before a key is looked
//! up; `exp`, `nbf` and `iat` against the injected clock (its own time checks read the system clock, so
//! they are off); the `azp` allow-list; `sub` as a Clerk user id.
use super::AuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entitle_domain::ids::{OrgId, UserId};
use entitle_domain::time::UnixTime;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Clock skew tolerated on `exp`, `nbf` and `iat` (Clerk's SDKs use 5 s too).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// Clerk's session tokens are about 1 KB; anything much larger is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `iss` must equal this exactly, when set.
    pub issuer: Option<String>,
    /// When not empty, `azp` must be present and one of these origins (Clerk sets it to the page's origin,
    /// which is what stops a token minted on another site being replayed here).
    pub authorized_parties: Vec<String>,
    pub leeway: Duration,
}

impl Policy {
    pub fn new(issuer: Option<String>, authorized_parties: Vec<String>) -> Self {
        Self {
            issuer,
            authorized_parties,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// What `jsonwebtoken` checks for us: the one algorithm, `exp` and `sub` present, `iss` present and
    /// exact when an issuer is set. No time checks (they would read the system clock) and no `aud` (Clerk
    /// pins the audience with `azp`, checked by hand).
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

/// The claims of a verified Clerk session token that the API uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: UserId,
    /// The Clerk session id (`sess_…`).
    pub sid: Option<String>,
    /// The origin the token was minted for.
    pub azp: Option<String>,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    /// Only when the instance's session-token template adds it.
    pub email: Option<String>,
    /// The session's active organization, when it has one (Clerk's v1 `org_*` claims or v2's `o`).
    pub org: Option<ActiveOrganization>,
}

/// The active organization of a session, as its token states it. Clerk issues it only for an organization
/// the user is a member of. Its permissions are the custom ones only: Clerk leaves the system permissions
/// (`org:sys_*`, e.g. `org:sys_billing:manage`) out of session tokens, so a check of those asks Clerk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrganization {
    pub id: OrgId,
    /// `org:admin`, `org:member` or a custom role, always with its `org:` prefix (v2 leaves it off).
    pub role: String,
    pub slug: Option<String>,
    /// `org:<feature>:<permission>`, e.g. `org:reports:read`.
    pub permissions: Vec<String>,
}

/// Clerk's v2 organization claim: `{"id", "rol", "slg", "per", "fpm"}`.
#[derive(Deserialize)]
struct OrgClaimV2 {
    id: String,
    #[serde(default)]
    rol: Option<String>,
    #[serde(default)]
    slg: Option<String>,
    /// The permission names of the organization's features, comma-separated (`read,manage`).
    #[serde(default)]
    per: Option<String>,
    /// Per organization feature of `fea` (in order), a bit mask over `per`: bit i set = `per[i]` granted.
    #[serde(default)]
    fpm: Option<String>,
}

/// v2's compact permissions back to `org:<feature>:<permission>`: `fea` lists the features with their scope
/// (`o:reports,u:export`; `o` is the organization's), and `fpm`'s n-th number is the n-th organization
/// feature's mask over `per`, least significant bit first.
fn v2_permissions(fea: Option<&str>, per: Option<&str>, fpm: Option<&str>) -> Vec<String> {
    let (Some(fea), Some(per), Some(fpm)) = (fea, per, fpm) else {
        return Vec::new();
    };
    let names: Vec<&str> = per
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let features = fea.split(',').filter_map(|f| {
        let (scope, name) = f.trim().split_once(':')?;
        scope.contains('o').then_some(name)
    });
    let masks = fpm.split(',').map(|m| m.trim().parse::<u64>().unwrap_or(0));
    let mut permissions = Vec::new();
    for (feature, mask) in features.zip(masks) {
        for (bit, name) in names.iter().enumerate().take(64) {
            if mask & (1 << bit) != 0 {
                permissions.push(format!("org:{feature}:{name}"));
            }
        }
    }
    permissions
}

fn with_org_prefix(role: String) -> String {
    if role.starts_with("org:") {
        role
    } else {
        format!("org:{role}")
    }
}

/// An RSA public key from a JWK, checked once when the JWKS is read and shared by every verification after.
#[derive(Clone)]
pub struct RsaKey {
    key: DecodingKey,
    bits: usize,
}

/// Why a JWK could not become an [`RsaKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable RSA key: {0}")]
pub struct InvalidKey(pub &'static str);

impl RsaKey {
    /// From the big-endian modulus and exponent (a JWK's `n` and `e`, decoded). Keys outside 2048–8192
    /// bits, which aws-lc would refuse at every verification, are refused here, once.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, InvalidKey> {
        // aws-lc refuses leading zero bytes, which some JWKS writers leave in.
        let strip = |bytes: &[u8]| -> Vec<u8> {
            let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
            bytes[start..].to_vec()
        };
        let (n, e) = (strip(n), strip(e));
        let Some(&first) = n.first() else {
            return Err(InvalidKey("empty modulus"));
        };
        let bits = n.len() * 8 - first.leading_zeros() as usize;
        if !(2048..=8192).contains(&bits) {
            return Err(InvalidKey("modulus is not 2048 to 8192 bits"));
        }
        if e.is_empty() {
            return Err(InvalidKey("empty exponent"));
        }
        Ok(Self {
            key: DecodingKey::from_rsa_raw_components(&n, &e),
            bits,
        })
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey").field("bits", &self.bits).finish()
    }
}

/// A token whose shape and header have been checked, but whose signature and claims have not.
pub struct Token<'a> {
    token: &'a str,
    header: Header,
}

impl<'a> Token<'a> {
    /// Checks the shape: at most [`MAX_TOKEN_BYTES`], three base64url parts with a payload and a signature,
    /// a JSON header with an algorithm `jsonwebtoken` knows (so never `none`), `typ` absent or `JWT`, no
    /// `crit`.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [encoded_header, payload, signature] = parts[..] else {
            return Err(AuthError::Malformed);
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unreadable_header(encoded_header))?;
        if header
            .typ
            .as_deref()
            .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
        {
            return Err(AuthError::WrongType);
        }
        // RFC 7515 §4.1.11: a token naming extensions we must understand cannot be accepted.
        // `jsonwebtoken` accepts `crit: ["b64"]`; Clerk never sends one, so none is accepted here.
        if header.crit.is_some() || payload.is_empty() || signature.is_empty() {
            return Err(AuthError::Malformed);
        }
        Ok(Self { token, header })
    }

    /// The header's `kid`, to look the key up.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// Refuses a token signed with anything but `alg`. Checking the algorithm against the configuration,
    /// never trusting the header's choice, is what defeats algorithm confusion: an HS256 token "signed"
    /// with an RSA public key is refused here, before any key is fetched.
    pub fn expect(&self, alg: Algorithm) -> Result<(), AuthError> {
        if self.header.alg == alg {
            Ok(())
        } else {
            Err(AuthError::UnsupportedAlgorithm)
        }
    }

    pub fn verify_rs256(
        &self,
        key: &RsaKey,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Claims, AuthError> {
        self.verify(Algorithm::RS256, &key.key, policy, now)
    }

    pub fn verify_hs256(
        &self,
        secret: &SecretString,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Claims, AuthError> {
        // An empty secret is refused by `jsonwebtoken` itself, and by the configuration before that.
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
            .map_err(|_| AuthError::BadSignature)?;
        self.verify(Algorithm::HS256, &key, policy, now)
    }

    fn verify(
        &self,
        alg: Algorithm,
        key: &DecodingKey,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Claims, AuthError> {
        self.expect(alg)?;
        let raw: RawClaims = jsonwebtoken::decode(self.token, key, &policy.validation(alg))
            .map_err(refusal)?
            .claims;
        raw.check(policy, now)
    }
}

/// A header `jsonwebtoken` cannot read: an algorithm it does not know (`none`, `None`, `HS999`) is
/// [`AuthError::UnsupportedAlgorithm`], anything else (not base64url, not JSON, no `alg`) is malformed.
fn unreadable_header(encoded: &str) -> AuthError {
    #[derive(Deserialize)]
    struct Alg {
        alg: String,
    }
    let alg = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice::<Alg>(&json).ok());
    match alg {
        Some(Alg { alg }) if alg.parse::<Algorithm>().is_err() => AuthError::UnsupportedAlgorithm,
        _ => AuthError::Malformed,
    }
}

/// Why `jsonwebtoken` refused a token whose header we had already accepted.
fn refusal(error: JwtError) -> AuthError {
    let refusal = match error.kind() {
        ErrorKind::InvalidSignature | ErrorKind::InvalidKeyFormat | ErrorKind::InvalidRsaKey(_) => {
            AuthError::BadSignature
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => AuthError::UnsupportedAlgorithm,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            match claim.as_str() {
                "iss" => AuthError::WrongIssuer,
                "sub" => AuthError::InvalidSubject,
                // A token that never expires is not a session token.
                _ => AuthError::Malformed,
            }
        }
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        // Base64, JSON, UTF-8, a bad `b64` header: not a token.
        _ => AuthError::Malformed,
    };
    tracing::debug!(error = %error, reason = refusal.reason(), "session token refused");
    refusal
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    exp: Option<NumericDate>,
    #[serde(default)]
    nbf: Option<NumericDate>,
    #[serde(default)]
    iat: Option<NumericDate>,
    /// Custom claim, so whatever its shape in a template it never makes a valid token invalid.
    #[serde(default)]
    email: Option<Value>,
    /// v1's active organization.
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    org_role: Option<String>,
    #[serde(default)]
    org_slug: Option<String>,
    #[serde(default)]
    org_permissions: Option<Vec<String>>,
    /// v2's active organization, and its features (`fea`) that its compact permissions refer to.
    #[serde(default)]
    o: Option<OrgClaimV2>,
    #[serde(default)]
    fea: Option<String>,
}

impl RawClaims {
    /// Only ever called once the signature, `iss` and the presence of `exp` and `sub` have been checked.
    fn check(self, policy: &Policy, now: UnixTime) -> Result<Claims, AuthError> {
        let leeway = i64::try_from(policy.leeway.as_secs()).unwrap_or(i64::MAX);
        let now = now.secs();
        let exp = self.exp.ok_or(AuthError::Malformed)?.0;
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        let not_before = [self.nbf, self.iat].into_iter().flatten().map(|t| t.0);
        for t in not_before {
            if t > now.saturating_add(leeway) {
                return Err(AuthError::NotYetValid);
            }
        }
        if !policy.authorized_parties.is_empty()
            && !self
                .azp
                .as_ref()
                .is_some_and(|azp| policy.authorized_parties.contains(azp))
        {
            return Err(AuthError::WrongParty);
        }
        let org = self.organization()?;
        let sub = self
            .sub
            .and_then(|sub| UserId::parse(sub).ok())
            .ok_or(AuthError::InvalidSubject)?;
        Ok(Claims {
            sub,
            sid: self.sid,
            azp: self.azp,
            exp,
            iat: self.iat.map(|t| t.0),
            nbf: self.nbf.map(|t| t.0),
            email: self.email.and_then(|v| v.as_str().map(str::to_owned)),
            org,
        })
    }

    /// v2's `o` when present, else v1's `org_id`; an organization id that is not one refuses the token (it
    /// would decide whose billing the request acts on).
    fn organization(&self) -> Result<Option<ActiveOrganization>, AuthError> {
        if let Some(o) = &self.o {
            let id = OrgId::parse(o.id.clone()).map_err(|_| AuthError::InvalidOrganization)?;
            return Ok(Some(ActiveOrganization {
                id,
                role: with_org_prefix(o.rol.clone().unwrap_or_default()),
                slug: o.slg.clone(),
                permissions: v2_permissions(
                    self.fea.as_deref(),
                    o.per.as_deref(),
                    o.fpm.as_deref(),
                ),
            }));
        }
        let Some(id) = &self.org_id else {
            return Ok(None);
        };
        let id = OrgId::parse(id.clone()).map_err(|_| AuthError::InvalidOrganization)?;
        Ok(Some(ActiveOrganization {
            id,
            role: with_org_prefix(self.org_role.clone().unwrap_or_default()),
            slug: self.org_slug.clone(),
            permissions: self.org_permissions.clone().unwrap_or_default(),
        }))
    }
}

/// RFC 7519 NumericDate: seconds, possibly fractional; fractions are dropped. (`jsonwebtoken` reads them as
/// unsigned and rounds, and only for its own time checks, which are off.)
#[derive(Clone, Copy)]
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        number
            .as_i64()
            // `as` saturates, so an absurd float cannot wrap around into the past.
            .or_else(|| number.as_f64().map(|f| f.floor() as i64))
            .map(NumericDate)
            .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use entitle_test_support::jwt::{
        public_key_components, rs256_header, sign_hs256, sign_rs256, KEY_1, KEY_2,
    };
    use entitle_test_support::jwt::{replace_payload, unsigned};
    use serde_json::json;

    pub(crate) const JWKS: &str = include_str!("../../../../fixtures/jwt/jwks.json");
    pub(crate) const JWKS_ROTATED: &str =
        include_str!("../../../../fixtures/jwt/jwks-rotated.json");
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
}
