//! Organizations through the Clerk webhook: a customer of their own (named like the organization), stopped
//! like a user's when deleted, and membership or invitation events that only prompt a seat recount.
use super::tests::{deliver_fixture, harness, published_types};
use entitle_domain::event::EventData;
use entitle_domain::ids::SubjectId;

const ORG: &str = "org_2teamACMEorg0000000000001";

fn org() -> SubjectId {
    SubjectId::parse(ORG).unwrap()
}

#[tokio::test]
async fn organization_created_makes_its_own_customer_named_like_it_and_a_rename_follows() {
    let h = harness();
    assert_eq!(
        deliver_fixture(&h, "msg_o1", "organization.created").await,
        200
    );
    let customers = h.stripe.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].1, org());
    assert_eq!(customers[0].2.name.as_deref(), Some("Acme Robotics"));
    assert_eq!(customers[0].2.email, None);
    assert_eq!(
        published_types(&h),
        ["organization.created", "customer.linked"]
    );
    // A redelivery changes nothing; a rename reaches the same customer.
    assert_eq!(
        deliver_fixture(&h, "msg_o1", "organization.created").await,
        200
    );
    assert_eq!(
        deliver_fixture(&h, "msg_o2", "organization.updated").await,
        200
    );
    let customers = h.stripe.customers();
    assert_eq!(customers.len(), 1);
    assert!(h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with("update_customer")));
    assert_eq!(published_types(&h).last(), Some(&"organization.updated"));
}

#[tokio::test]
async fn organization_deleted_stops_its_subscriptions_and_keeps_the_customer() {
    let h = harness();
    deliver_fixture(&h, "msg_o1", "organization.created").await;
    let customer = h.stripe.customers()[0].0.clone();
    h.stripe.add_subscription("sub_team", &customer, "active");
    assert_eq!(
        deliver_fixture(&h, "msg_o3", "organization.deleted").await,
        200
    );
    assert_eq!(
        h.stripe.subscription_status("sub_team").as_deref(),
        Some("canceling")
    );
    assert!(h.customers.row(&org()).unwrap().deleted);
    assert_eq!(published_types(&h).last(), Some(&"organization.deleted"));
}

#[tokio::test]
async fn membership_and_invitation_events_prompt_a_recount_and_touch_no_customer() {
    let h = harness();
    for (id, fixture) in [
        ("msg_m1", "organizationMembership.created"),
        ("msg_i1", "organizationInvitation.created"),
        ("msg_m1", "organizationMembership.created"),
    ] {
        assert_eq!(deliver_fixture(&h, id, fixture).await, 200);
    }
    assert!(h.stripe.calls().is_empty());
    // Once per message: the redelivery is a duplicate.
    let prompts: Vec<_> = h.publisher.events();
    assert_eq!(prompts.len(), 2);
    for prompt in &prompts {
        assert_eq!(prompt.event_type.as_str(), "organization.members_changed");
        assert_eq!(prompt.user_id.as_ref(), Some(&org()));
    }
    match &prompts[1].data {
        EventData::Members(data) => assert_eq!(data.clerk_event, "organizationInvitation.created"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_organization_event_that_names_no_organization_is_a_400() {
    let h = harness();
    let not_an_org =
        r#"{"type":"organization.created","data":{"id":"user_1","name":"x"},"object":"event"}"#;
    assert_eq!(
        super::tests::deliver(&h, "msg_bad", not_an_org).await.0,
        400
    );
    let no_org =
        r#"{"type":"organizationMembership.created","data":{"id":"orgmem_1"},"object":"event"}"#;
    assert_eq!(super::tests::deliver(&h, "msg_bad2", no_org).await.0, 400);
    assert!(h.stripe.calls().is_empty());
    assert!(h.publisher.events().is_empty());
}
