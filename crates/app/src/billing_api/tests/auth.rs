//! Sessions: what every signed-in route refuses, and the cookie beside the bearer token.
use super::{code, harness, token, token_with, ISSUER, NOW, SECRET, USER};
use crate::billing_api::router::handle_at;
use entitle_domain::time::UnixTime;
use entitle_test_support::http::RequestSpec;
use serde_json::{json, Value};

#[tokio::test]
async fn every_route_refuses_a_missing_or_invalid_session_with_401_and_www_authenticate() {
    let h = harness();
    let expired = token_with(json!({"sub": USER, "iss": ISSUER, "exp": NOW - 60}), SECRET);
    let forged = token_with(
        json!({"sub": USER, "iss": ISSUER, "exp": NOW + 60}),
        "another-secret",
    );
    let wrong_issuer = token_with(
        json!({"sub": USER, "iss": "https://evil.example", "exp": NOW + 60}),
        SECRET,
    );
    for (method, path) in [
        ("POST", "/checkout"),
        ("POST", "/portal"),
        ("GET", "/entitlements"),
        ("GET", "/usage"),
        ("POST", "/subscription/cancel"),
        ("POST", "/subscription/resume"),
        ("POST", "/subscription/change"),
    ] {
        for token in [
            None,
            Some("garbage"),
            Some(expired.as_str()),
            Some(forged.as_str()),
            Some(wrong_issuer.as_str()),
        ] {
            let request = {
                let mut spec = RequestSpec::post(path, b"{}").method(method);
                if let Some(t) = token {
                    spec = spec.header("authorization", format!("Bearer {t}"));
                }
                spec.build()
            };
            let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
            assert_eq!(response.status().as_u16(), 401, "{method} {path} {token:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
            assert_eq!(code(&body), "unauthorized");
        }
    }
    assert!(h.stripe.calls().is_empty());
}

#[tokio::test]
async fn the_session_cookie_is_accepted_like_a_bearer_token() {
    let h = harness();
    let request = RequestSpec::post("/entitlements", b"")
        .method("GET")
        .header("cookie", format!("theme=dark; __session={}", token()))
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200);
}
