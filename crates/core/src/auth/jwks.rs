//! Clerk's signing keys: the [`JwksSource`] port, its HTTP adapter, and the [`JwksCache`] that refetches
//! on an unknown `kid` (a key rotation) at most once per interval, so a flood of bogus `kid`s cannot turn
//! into a flood of requests to Clerk.
//!
//! As with `StripeClient`, the HTTP client is built on the first fetch, not in `new`: an invocation that
//! never verifies a token pays nothing for it (the roots are compiled in; no file is read).
use super::jwt::RsaKey;
use super::AuthError;
use crate::adapters::classify::{self, Class, Conflict};
use crate::adapters::http::{HttpClient, LazyClient};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::{ACCEPT, USER_AGENT};
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// At most one refetch per this interval once keys are loaded (Clerk's own SDKs wait 5 minutes between
/// cache refreshes; a rotation is rare, a `kid` flood is cheap to send).
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Total time for one JWKS request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A JWKS is a few KB; refuse to buffer more than this from a misbehaving endpoint.
const MAX_BODY_BYTES: usize = 256 * 1024;

const USER_AGENT_VALUE: &str = concat!("entitle/", env!("CARGO_PKG_VERSION"));

/// One JSON Web Key, as much of it as RS256 verification needs (RFC 7517).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    /// The key's `kid` and RSA key, when it is an RSA signing key usable for RS256: `use` absent or `sig`,
    /// `alg` absent or `RS256`.
    pub fn rs256_key(&self) -> Result<(String, RsaKey), &'static str> {
        if self.kty != "RSA" {
            return Err("not an RSA key");
        }
        if self.usage.as_deref().is_some_and(|usage| usage != "sig") {
            return Err("not a signing key");
        }
        if self.alg.as_deref().is_some_and(|alg| alg != "RS256") {
            return Err("not an RS256 key");
        }
        let kid = self
            .kid
            .clone()
            .filter(|kid| !kid.is_empty())
            .ok_or("no kid")?;
        let component = |value: &Option<String>| {
            value
                .as_deref()
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or("n or e is missing or not base64url")
        };
        let key =
            RsaKey::from_components(&component(&self.n)?, &component(&self.e)?).map_err(|e| e.0)?;
        Ok((kid, key))
    }
}

/// Why the keys could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot build the HTTPS client")]
    Roots(#[source] std::io::Error),
    #[error("the JWKS request could not be built")]
    Request(#[source] http::Error),
    #[error("cannot reach the JWKS endpoint")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no answer from the JWKS endpoint within {0:?}")]
    Timeout(Duration),
    #[error("the JWKS endpoint answered {0}")]
    Status(u16),
    #[error("the JWKS endpoint's answer is not a JSON Web Key Set")]
    Invalid(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl JwksError {
    /// Whether a later fetch can succeed, by the rule every API client follows (`adapters::classify`): a
    /// connection failure, a timeout, a 5xx or 429, or a body that is not a key set (a proxy's page) pass;
    /// a 4xx or a request that cannot be built is a misconfiguration. Either way the caller's request is a
    /// 503 (the keys are our dependency); this only decides how loudly it is logged.
    pub fn is_retryable(&self) -> bool {
        match self {
            JwksError::Connection(_) | JwksError::Timeout(_) | JwksError::Invalid(_) => true,
            JwksError::Status(code) => http::StatusCode::from_u16(*code).is_ok_and(|status| {
                classify::status(status, Conflict::Permanent) == Class::Retryable
            }),
            JwksError::Roots(_) | JwksError::Request(_) => false,
        }
    }
}

/// Where the signing keys come from.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// Every key of the set, usable or not; the cache picks the RS256 signing keys.
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError>;
}

#[async_trait]
impl<T: JwksSource + ?Sized> JwksSource for Arc<T> {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        (**self).fetch().await
    }
}

/// Reads a JSON Web Key Set (`{"keys": [...]}`); a key that is not even a JSON object of strings is skipped
/// rather than failing the whole set.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, JwksError> {
    #[derive(Deserialize)]
    struct JwkSet {
        keys: Vec<Value>,
    }
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| JwksError::Invalid(e.into()))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value(key).ok())
        .collect())
}

/// `GET {url}` over one lazily built HTTP client: Clerk's `https://<frontend-api>/.well-known/jwks.json`.
pub struct HttpJwksSource {
    url: String,
    timeout: Duration,
    http: LazyClient,
}

impl HttpJwksSource {
    /// Cheap: nothing is loaded or connected until the first fetch.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            http: LazyClient::new(),
        }
    }

    /// Replaces [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn http(&self) -> Result<&HttpClient, JwksError> {
        self.http.get().await.map_err(JwksError::Roots)
    }
}

