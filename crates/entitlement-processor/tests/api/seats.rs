//! An organization's seats on the real parts: membership events through the processor's handler, the count
//! read from the local Clerk through the production client, stored in the usage table of the local AWS, and
//! `seats.changed` on the real topic.
use crate::helpers::{process, TestApp};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{CounterKey, UsageStore};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use serde_json::{json, Value};

fn members_changed(org: &str, id: &str, clerk_event: &str) -> String {
    json!({
        "schemaVersion": 1, "id": id, "source": "clerk", "type": "organization.members_changed",
        "occurredAt": UnixTime::now().to_rfc3339(), "userId": org, "data": {"clerkEvent": clerk_event}
    })
    .to_string()
}

async fn stored_seats(app: &TestApp, org: &str) -> (i64, i64) {
    let key = CounterKey {
        user: SubjectId::parse(org).unwrap(),
        name: "seats".into(),
        expires_at: None,
    };
    app.usage.counted(&key).await.unwrap()
}

#[tokio::test]
async fn shuffled_and_repeated_membership_events_end_on_clerks_true_count_announced_once_per_change(
) {
    let app = TestApp::spawn().await;
    let org = unique_id("org_");
    app.clerk.create_organization(&org, "Acme");
    let members: Vec<String> = (0..13).map(|_| unique_id("user_")).collect();
    for user in &members {
        app.clerk.create_user(user);
        app.clerk.add_member(&org, user, "org:member");
    }
    // Thirteen joins delivered as a shuffled batch with duplicates: each one only prompts a recount.
    let mut bodies: Vec<String> = (0..13)
        .rev()
        .map(|n| {
            members_changed(
                &org,
                &format!("msg_join{n}"),
                "organizationMembership.created",
            )
        })
        .collect();
    bodies.extend(bodies.clone());
    assert!(app.process(&bodies).await.is_empty());
    // More than a page of Clerk's default list (10): the total count, not a page of it.
    assert_eq!(stored_seats(&app, &org).await.0, 13);

    app.clerk.remove_member(&org, &members[4]);
    app.clerk.remove_member(&org, &members[7]);
    let leave = members_changed(&org, "msg_leave", "organizationMembership.deleted");
    assert!(app.process(&[leave.clone(), leave]).await.is_empty());
    let (seats, version) = stored_seats(&app, &org).await;
    assert_eq!(seats, 11);

    let announced: Vec<Value> = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.body()?).ok())
        .filter(|e| e["type"] == "seats.changed" && e["userId"] == org.as_str())
        .collect();
    let changes: Vec<(u64, u64)> = announced
        .iter()
        .map(|e| {
            (
                e["data"]["previous"].as_u64().unwrap(),
                e["data"]["seats"].as_u64().unwrap(),
            )
        })
        .collect();
    // 0 → 13 once, 13 → 11 once: the count's two versions, each announced once.
    assert_eq!(changes, vec![(0, 13), (13, 11)]);
    assert_eq!(version, 2);
}

#[tokio::test]
async fn clerk_failing_makes_the_prompt_retry_and_the_retry_counts() {
    let app = TestApp::spawn().await;
    let org = unique_id("org_");
    app.clerk.create_organization(&org, "Acme");
    let user = unique_id("user_");
    app.clerk.create_user(&user);
    app.clerk.add_member(&org, &user, "org:admin");
    app.clerk.fail_next(1, 503, "/v1/organizations");
    let prompt = members_changed(&org, "msg_retry", "organizationMembership.created");
    assert_eq!(
        app.process(std::slice::from_ref(&prompt)).await,
        vec!["m0".to_string()]
    );
    assert_eq!(stored_seats(&app, &org).await, (0, 0));
    assert!(process(&app.deps, &[prompt]).await.is_empty());
    assert_eq!(stored_seats(&app, &org).await, (1, 1));
}
