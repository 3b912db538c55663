use crate::helpers::{signed_event, TestApp, SECRET};
use entitle_core::stripe::signature::sign;
use entitle_domain::time::UnixTime;

#[tokio::test]
async fn a_stale_or_forged_delivery_is_a_400_that_records_and_publishes_nothing() {
    let app = TestApp::spawn().await;
    let (id, body, _) = signed_event("invoice.paid", SECRET);
    let now = UnixTime::now().secs();
    for (signature, code) in [
        (sign(body.as_bytes(), SECRET, now - 301), "stale_timestamp"),
        (
            sign(body.as_bytes(), "whsec_forged", now),
            "invalid_signature",
        ),
    ] {
        let reply = app.deliver(&body, &signature).await;
        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (400, Some(code))
        );
    }
    assert!(app.record(&id).await.is_none());
    assert!(app.published(&id).await.is_empty());
}
