//! `GET /entitlements`.
use super::{buy_credits, call, harness, token, NOW, USER};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;

#[tokio::test]
async fn entitlements_are_the_free_plan_until_something_is_stored() {
    let h = harness();
    let (status, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(status, 200);
    assert_eq!(body["plan"], "free");
    assert_eq!(body["status"], "free");
    assert_eq!(body["userId"], USER);
    assert_eq!(body["credits"], 0);
    assert!(body["limits"].as_object().is_some_and(|l| !l.is_empty()));
}

#[tokio::test]
async fn stored_entitlements_are_returned_and_an_expired_grace_period_reads_as_free() {
    let h = harness();
    let catalog = PlanCatalog::builtin();
    let user = SubjectId::parse(USER).unwrap();
    let pro = Entitlements::on_plan(
        user.clone(),
        catalog.plan("professional").unwrap(),
        Status::Active,
    );
    buy_credits(&h, 1500).await;
    h.usage.put_entitlements(pro);
    let (_, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(
        (body["plan"].as_str(), body["credits"].as_i64()),
        (Some("professional"), Some(1500))
    );

    let mut late =
        Entitlements::on_plan(user, catalog.plan("professional").unwrap(), Status::PastDue);
    late.grace_until = Some(UnixTime::from_secs(NOW - 1).to_rfc3339());
    h.usage.put_entitlements(late);
    let (_, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("free"), Some("free"))
    );
    assert_eq!(body["credits"], 1500, "credits outlive the plan");
}
