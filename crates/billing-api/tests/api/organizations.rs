//! An organization billed through billing-api on the real parts: its members' permissions read from the local
//! Clerk through the production client, its own Stripe customer on the local Stripe, its rows in the tables.
use crate::helpers::{call, TestApp, APP};
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::fixtures::unique_id;
use serde_json::json;

fn checkout() -> serde_json::Value {
    json!({"price": "starter_monthly", "successUrl": format!("{APP}/done"), "cancelUrl": format!("{APP}/pricing")})
}

#[tokio::test]
async fn only_a_member_with_the_billing_permission_checks_out_for_the_organization() {
    let clerk = FakeClerk::start();
    let app = TestApp::spawn_with_clerk(&clerk).await;
    let org = unique_id("org_");
    let (admin, member) = (unique_id("user_"), unique_id("user_"));
    clerk.create_organization(&org, "Acme");
    clerk.create_user(&admin);
    clerk.create_user(&member);
    clerk.add_member(&org, &admin, "org:admin");
    clerk.add_member(&org, &member, "org:member");

    // A member without org:sys_billing:manage: reads, but no checkout (and nothing reaches Stripe).
    let as_member = app.org_token(&member, &org, "member");
    let read = call(&app.deps, "GET", "/entitlements", None, &as_member).await;
    assert_eq!(
        (read.status, read.body["userId"].as_str()),
        (200, Some(org.as_str()))
    );
    let refused = call(&app.deps, "POST", "/checkout", Some(checkout()), &as_member).await;
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (403, Some("billing_permission_required"))
    );
    assert!(app.writes("/v1/checkout/sessions").is_empty());
    assert!(app.writes("/v1/customers").is_empty());

    // The admin: the organization's checkout, on a customer of its own that names it.
    let as_admin = app.org_token(&admin, &org, "admin");
    let made = call(&app.deps, "POST", "/checkout", Some(checkout()), &as_admin).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let customers: Vec<_> = app
        .stripe
        .customers()
        .into_iter()
        .filter(|c| c["metadata"]["clerkOrgId"] == org.as_str())
        .collect();
    assert_eq!(
        customers.len(),
        1,
        "one Stripe customer for the organization"
    );
    assert!(customers[0]["metadata"]["clerkUserId"].is_null());
    let sessions = app.writes("/v1/checkout/sessions");
    assert_eq!(sessions.len(), 1);
    let params = &sessions[0]["params"];
    assert_eq!(params["client_reference_id"], org.as_str());
    assert_eq!(params["metadata"]["orgId"], org.as_str());
    assert_eq!(
        params["subscription_data"]["metadata"]["orgId"],
        org.as_str()
    );
    assert!(params["metadata"].get("userId").is_none());

    // The same user without the organization active acts for themself: their own customer, not the team's.
    let mine = call(
        &app.deps,
        "POST",
        "/checkout",
        Some(checkout()),
        &app.token(),
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(app.stripe_customers().len(), 1);

    // Removed from the organization while their token still names it: refused the next billing change.
    clerk.remove_member(&org, &admin);
    let gone = call(
        &app.deps,
        "POST",
        "/portal",
        Some(json!({"returnUrl": format!("{APP}/billing")})),
        &as_admin,
    )
    .await;
    assert_eq!(
        (gone.status, gone.body["error"]["code"].as_str()),
        (403, Some("not_a_member"))
    );
}

#[tokio::test]
async fn clerk_unavailable_for_the_permission_check_is_a_503_and_changes_nothing() {
    let clerk = FakeClerk::start();
    let app = TestApp::spawn_with_clerk(&clerk).await;
    let org = unique_id("org_");
    let admin = unique_id("user_");
    clerk.create_organization(&org, "Acme");
    clerk.create_user(&admin);
    clerk.add_member(&org, &admin, "org:admin");
    clerk.fail_next(1, 503, "/v1/organizations");
    let token = app.org_token(&admin, &org, "admin");
    let reply = call(&app.deps, "POST", "/checkout", Some(checkout()), &token).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(app.writes("/v1/customers").is_empty());
    // The sender's retry goes through.
    let reply = call(&app.deps, "POST", "/checkout", Some(checkout()), &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}
