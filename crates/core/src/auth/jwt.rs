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
pub(crate) mod tests;
