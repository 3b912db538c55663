//! Clerk session-token verification for the signed-in user's API: where the token is found, the
//! [`Verifier`] (RS256 against Clerk's JWKS, or HS256 with a shared secret), and why a token was refused.
//!
//! The checks around `jsonwebtoken` live in [`jwt`]; fetching and caching the signing keys in [`jwks`].
pub mod jwks;
pub mod jwt;

use crate::config::ConfigError;
use entitle_domain::time::UnixTime;
use jsonwebtoken::Algorithm;
use jwks::{HttpJwksSource, JwksCache, JwksError, JwksSource};
use jwt::Token;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

pub use jwt::{ActiveOrganization, Claims, Policy, RsaKey};

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash, or it can be brute-forced offline
/// from any one token.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Why a request's session token was refused. Each is the token holder's problem (401) except
/// [`AuthError::JwksUnavailable`], which is ours (503, retry).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no session token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("the token's type is not JWT")]
    WrongType,
    #[error("the token's key is not in the JWKS")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token comes from another issuer")]
    WrongIssuer,
    #[error("the token's authorized party is not allowed")]
    WrongParty,
    #[error("the token's subject is missing or not a Clerk user id")]
    InvalidSubject,
    #[error("the token's active organization is not a Clerk organization id")]
    InvalidOrganization,
    /// Shared by every request that waited on the same failed fetch, hence the `Arc`.
    #[error("the signing keys could not be fetched")]
    JwksUnavailable(#[source] Arc<JwksError>),
}

impl AuthError {
    /// A stable, low-cardinality code for logs and metrics; never shown to the token's holder.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::Malformed => "malformed_token",
            AuthError::UnsupportedAlgorithm => "unsupported_algorithm",
            AuthError::WrongType => "wrong_token_type",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongParty => "wrong_authorized_party",
            AuthError::InvalidSubject => "invalid_subject",
            AuthError::InvalidOrganization => "invalid_organization",
            AuthError::JwksUnavailable(_) => "jwks_unavailable",
        }
    }

    /// Only this one is not the caller's fault: answer 503 so the client retries.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::JwksUnavailable(_))
    }
}

/// Verifies session tokens in one of two modes, fixed at cold start.
#[derive(Debug)]
pub enum Verifier {
    /// RS256 against the keys Clerk publishes; HS256 tokens are refused (algorithm confusion).
    Jwks { cache: JwksCache, policy: Policy },
    /// HS256 with a shared secret; RS256 tokens are refused.
    Hs256 {
        secret: SecretString,
        policy: Policy,
    },
}

impl Verifier {
    /// Builds the verifier from already-read settings: `JWT_SECRET` (directly or from Secrets Manager),
    /// `CLERK_JWKS_URL`, `CLERK_ISSUER`, `CLERK_AUTHORIZED_PARTIES` (comma-separated origins). With a secret
    /// the mode is HS256 and the issuer is checked only when given; without one, the JWKS URL and the issuer
    /// are required. Nothing is fetched here: the first verification fetches the keys, so a cold start never
    /// waits on Clerk.
    pub fn from_config(
        jwt_secret: Option<SecretString>,
        jwks_url: Option<String>,
        issuer: Option<String>,
        authorized_parties: Option<String>,
    ) -> Result<Verifier, ConfigError> {
        let issuer = issuer
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty());
        let parties = authorized_parties
            .as_deref()
            .map(parse_authorized_parties)
            .unwrap_or_default();
        if let Some(secret) = jwt_secret {
            if secret.expose_secret().len() < MIN_HS256_SECRET_BYTES {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET".into(),
                    reason: format!(
                        "an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} bytes"
                    ),
                });
            }
            if jwks_url.is_some() {
                tracing::warn!(
                    "JWT_SECRET is set: verifying HS256 tokens, CLERK_JWKS_URL is ignored"
                );
            }
            return Ok(Verifier::Hs256 {
                secret,
                policy: Policy::new(issuer, parties),
            });
        }
        let url = jwks_url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ConfigError::Missing("CLERK_JWKS_URL (or JWT_SECRET)".into()))?;
        check_jwks_url(&url)?;
        // The keys alone already pin the Clerk instance; the issuer also pins its Frontend API, as Clerk's
        // own SDKs do, so a JWKS URL copied from the wrong instance or environment fails on the first request.
        let issuer = issuer.ok_or_else(|| ConfigError::Missing("CLERK_ISSUER".into()))?;
        Ok(Verifier::jwks(
            HttpJwksSource::new(url),
            Policy::new(Some(issuer), parties),
        ))
    }

    /// JWKS mode over any key source (the HTTP adapter in production, a fake in tests).
    pub fn jwks(source: impl JwksSource + 'static, policy: Policy) -> Verifier {
        Verifier::Jwks {
            cache: JwksCache::new(source),
            policy,
        }
    }

    /// Verifies `token` and returns its claims. Everything that can be rejected without a key (shape, `typ`,
    /// `alg`) is, before the JWKS is consulted, so junk never costs a fetch.
    pub async fn verify(&self, token: &str, now: UnixTime) -> Result<Claims, AuthError> {
        let token = Token::parse(token)?;
        match self {
            Verifier::Jwks { cache, policy } => {
                token.expect(Algorithm::RS256)?;
                let kid = token.kid().ok_or(AuthError::UnknownKey)?;
                let key = cache.key(kid).await?;
                token.verify_rs256(&key, policy, now)
            }
            Verifier::Hs256 { secret, policy } => token.verify_hs256(secret, policy, now),
        }
    }

    /// [`token_from`] then [`Verifier::verify`]; no token is [`AuthError::Missing`].
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        cookie: Option<&str>,
        now: UnixTime,
    ) -> Result<Claims, AuthError> {
        let token = token_from(authorization, cookie).ok_or(AuthError::Missing)?;
        self.verify(token, now).await
    }
}

