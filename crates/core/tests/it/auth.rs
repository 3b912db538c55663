//! Session-token verification end to end: `HttpJwksSource` fetching the fixture JWKS from a tiny local HTTP
//! server (which counts the fetches and can rotate its keys or fail), and the `Verifier` built from config.
use entitle_core::auth::jwks::{HttpJwksSource, JwksCache, JwksError, JwksSource};
use entitle_core::auth::{token_from, AuthError, Policy, Verifier};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures;
use entitle_test_support::jwt::{self, KEY_1, KEY_2};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ISSUER: &str = "https://clerk.example.com";
const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
const APP: &str = "https://app.example.com";
const NOW: i64 = 1_795_341_600;
const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

fn claims() -> Value {
    json!({
        "sub": USER, "iss": ISSUER, "azp": APP, "sid": "sess_2xyz",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60,
    })
}

/// Signed with `key` under `kid`, with the header Clerk uses.
fn rs256(key: &str, kid: &str, claims: &Value) -> String {
    jwt::sign_rs256(key, &jwt::rs256_header(kid), claims)
}

fn key_1(claims: &Value) -> String {
    rs256(KEY_1, "test-key-1", claims)
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"alg": "HS256", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    jwt::sign_hs256(secret, &header, claims)
}

/// Answers every request with the current `(status, body)`, or never answers when it is `None`; counts
/// the requests.
struct JwksServer {
    url: String,
    answer: Arc<Mutex<Option<(u16, String)>>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    fn serving(fixture: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let answer = Arc::new(Mutex::new(Some((200, fixtures::text(fixture)))));
        let hits = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (Arc::clone(&answer), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (answer, counter) = (Arc::clone(&shared), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        line.clear();
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let answer = answer.lock().unwrap().clone();
                    match answer {
                        Some((status, body)) => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        None => std::thread::sleep(Duration::from_secs(30)),
                    }
                });
            }
        });
        Self { url, answer, hits }
    }

    fn answer(&self, status: u16, body: impl Into<String>) {
        *self.answer.lock().unwrap() = Some((status, body.into()));
    }

    fn go_silent(&self) {
        *self.answer.lock().unwrap() = None;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn verifier(server: &JwksServer, min_interval: Duration) -> Verifier {
    Verifier::Jwks {
        cache: JwksCache::new(HttpJwksSource::new(&server.url)).with_min_interval(min_interval),
        policy: Policy::new(Some(ISSUER.into()), vec![APP.into()]),
    }
}

fn from_config(server: &JwksServer) -> Verifier {
    Verifier::from_config(
        None,
        Some(server.url.clone()),
        Some(ISSUER.into()),
        Some(format!("http://localhost:3000, {APP}")),
    )
    .unwrap()
}

#[tokio::test]
async fn a_valid_rs256_token_is_verified_against_the_served_jwks() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = from_config(&server);
    assert_eq!(server.hits(), 0, "nothing is fetched at construction");

    let verified = verifier.verify(&key_1(&claims()), now()).await.unwrap();
    assert_eq!(verified.sub.as_str(), USER);
    assert_eq!(verified.sid.as_deref(), Some("sess_2xyz"));
    assert_eq!(verified.azp.as_deref(), Some(APP));
    assert_eq!(verified.exp, NOW + 60);

    verifier.verify(&key_1(&claims()), now()).await.unwrap();
    assert_eq!(server.hits(), 1, "the keys are cached");
}

#[tokio::test]
async fn a_request_is_authenticated_by_its_bearer_token_or_its_session_cookie() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = from_config(&server);
    let token = key_1(&claims());

    let bearer = format!("Bearer {token}");
    let cookie = format!("__client_uat=1; __session={token}");
    for (authorization, cookie) in [(Some(bearer.as_str()), None), (None, Some(cookie.as_str()))] {
        assert_eq!(token_from(authorization, cookie), Some(token.as_str()));
        let claims = verifier
            .authenticate(authorization, cookie, now())
            .await
            .unwrap();
        assert_eq!(claims.sub.as_str(), USER);
    }
    let missing = verifier.authenticate(None, Some("theme=dark"), now()).await;
    assert!(matches!(missing, Err(AuthError::Missing)));
}

#[tokio::test]
async fn a_token_from_a_party_outside_the_allow_list_is_rejected() {
    let server = JwksServer::serving("jwt/jwks.json");
    let mut claims = claims();
    claims["azp"] = json!("https://evil.example.com");
    let error = from_config(&server)
        .verify(&key_1(&claims), now())
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::WrongParty), "{error:?}");
    assert_eq!(error.reason(), "wrong_authorized_party");
}

