//! The router: CORS preflights, wrong methods, unknown routes, oversized and malformed bodies.
use super::{call, code, harness, token, APP, NOW};
use crate::billing_api::router::{handle_at, MAX_BODY_BYTES};
use entitle_domain::time::UnixTime;
use entitle_test_support::http::RequestSpec;
use serde_json::json;

#[tokio::test]
async fn cors_preflights_from_allowed_origins_are_answered_and_others_get_no_grant() {
    let h = harness();
    for (origin, granted) in [(APP, true), ("https://evil.example", false)] {
        let request = RequestSpec::post("/checkout", b"")
            .method("OPTIONS")
            .header("origin", origin)
            .build();
        let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
        assert_eq!(response.status().as_u16(), 204);
        let headers = response.headers();
        assert_eq!(
            headers.get("access-control-allow-origin").is_some(),
            granted,
            "{origin}"
        );
        assert_eq!(
            headers.get("access-control-allow-methods").is_some(),
            granted
        );
        if granted {
            // What a frontend with a tracing SDK sends must pass the preflight.
            let allowed = headers["access-control-allow-headers"].to_str().unwrap();
            for header in [
                "authorization",
                "content-type",
                "idempotency-key",
                "traceparent",
            ] {
                assert!(
                    allowed.split(", ").any(|h| h == header),
                    "{header} in {allowed}"
                );
            }
        }
    }
    let request = RequestSpec::post("/entitlements", b"")
        .method("GET")
        .header("origin", APP)
        .header("authorization", format!("Bearer {}", token()))
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.headers()["access-control-allow-origin"], APP);
    assert_eq!(
        response.headers()["access-control-expose-headers"],
        "etag, retry-after, www-authenticate"
    );
}

#[tokio::test]
async fn wrong_methods_unknown_routes_big_and_malformed_bodies_get_clear_errors() {
    let h = harness();
    let response = handle_at(
        &h.deps,
        &RequestSpec::post("/entitlements", b"{}").build(),
        UnixTime::from_secs(NOW),
    )
    .await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        call(&h, "GET", "/nothing-here", None, Some(&token()))
            .await
            .0,
        404
    );
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(json!("x".repeat(MAX_BODY_BYTES))),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (413, "payload_too_large"));
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(json!({"price": 5})),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "malformed_body"));
    // A body is a JSON object: an array of the fields in order is refused too (serde would take it).
    for (path, body) in [
        ("/subscription/resume", json!([])),
        ("/subscription/cancel", json!([true])),
        ("/checkout", json!(["starter_monthly"])),
    ] {
        let (status, reply) = call(&h, "POST", path, Some(body), Some(&token())).await;
        assert_eq!((status, code(&reply)), (400, "malformed_body"), "{path}");
    }
    // Any path prefix works.
    assert_eq!(
        call(&h, "GET", "/prod/entitlements", None, Some(&token()))
            .await
            .0,
        200
    );
}