/// The session token of a request: `Authorization: Bearer <token>` (scheme in any case) first, else the
/// `__session` cookie Clerk sets for same-site requests. `cookie` is the `Cookie` header (several headers
/// joined with `; `).
pub fn token_from<'a>(authorization: Option<&'a str>, cookie: Option<&'a str>) -> Option<&'a str> {
    authorization
        .and_then(bearer)
        .or_else(|| cookie.and_then(session_cookie))
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn session_cookie(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        // RFC 6265 allows a quoted cookie value.
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (name.trim() == "__session" && !value.is_empty()).then_some(value)
    })
}

/// `CLERK_AUTHORIZED_PARTIES`: origins, comma-separated; blanks dropped and a trailing `/` ignored, since
/// `azp` is an origin and never has one.
pub fn parse_authorized_parties(list: &str) -> Vec<String> {
    list.split(',')
        .map(|origin| origin.trim().trim_end_matches('/'))
        .filter(|origin| !origin.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Keys fetched over plain http could be swapped by anyone on the path, so http is allowed only for a
/// local stand-in on the loopback interface.
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "CLERK_JWKS_URL".into(),
        reason: reason.into(),
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") => Ok(()),
        _ => Err(invalid("must be https (http only for localhost)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

    #[test]
    fn token_from_reads_a_bearer_token_in_any_case() {
        assert_eq!(
            token_from(Some("Bearer abc.def.ghi"), None),
            Some("abc.def.ghi")
        );
        assert_eq!(
            token_from(Some("bearer  abc.def.ghi "), None),
            Some("abc.def.ghi")
        );
        assert_eq!(token_from(Some("BEARER abc"), None), Some("abc"));
        assert_eq!(token_from(Some("Basic dXNlcjpwdw=="), None), None);
        assert_eq!(token_from(Some("Bearer "), None), None);
        assert_eq!(token_from(Some("abc.def.ghi"), None), None);
        assert_eq!(token_from(None, None), None);
    }

    #[test]
    fn token_from_reads_the_session_cookie_among_others() {
        let cookies = "__client_uat=1700000000; __session=abc.def.ghi; theme=dark";
        assert_eq!(token_from(None, Some(cookies)), Some("abc.def.ghi"));
        assert_eq!(token_from(None, Some("__session=\"q.r.s\"")), Some("q.r.s"));
        assert_eq!(token_from(None, Some("__session_x=a.b.c; other=1")), None);
        assert_eq!(token_from(None, Some("__session=")), None);
    }

    #[test]
    fn token_from_prefers_the_authorization_header_to_the_cookie() {
        assert_eq!(
            token_from(
                Some("Bearer from.header.x"),
                Some("__session=from.cookie.x")
            ),
            Some("from.header.x")
        );
        assert_eq!(
            token_from(Some("Basic x"), Some("__session=from.cookie.x")),
            Some("from.cookie.x")
        );
    }

    #[test]
    fn authorized_parties_are_trimmed_origins() {
        assert_eq!(
            parse_authorized_parties(" https://app.example.com/, http://localhost:3000 ,,"),
            ["https://app.example.com", "http://localhost:3000"]
        );
    }

    #[test]
    fn a_shared_secret_selects_hs256_mode_with_an_optional_issuer() {
        let verifier =
            Verifier::from_config(Some(SecretString::from(SECRET)), None, None, None).unwrap();
        assert!(matches!(verifier, Verifier::Hs256 { ref policy, .. } if policy.issuer.is_none()));
    }

    #[test]
    fn a_short_shared_secret_is_a_configuration_error() {
        let error =
            Verifier::from_config(Some(SecretString::from("short")), None, None, None).unwrap_err();
        assert!(matches!(error, ConfigError::Invalid { ref name, .. } if name == "JWT_SECRET"));
    }

    #[test]
    fn jwks_mode_needs_a_url_and_an_issuer() {
        let issuer = Some("https://clerk.example.com".to_owned());
        assert!(matches!(
            Verifier::from_config(None, None, issuer.clone(), None),
            Err(ConfigError::Missing(_))
        ));
        assert!(matches!(
            Verifier::from_config(None, Some("https://clerk.example.com/.well-known/jwks.json".into()), None, None),
            Err(ConfigError::Missing(ref name)) if name == "CLERK_ISSUER"
        ));
        let verifier = Verifier::from_config(
            None,
            Some("https://clerk.example.com/.well-known/jwks.json".into()),
            issuer,
            Some("https://app.example.com".into()),
        )
        .unwrap();
        assert!(matches!(verifier, Verifier::Jwks { ref policy, .. }
            if policy.authorized_parties == ["https://app.example.com"]));
    }

    #[test]
    fn a_jwks_url_must_be_https_unless_it_is_on_the_loopback() {
        let build = |url: &str| {
            Verifier::from_config(
                None,
                Some(url.to_owned()),
                Some("https://clerk.example.com".into()),
                None,
            )
        };
        assert!(build("http://clerk.example.com/.well-known/jwks.json").is_err());
        assert!(build("not a url").is_err());
        assert!(build("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(build("http://localhost:8080/jwks.json").is_ok());
    }

    #[test]
    fn every_error_has_a_reason_and_only_an_unavailable_jwks_is_retryable() {
        let unavailable = AuthError::JwksUnavailable(Arc::new(JwksError::Status(503)));
        assert!(unavailable.is_unavailable());
        assert_eq!(unavailable.reason(), "jwks_unavailable");
        assert!(!AuthError::BadSignature.is_unavailable());
        assert_eq!(AuthError::WrongParty.reason(), "wrong_authorized_party");
    }
}