#[tokio::test]
async fn an_unknown_kid_triggers_exactly_one_refetch() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = verifier(&server, Duration::from_millis(200));
    verifier.verify(&key_1(&claims()), now()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;

    let bogus = rs256(KEY_1, "no-such-key", &claims());
    let error = verifier.verify(&bogus, now()).await.unwrap_err();
    assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
    assert_eq!(server.hits(), 2);

    let error = verifier.verify(&bogus, now()).await.unwrap_err();
    assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_bogus_kids_cause_at_most_one_fetch() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = Arc::new(from_config(&server));
    let tokens: Vec<String> = (0..50)
        .map(|i| rs256(KEY_1, &format!("bogus-{i}"), &claims()))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let verifier = Arc::clone(&verifier);
        tasks.spawn(async move { verifier.verify(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        let error = result.unwrap().unwrap_err();
        assert!(matches!(error, AuthError::UnknownKey), "{error:?}");
    }
    assert_eq!(server.hits(), 1, "one fetch, shared by every miss");

    verifier.verify(&key_1(&claims()), now()).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_key_rotated_into_the_jwks_is_picked_up_via_a_refetch() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = verifier(&server, Duration::ZERO);
    verifier.verify(&key_1(&claims()), now()).await.unwrap();

    server.answer(200, fixtures::text("jwt/jwks-rotated.json"));
    let rotated = rs256(KEY_2, "test-key-2", &claims());
    let claims_after = verifier.verify(&rotated, now()).await.unwrap();
    assert_eq!(claims_after.sub.as_str(), USER);
    assert_eq!(server.hits(), 2);
    verifier.verify(&key_1(&claims()), now()).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_token_signed_with_another_key_under_a_known_kid_is_a_bad_signature() {
    let server = JwksServer::serving("jwt/jwks.json");
    let forged = rs256(KEY_2, "test-key-1", &claims());
    let error = from_config(&server)
        .verify(&forged, now())
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::BadSignature), "{error:?}");
}

#[tokio::test]
async fn hs256_tokens_are_rejected_in_jwks_mode_whatever_their_secret() {
    let server = JwksServer::serving("jwt/jwks.json");
    let verifier = from_config(&server);
    let (modulus, _) = jwt::public_key_components();
    let jwks_text = fixtures::text("jwt/jwks.json");
    for secret in [modulus.as_slice(), jwks_text.as_bytes(), SECRET.as_bytes()] {
        let token = hs256(secret, Some("test-key-1"), &claims());
        let error = verifier.verify(&token, now()).await.unwrap_err();
        assert!(
            matches!(error, AuthError::UnsupportedAlgorithm),
            "{error:?}"
        );
    }
    assert_eq!(server.hits(), 0, "refused before any key was fetched");
}

#[tokio::test]
async fn hs256_mode_accepts_its_own_tokens_and_rejects_rs256_ones() {
    let verifier = Verifier::from_config(
        Some(SecretString::from(SECRET)),
        None,
        Some(ISSUER.into()),
        None,
    )
    .unwrap();
    let claims_out = verifier
        .verify(&hs256(SECRET.as_bytes(), None, &claims()), now())
        .await
        .unwrap();
    assert_eq!(claims_out.sub.as_str(), USER);

    let error = verifier.verify(&key_1(&claims()), now()).await.unwrap_err();
    assert!(
        matches!(error, AuthError::UnsupportedAlgorithm),
        "{error:?}"
    );

    let mut foreign = claims();
    foreign["iss"] = json!("https://other.example.com");
    let error = verifier
        .verify(&hs256(SECRET.as_bytes(), None, &foreign), now())
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::WrongIssuer), "{error:?}");
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_unavailable_and_retried_on_the_next_request() {
    let server = JwksServer::serving("jwt/jwks.json");
    server.answer(502, "<html>Bad Gateway</html>");
    let verifier = from_config(&server);
    let error = verifier.verify(&key_1(&claims()), now()).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(error.reason(), "jwks_unavailable");

    server.answer(200, "<html>not json</html>");
    let error = verifier.verify(&key_1(&claims()), now()).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");

    server.answer(200, fixtures::text("jwt/jwks.json"));
    verifier.verify(&key_1(&claims()), now()).await.unwrap();
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn an_unreachable_jwks_endpoint_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = HttpJwksSource::new(format!("http://127.0.0.1:{port}/jwks.json"));
    let error = source.fetch().await.unwrap_err();
    assert!(matches!(error, JwksError::Connection(_)), "{error:?}");
}

#[tokio::test]
async fn a_jwks_endpoint_that_never_answers_times_out() {
    let server = JwksServer::serving("jwt/jwks.json");
    server.go_silent();
    let source = HttpJwksSource::new(&server.url).with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = source.fetch().await.unwrap_err();
    assert!(matches!(error, JwksError::Timeout(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_http_source_reads_every_key_of_the_set() {
    let server = JwksServer::serving("jwt/jwks-rotated.json");
    let keys = HttpJwksSource::new(&server.url).fetch().await.unwrap();
    let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
    assert_eq!(kids, ["test-key-1", "test-key-2"]);
    assert!(keys.iter().all(|k| k.rs256_key().is_ok()));
}