impl fmt::Debug for HttpJwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJwksSource")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(&self.url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Full::default())
            .map_err(JwksError::Request)?;
        let http = self.http().await?;
        let exchange = async {
            let response = http
                .request(request)
                .await
                .map_err(|e| JwksError::Connection(e.into()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(JwksError::Status(status.as_u16()));
            }
            Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(JwksError::Invalid)
        };
        let body = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| JwksError::Timeout(self.timeout))??;
        parse_jwks(&body)
    }
}

/// The usable keys by `kid`, fetched on the first verification and again when a token names a `kid` the
/// cache does not know, at most once per `min_interval`. Concurrent misses share one fetch.
pub struct JwksCache {
    source: Box<dyn JwksSource>,
    keys: RwLock<HashMap<String, RsaKey>>,
    refresh: Mutex<Refresh>,
    /// Fetches completed so far; lets a caller that waited on the lock see that one happened meanwhile.
    fetches: AtomicU64,
    min_interval: Duration,
}

#[derive(Default)]
struct Refresh {
    loaded: bool,
    last_attempt: Option<Instant>,
    last_error: Option<Arc<JwksError>>,
}

impl JwksCache {
    pub fn new(source: impl JwksSource + 'static) -> Self {
        Self {
            source: Box::new(source),
            keys: RwLock::new(HashMap::new()),
            refresh: Mutex::new(Refresh::default()),
            fetches: AtomicU64::new(0),
            min_interval: DEFAULT_MIN_REFRESH_INTERVAL,
        }
    }

    /// Replaces [`DEFAULT_MIN_REFRESH_INTERVAL`].
    pub fn with_min_interval(mut self, min_interval: Duration) -> Self {
        self.min_interval = min_interval;
        self
    }

    /// The key named `kid`. A miss refetches the set unless the last fetch was less than `min_interval` ago
    /// (then [`AuthError::UnknownKey`]); until a first fetch succeeds every miss may fetch, one at a time.
    /// A failed fetch is [`AuthError::JwksUnavailable`], for this caller and those that waited on it.
    pub async fn key(&self, kid: &str) -> Result<RsaKey, AuthError> {
        let seen = self.fetches.load(Ordering::Acquire);
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut refresh = self.refresh.lock().await;
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if self.fetches.load(Ordering::Acquire) != seen {
            // Another caller fetched while this one waited: its answer stands for this one too.
            return Err(match &refresh.last_error {
                Some(error) => AuthError::JwksUnavailable(Arc::clone(error)),
                None => AuthError::UnknownKey,
            });
        }
        let recent = refresh
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_interval);
        if refresh.loaded && recent {
            return Err(AuthError::UnknownKey);
        }
        let outcome = self.source.fetch().await;
        // From the end of the fetch: a slow endpoint must not use up the interval and let the next miss
        // fetch again at once.
        refresh.last_attempt = Some(Instant::now());
        let result = match outcome {
            Ok(jwks) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = usable_keys(jwks);
                refresh.loaded = true;
                refresh.last_error = None;
                self.cached(kid).ok_or(AuthError::UnknownKey)
            }
            Err(error) => {
                if error.is_retryable() {
                    tracing::warn!(error = %error, "fetching the JWKS failed");
                } else {
                    tracing::error!(error = %error, "fetching the JWKS failed: check CLERK_JWKS_URL");
                }
                let error = Arc::new(error);
                refresh.last_error = Some(Arc::clone(&error));
                Err(AuthError::JwksUnavailable(error))
            }
        };
        self.fetches.fetch_add(1, Ordering::Release);
        result
    }

    fn cached(&self, kid: &str) -> Option<RsaKey> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("JwksCache")
            .field("kids", &kids)
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

