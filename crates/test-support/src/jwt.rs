//! Clerk-shaped session tokens signed with the test keys in `fixtures/jwt/`, and a local JWKS server.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An RS256 token signed with `fixtures/jwt/test-rsa-2048.pk8.der` under `kid`.
pub fn rs256(claims: &serde_json::Value, kid: &str) -> String {
    let der = std::fs::read(crate::fixtures::path("jwt/test-rsa-2048.pk8.der")).expect("test key");
    let key = RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("signing");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
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
