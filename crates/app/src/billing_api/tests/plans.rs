//! `GET /plans` and the catalog's trial rules.
use super::{call, code, harness, NOW};
use crate::billing_api::router::handle_at;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use entitle_test_support::http::RequestSpec;
use serde_json::Value;

#[tokio::test]
async fn the_plans_are_public_cacheable_and_answer_304_to_their_etag() {
    let h = harness();
    let request = RequestSpec::post("/plans", b"").method("GET").build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200, "no session token needed");
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let ids: Vec<&str> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "free",
            "starter",
            "professional",
            "team",
            "enterprise",
            "team_pack"
        ]
    );
    let starter = &body["plans"][1];
    assert_eq!(starter["limits"]["messages_per_day"], 1000);
    assert_eq!(starter["prices"][0]["lookupKey"], "starter_monthly");
    assert_eq!(
        (
            starter["prices"][0]["amount"].as_u64(),
            starter["prices"][0]["interval"].as_str()
        ),
        (Some(4900), Some("month"))
    );
    assert_eq!(body["plans"][5]["addon"], true);
    assert_eq!(body["creditPacks"][0]["credits"], 1000);
    assert_eq!(body["limits"]["messages_per_day"]["resets"], "day");
    assert_eq!(body["limits"]["credits"]["lowThreshold"], 100);

    let again = RequestSpec::post("/plans", b"")
        .method("GET")
        .header("if-none-match", etag.clone())
        .build();
    let response = handle_at(&h.deps, &again, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 304);
    assert!(response.body().is_empty());
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    let stale = RequestSpec::post("/plans", b"")
        .method("GET")
        .header("if-none-match", "\"something-else\"")
        .build();
    let response = handle_at(&h.deps, &stale, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200);

    let (status, body) = call(&h, "POST", "/plans", None, None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    assert!(
        h.stripe.calls().is_empty(),
        "the catalog needs no Stripe call"
    );
}

#[test]
fn a_catalog_trial_must_be_on_a_recurring_price_and_within_stripes_bounds() {
    let base = include_str!("../../../../../config/plans.toml");
    for (from, to) in [
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_days = 0\n",
        ),
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_days = 731\n",
        ),
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_requires_payment_method = false\n",
        ),
        (
            "lookup_key = \"credits_1000\"\n",
            "lookup_key = \"credits_1000\"\ntrial_days = 7\n",
        ),
    ] {
        let error = PlanCatalog::parse(&base.replacen(from, to, 1)).unwrap_err();
        assert!(error.to_string().contains("trial"), "{to}: {error}");
    }
}
