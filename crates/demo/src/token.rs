//! A Clerk-shaped session token for the demo's user, signed HS256 with the secret billing-api is configured
//! with (its `JWT_SECRET` mode), as `make dev` mints one.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entitle_domain::time::UnixTime;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

pub fn session_token(user: &str, secret: &str, now: UnixTime) -> String {
    let encode = |value: serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let now = now.secs();
    let signing_input = format!(
        "{}.{}",
        encode(json!({"alg": "HS256", "typ": "JWT"})),
        encode(
            json!({"sub": user, "sid": "sess_demo", "iat": now, "nbf": now - 5, "exp": now + 3600})
        )
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}
