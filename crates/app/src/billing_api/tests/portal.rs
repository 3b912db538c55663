//! `POST /portal`.
use super::{call, checkout, code, harness, token, APP};
use serde_json::json;

#[tokio::test]
async fn the_portal_needs_a_customer_and_then_returns_its_url() {
    let h = harness();
    let body = json!({"returnUrl": format!("{APP}/account")});
    let (status, reply) = call(&h, "POST", "/portal", Some(body.clone()), Some(&token())).await;
    assert_eq!((status, code(&reply)), (404, "no_customer"));
    call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await;
    let (status, reply) = call(&h, "POST", "/portal", Some(body), Some(&token())).await;
    assert_eq!(status, 200);
    assert!(reply["url"]
        .as_str()
        .unwrap()
        .starts_with("https://billing.stripe.com/"));
}
