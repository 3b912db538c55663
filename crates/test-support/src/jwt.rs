//! The one place test session tokens are minted: Clerk-shaped tokens signed by `jsonwebtoken` with the test
//! keys in `fixtures/jwt/` (or an HMAC secret), the hand-assembled tokens no honest signer makes (`alg: none`,
//! a swapped payload), and a local JWKS server.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The key published as `test-key-1` in `fixtures/jwt/jwks.json` (and `jwks-rotated.json`).
pub const KEY_1: &str = "jwt/test-rsa-2048.pk8.der";
/// The second key: `test-key-2` in `fixtures/jwt/jwks-rotated.json` only.
pub const KEY_2: &str = "jwt/test-rsa-2048-2.pk8.der";

/// `{"alg": "RS256", "typ": "JWT", "kid": kid}`, the header Clerk signs with.
pub fn rs256_header(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

/// An RS256 token signed with [`KEY_1`] under `kid`.
pub fn rs256(claims: &Value, kid: &str) -> String {
    sign_rs256(KEY_1, &rs256_header(kid), claims)
}

/// `claims` under `header` (any JOSE header; its `alg` must be an RSA one), signed with the fixture RSA key
/// `key` ([`KEY_1`] or [`KEY_2`]).
pub fn sign_rs256(key: &str, header: &Value, claims: &Value) -> String {
    let pkcs8 =
        std::fs::read(crate::fixtures::path(key)).unwrap_or_else(|e| panic!("test key {key}: {e}"));
    let key = EncodingKey::from_rsa_der(pkcs1_from_pkcs8(&pkcs8));
    sign(header, claims, &key)
}

/// `EncodingKey::from_rsa_der` takes PKCS#1 (`RSAPrivateKey`); the fixture keys are PKCS#8, which wraps it
/// as `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING RSAPrivateKey }` (RFC 5208).
fn pkcs1_from_pkcs8(der: &[u8]) -> &[u8] {
    let (info, _) = der_element(der, 0x30);
    let (_version, rest) = der_element(info, 0x02);
    let (_algorithm, rest) = der_element(rest, 0x30);
    der_element(rest, 0x04).0
}

/// The contents of the DER element at the start of `der`, which must be tagged `tag`, and what follows it.
fn der_element(der: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(der.first(), Some(&tag), "a PKCS#8 key");
    let (len, start) = match der[1] {
        short @ 0..=0x7f => (usize::from(short), 2),
        long => {
            let bytes = usize::from(long & 0x7f);
            let len = der[2..2 + bytes]
                .iter()
                .fold(0, |len, &b| len << 8 | usize::from(b));
            (len, 2 + bytes)
        }
    };
    der[start..].split_at(len)
}

/// An HS256 token with the header `{"alg": "HS256", "typ": "JWT"}`, signed with `secret`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    sign_hs256(secret, &json!({"alg": "HS256", "typ": "JWT"}), claims)
}

/// `claims` under `header` (its `alg` must be an HMAC one), signed with `secret`, whatever its length: an
/// attacker's "secret" may be anything, an RSA modulus or a JWKS included.
pub fn sign_hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
    sign(header, claims, &key)
}

fn sign(header: &Value, claims: &Value, key: &EncodingKey) -> String {
    let header: Header = serde_json::from_value(header.clone()).expect("a JOSE header");
    jsonwebtoken::encode(&header, claims, key).expect("signing a test token")
}

/// `<header>.<claims>`, base64url, with no signature part at all: append `.` for an `alg: none` token, or any
/// signature. `header` is JSON text, so it can say what no typed header can (`"alg": "none"`).
pub fn unsigned(header: &str, claims: &Value) -> String {
    format!("{}.{}", b64(header), b64(claims.to_string()))
}

/// `token` with its payload replaced by `claims` and its header and signature kept: a forgery.
pub fn replace_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    format!("{}.{}.{}", parts[0], b64(claims.to_string()), parts[2])
}

/// The modulus and exponent of [`KEY_1`]'s public key, decoded from `fixtures/jwt/jwks.json`.
pub fn public_key_components() -> (Vec<u8>, Vec<u8>) {
    let jwks = crate::fixtures::json("jwt/jwks.json");
    let key = &jwks["keys"][0];
    let field = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(key[name].as_str().expect("a string"))
            .expect("base64url")
    };
    (field("n"), field("e"))
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Serves `fixtures/jwt/jwks.json` at `http://127.0.0.1:<port>/.well-known/jwks.json` from a thread, and
/// counts the fetches.
pub struct JwksServer {
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("address")
        );
        let body = crate::fixtures::text("jwt/jwks.json");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                // Read the request head; the body of a GET is empty.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