/// The set replaces the cache whole, so a key Clerk withdrew stops verifying after the next fetch.
fn usable_keys(jwks: Vec<Jwk>) -> HashMap<String, RsaKey> {
    let mut keys = HashMap::new();
    for jwk in jwks {
        match jwk.rs256_key() {
            Ok((kid, key)) => {
                keys.entry(kid).or_insert(key);
            }
            Err(reason) => {
                tracing::debug!(
                    kid = jwk.kid.as_deref().unwrap_or(""),
                    reason,
                    "skipped a JWK"
                );
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_failures_follow_the_shared_retry_rule() {
        assert!(JwksError::Status(503).is_retryable());
        assert!(JwksError::Status(429).is_retryable());
        assert!(JwksError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(!JwksError::Status(404).is_retryable());
        assert!(!JwksError::Status(409).is_retryable());
    }
    use crate::auth::jwt::tests::{
        claims, rs256, rs256_header, sign_hs256, sign_rs256, ISSUER, JWKS, JWKS_ROTATED, KEY_1,
        KEY_2, NOW,
    };
    use crate::auth::{Policy, Verifier};
    use entitle_domain::time::UnixTime;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;

    /// The JWKS port in memory: answers with the current set (or an error), counts fetches, and can be slow
    /// so that concurrent callers pile up on one fetch.
    #[derive(Default)]
    struct FakeJwks {
        set: std::sync::Mutex<Option<String>>,
        fetches: AtomicUsize,
        delay: Duration,
    }

    impl FakeJwks {
        fn serving(json: &str) -> Arc<Self> {
            Arc::new(Self {
                set: std::sync::Mutex::new(Some(json.to_owned())),
                ..Self::default()
            })
        }

        fn slow(json: &str, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                set: std::sync::Mutex::new(Some(json.to_owned())),
                delay,
                ..Self::default()
            })
        }

        fn serve(&self, json: Option<&str>) {
            *self.set.lock().unwrap() = json.map(str::to_owned);
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl JwksSource for FakeJwks {
        async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let set = self.set.lock().unwrap().clone();
            match set {
                Some(json) => parse_jwks(json.as_bytes()),
                None => Err(JwksError::Status(503)),
            }
        }
    }

    fn verifier(source: &Arc<FakeJwks>, min_interval: Duration) -> Verifier {
        Verifier::Jwks {
            cache: JwksCache::new(Arc::clone(source)).with_min_interval(min_interval),
            policy: Policy::new(Some(ISSUER.into()), vec![]),
        }
    }

    fn now() -> UnixTime {
        UnixTime::from_secs(NOW)
    }

    fn bogus(kid: &str) -> String {
        sign_rs256(KEY_1, &rs256_header(kid), &claims())
    }

    #[tokio::test]
    async fn nothing_is_fetched_before_the_first_verification() {
        let source = FakeJwks::serving(JWKS);
        let verifier = verifier(&source, DEFAULT_MIN_REFRESH_INTERVAL);
        assert_eq!(source.fetches(), 0);

        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        assert_eq!(source.fetches(), 1);
    }

    #[tokio::test]
    async fn an_unknown_kid_triggers_exactly_one_refetch() {
        let source = FakeJwks::serving(JWKS);
        let verifier = verifier(&source, Duration::from_millis(200));
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;

        let error = verifier
            .verify(&bogus("rotated-away"), now())
            .await
            .unwrap_err();
        assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
        assert_eq!(source.fetches(), 2);

        let error = verifier.verify(&bogus("another"), now()).await.unwrap_err();
        assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
        assert_eq!(
            source.fetches(),
            2,
            "a second miss within the interval does not fetch"
        );
        // Known keys keep verifying from the cache.
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_concurrent_bogus_kids_cause_at_most_one_fetch_within_the_interval() {
        let source = FakeJwks::slow(JWKS, Duration::from_millis(100));
        let verifier = Arc::new(verifier(&source, DEFAULT_MIN_REFRESH_INTERVAL));
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        assert_eq!(source.fetches(), 1);

        let tokens: Vec<String> = (0..50).map(|i| bogus(&format!("bogus-{i}"))).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for token in tokens {
            let verifier = Arc::clone(&verifier);
            tasks.spawn(async move { verifier.verify(&token, now()).await });
        }
        while let Some(result) = tasks.join_next().await {
            let error = result.unwrap().unwrap_err();
            assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
        }
        assert_eq!(
            source.fetches(),
            1,
            "within the interval, no refetch at all"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_after_the_interval_share_one_fetch() {
        let source = FakeJwks::slow(JWKS, Duration::from_millis(100));
        let verifier = Arc::new(verifier(&source, Duration::from_millis(10)));
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;

        let tokens: Vec<String> = (0..50).map(|i| bogus(&format!("bogus-{i}"))).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for token in tokens {
            let verifier = Arc::clone(&verifier);
            tasks.spawn(async move { verifier.verify(&token, now()).await });
        }
        while let Some(result) = tasks.join_next().await {
            assert!(matches!(result.unwrap(), Err(AuthError::UnknownKey)));
        }
        // One refetch: the 100 ms fetch outlasts the 10 ms interval, but everyone who queued behind it
        // takes its answer instead of fetching again.
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_verifications_share_one_fetch() {
        let source = FakeJwks::slow(JWKS, Duration::from_millis(100));
        let verifier = Arc::new(verifier(&source, DEFAULT_MIN_REFRESH_INTERVAL));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let verifier = Arc::clone(&verifier);
            tasks.spawn(async move { verifier.verify(&rs256(&claims()), now()).await });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        assert_eq!(source.fetches(), 1);
    }

    #[tokio::test]
    async fn a_key_rotated_into_the_jwks_is_picked_up_by_a_refetch() {
        let source = FakeJwks::serving(JWKS);
        let verifier = verifier(&source, Duration::ZERO);
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        let rotated = sign_rs256(KEY_2, &rs256_header("test-key-2"), &claims());
        assert!(matches!(
            verifier.verify(&rotated, now()).await,
            Err(AuthError::UnknownKey)
        ));

        source.serve(Some(JWKS_ROTATED));
        let claims = verifier.verify(&rotated, now()).await.unwrap();
        assert_eq!(claims.sub.as_str(), crate::auth::jwt::tests::USER);
        assert_eq!(source.fetches(), 3);
    }

    #[tokio::test]
    async fn a_key_withdrawn_from_the_jwks_stops_verifying_after_a_refetch() {
        let source = FakeJwks::serving(JWKS_ROTATED);
        let verifier = verifier(&source, Duration::ZERO);
        let old = rs256(&claims());
        verifier.verify(&old, now()).await.unwrap();

        let jwks: Value = serde_json::from_str(JWKS_ROTATED).unwrap();
        let only_new = json!({"keys": [jwks["keys"][1]]}).to_string();
        source.serve(Some(&only_new));
        let new = sign_rs256(KEY_2, &rs256_header("test-key-3"), &claims());
        assert!(verifier.verify(&new, now()).await.is_err()); // the refetch
        assert!(matches!(
            verifier.verify(&old, now()).await,
            Err(AuthError::UnknownKey)
        ));
    }

    #[tokio::test]
    async fn an_unavailable_jwks_is_reported_and_retried_on_the_next_request() {
        let source = FakeJwks::serving(JWKS);
        source.serve(None);
        let verifier = verifier(&source, DEFAULT_MIN_REFRESH_INTERVAL);
        let error = verifier.verify(&rs256(&claims()), now()).await.unwrap_err();
        assert!(error.is_unavailable(), "{error:?}");

        // No keys yet: the interval does not hold back the retry of a failed first fetch.
        source.serve(Some(JWKS));
        verifier.verify(&rs256(&claims()), now()).await.unwrap();
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn a_token_rejected_by_its_header_never_costs_a_fetch() {
        let source = FakeJwks::serving(JWKS);
        let verifier = verifier(&source, Duration::ZERO);
        let (n, _) = crate::auth::jwt::tests::public_key_components();
        let confused = sign_hs256(
            &n,
            &json!({"alg": "HS256", "typ": "JWT", "kid": "test-key-1"}),
            &claims(),
        );
        let no_kid = sign_rs256(KEY_1, &json!({"alg": "RS256"}), &claims());
        let results = [
            verifier.verify(&confused, now()).await,
            verifier.verify(&no_kid, now()).await,
            verifier.verify("a.b", now()).await,
        ];
        assert!(matches!(results[0], Err(AuthError::UnsupportedAlgorithm)));
        assert!(matches!(results[1], Err(AuthError::UnknownKey)));
        assert!(matches!(results[2], Err(AuthError::Malformed)));
        assert_eq!(source.fetches(), 0);
    }

    #[test]
    fn only_rsa_signing_keys_for_rs256_are_used() {
        let jwks: Value = serde_json::from_str(JWKS).unwrap();
        let base: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        assert!(base.rs256_key().is_ok());
        let variants = [
            Jwk {
                usage: None,
                alg: None,
                ..base.clone()
            },
            Jwk {
                usage: Some("enc".into()),
                ..base.clone()
            },
            Jwk {
                alg: Some("RS512".into()),
                ..base.clone()
            },
            Jwk {
                kty: "EC".into(),
                ..base.clone()
            },
            Jwk {
                kid: None,
                ..base.clone()
            },
            Jwk {
                n: Some("not base64!".into()),
                ..base.clone()
            },
        ];
        let usable: Vec<bool> = variants.iter().map(|k| k.rs256_key().is_ok()).collect();
        assert_eq!(usable, [true, false, false, false, false, false]);
    }

    #[test]
    fn a_malformed_key_is_skipped_without_losing_the_set() {
        let jwks: Value = serde_json::from_str(JWKS).unwrap();
        let set = json!({"keys": [{"kty": 1}, {"kty": "EC", "crv": "P-256"}, jwks["keys"][0]]});
        let keys = usable_keys(parse_jwks(set.to_string().as_bytes()).unwrap());
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["test-key-1"]);
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(b"{\"nokeys\": []}").is_err());
    }
}
