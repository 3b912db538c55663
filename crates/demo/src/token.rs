//! A Clerk-shaped session token for the demo's user, signed HS256 with the secret billing-api is configured
//! with (its `JWT_SECRET` mode), as `make dev` mints one; minted by test-support, like every test token.
use entitle_domain::time::UnixTime;
use serde_json::json;

pub fn session_token(user: &str, secret: &str, now: UnixTime) -> String {
    let now = now.secs();
    entitle_test_support::jwt::hs256(
        secret.as_bytes(),
        &json!({"sub": user, "sid": "sess_demo", "iat": now, "nbf": now - 5, "exp": now + 3600}),
    )
}
