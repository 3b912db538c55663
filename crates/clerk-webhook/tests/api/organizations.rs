//! Organizations through clerk-webhook on the real parts: the organization's own customer on the local
//! Stripe, the customers table of the local AWS, and the events on the real topic.
use crate::helpers::TestApp;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::CustomerDirectory;
use entitle_test_support::fixtures::{self, unique_id};
use serde_json::Value;

/// A recorded Clerk organization event, for organization `org` (`data.id`, or a membership's
/// `data.organization.id`, or an invitation's `data.organization_id`).
fn org_event(name: &str, org: &str) -> String {
    let mut event = fixtures::json(&format!("clerk/{name}.json"));
    let data = &mut event["data"];
    if data["object"] == "organization" {
        data["id"] = org.into();
    } else if data["object"] == "organization_membership" {
        data["organization"]["id"] = org.into();
    } else {
        data["organization_id"] = org.into();
    }
    serde_json::to_string(&event).unwrap()
}

#[tokio::test]
async fn an_organizations_lifecycle_keeps_its_own_customer_and_prompts_seat_recounts() {
    let app = TestApp::spawn().await;
    let org = unique_id("org_");
    let subject = SubjectId::parse(org.as_str()).unwrap();
    let created = unique_id("msg_");
    let reply = app
        .deliver(&created, &org_event("organization.created", &org))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let customers: Vec<Value> = app
        .stripe
        .customers()
        .into_iter()
        .filter(|c| c["metadata"]["clerkOrgId"] == org.as_str())
        .collect();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["name"], "Acme Robotics");
    let link = app.customers.get(&subject).await.unwrap().unwrap();
    assert_eq!(
        link.customer.unwrap().as_str(),
        customers[0]["id"].as_str().unwrap()
    );
    let announced = app.tap.messages_for(&created).await;
    assert_eq!(announced.len(), 1);

    for (name, fixture) in [
        ("membership", "organizationMembership.created"),
        ("invitation", "organizationInvitation.created"),
    ] {
        let id = unique_id(&format!("msg_{name}"));
        let reply = app.deliver(&id, &org_event(fixture, &org)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let prompts = app.tap.messages_for(&id).await;
        assert_eq!(prompts.len(), 1, "{name}");
        let prompt: Value = serde_json::from_str(prompts[0].body().unwrap()).unwrap();
        assert_eq!(prompt["type"], "organization.members_changed");
        assert_eq!(prompt["userId"], org.as_str());
        assert_eq!(prompt["data"]["clerkEvent"], fixture);
    }

    let renamed = unique_id("msg_");
    assert_eq!(
        app.deliver(&renamed, &org_event("organization.updated", &org))
            .await
            .status,
        200
    );
    let deleted = unique_id("msg_");
    assert_eq!(
        app.deliver(&deleted, &org_event("organization.deleted", &org))
            .await
            .status,
        200
    );
    assert!(app.customers.get(&subject).await.unwrap().unwrap().deleted);
    assert_eq!(app.tap.messages_for(&deleted).await.len(), 1);
    // Still one customer for the organization, renamed.
    let customers: Vec<Value> = app
        .stripe
        .customers()
        .into_iter()
        .filter(|c| c["metadata"]["clerkOrgId"] == org.as_str())
        .collect();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["name"], "Acme Robotics Inc.");
}
