//! An organization's pool with per-member caps, against the local AWS: racing members can overspend neither
//! the pool nor their own cap (both counters in one transaction), holds settle on both, `GET /v1/usage`
//! shows both, a member at their cap is announced once with `memberId`, and a consume stays one read and one
//! transaction.
use crate::helpers::{call, TestApp};
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{self, TopicTap};
use entitle_test_support::fixtures::unique_id;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn members(n: usize) -> Vec<String> {
    (0..n).map(|_| unique_id("user_")).collect()
}

/// `per_member` concurrent consumes of 1 by each member, all at once; the answers by member.
async fn race(
    app: &TestApp,
    org: &SubjectId,
    feature: &str,
    members: &[String],
    per_member: usize,
) -> HashMap<String, Vec<Value>> {
    let now = UnixTime::now();
    let mut tasks = Vec::new();
    for member in members {
        for _ in 0..per_member {
            let deps = Arc::clone(&app.deps);
            let body = json!({
                "subject": org.as_str(), "memberId": member, "feature": feature, "amount": 1,
                "idempotencyKey": app.key(),
            });
            let member = member.clone();
            tasks.push(tokio::spawn(async move {
                (member, call(&deps, "POST", "/v1/usage", body, now).await)
            }));
        }
    }
    let mut answers: HashMap<String, Vec<Value>> = HashMap::new();
    for task in tasks {
        let (member, (status, body)) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.entry(member).or_default().push(body);
    }
    answers
}

fn allowed(answers: &[Value]) -> usize {
    answers.iter().filter(|a| a["allowed"] == true).count()
}

async fn line(app: &TestApp, org: &SubjectId, member: &str, feature: &str) -> Value {
    let (status, body) = app
        .call_at(
            "GET",
            &format!("/v1/usage?subject={org}&memberId={member}"),
            Value::Null,
            UnixTime::now(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["feature"] == feature)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn racing_members_each_stop_at_their_cap_while_the_pool_has_room() {
    let app = TestApp::spawn().await;
    let org = app.organization_on("team").await;
    let team = members(3);
    // 3 members × 12 racing consumes, cap 5 each, pool 20: each member gets exactly 5.
    let answers = race(&app, &org, "messages", &team, 12).await;
    for member in &team {
        let mine = &answers[member];
        assert_eq!(allowed(mine), 5, "{member}");
        assert!(mine
            .iter()
            .filter(|a| a["allowed"] == false)
            .all(|a| a["reason"] == "member_limit_exceeded" && a["member"]["remaining"] == 0));
        let shown = line(&app, &org, member, "messages").await;
        assert_eq!(shown["used"], 15, "the pool: every member's use");
        assert_eq!(shown["remaining"], 5);
        assert_eq!(
            shown["member"],
            json!({"memberId": member, "limit": 5, "used": 5, "held": 0, "remaining": 0})
        );
    }
    // The pool still has room for another member.
    let newcomer = unique_id("user_");
    let (_, body) = app
        .call_at(
            "POST",
            "/v1/check",
            json!({"subject": org.as_str(), "memberId": newcomer, "feature": "messages", "amount": 5}),
            UnixTime::now(),
        )
        .await;
    assert_eq!(body["allowed"], true, "{body}");
    assert_eq!(body["member"]["remaining"], 5);
}

#[tokio::test]
async fn racing_members_together_stop_at_exactly_the_pool_and_none_above_their_cap() {
    let app = TestApp::spawn().await;
    let org = app.organization_on("team").await;
    let team = members(6);
    // 6 members × 8 racing consumes: caps would allow 30, the pool allows 20.
    let answers = race(&app, &org, "messages", &team, 8).await;
    let total: usize = answers.values().map(|a| allowed(a)).sum();
    assert_eq!(total, 20);
    for member in &team {
        let mine = allowed(&answers[member]);
        assert!(mine <= 5, "{member} got {mine}");
        let shown = line(&app, &org, member, "messages").await;
        assert_eq!(shown["used"], 20);
        assert_eq!(shown["member"]["used"], mine as i64, "{member}");
    }
    // Each refusal says which limit refused it.
    let reasons: Vec<_> = answers
        .values()
        .flatten()
        .filter(|a| a["allowed"] == false)
        .map(|a| a["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons
        .iter()
        .all(|r| r == "limit_exceeded" || r == "member_limit_exceeded"));
    assert!(reasons.iter().any(|r| r == "limit_exceeded"));
}

#[tokio::test]
async fn a_consume_with_a_member_is_one_read_and_one_transaction_and_without_one_only_the_pool_counts(
) {
    let app = TestApp::spawn().await;
    let org = app.organization_on("team").await;
    let member = unique_id("user_");
    app.trips.0.lock().unwrap().clear();
    let (status, body) = app
        .call_at(
            "POST",
            "/v1/usage",
            json!({"subject": org.as_str(), "memberId": member, "feature": "messages", "amount": 2, "idempotencyKey": app.key()}),
            UnixTime::now(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.trips.0.lock().unwrap().clone(),
        ["BatchGetItem", "TransactWriteItems"]
    );
    assert_eq!(
        body["member"],
        json!({"memberId": member, "limit": 5, "used": 2, "held": 0, "remaining": 3})
    );
    // Without memberId the pool alone is spent (a server acting for the team, not a member).
    let (_, body) = app
        .call_at(
            "POST",
            "/v1/usage",
            json!({"subject": org.as_str(), "feature": "messages", "amount": 10, "idempotencyKey": app.key()}),
            UnixTime::now(),
        )
        .await;
    assert_eq!(
        (body["allowed"].clone(), body["used"].clone()),
        (json!(true), json!(12))
    );
    assert!(body.get("member").is_none());
    assert_eq!(
        line(&app, &org, &member, "messages").await["member"]["used"],
        2
    );
    // The same key with another member is another request: a conflict, not a replay.
    let key = app.key();
    let first = json!({"subject": org.as_str(), "memberId": member, "feature": "messages", "amount": 1, "idempotencyKey": key});
    assert_eq!(
        app.call_at("POST", "/v1/usage", first, UnixTime::now())
            .await
            .0,
        200
    );
    let other = json!({"subject": org.as_str(), "memberId": unique_id("user_"), "feature": "messages", "amount": 1, "idempotencyKey": key});
    let (status, body) = app
        .call_at("POST", "/v1/usage", other, UnixTime::now())
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("idempotency_conflict"))
    );
}

#[tokio::test]
async fn a_members_hold_counts_against_both_and_settles_on_both() {
    let app = TestApp::spawn().await;
    let org = app.organization_on("team").await;
    let member = unique_id("user_");
    let now = UnixTime::now();
    let hold = |amount: i64| {
        json!({"subject": org.as_str(), "memberId": member, "feature": "agents", "amount": amount,
               "idempotencyKey": app.key(), "hold": {"seconds": 60}})
    };
    let (_, held) = app.call_at("POST", "/v1/usage", hold(3), now).await;
    assert_eq!(held["allowed"], true, "{held}");
    assert_eq!(held["member"]["held"], 3);
    // The member's cap (3) is all held: one more is refused although the pool (10) has room.
    let (_, refused) = app.call_at("POST", "/v1/usage", hold(1), now).await;
    assert_eq!(refused["reason"], "member_limit_exceeded", "{refused}");
    assert_eq!(refused["remaining"], 7);
    let usage_id = held["usageId"].as_str().unwrap();
    let (status, committed) = app
        .call_at(
            "POST",
            &format!("/v1/usage/{usage_id}/commit"),
            json!({"amount": 2}),
            now,
        )
        .await;
    assert_eq!(status, 200, "{committed}");
    assert_eq!(
        (committed["used"].clone(), committed["held"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(
        committed["member"],
        json!({"memberId": member, "limit": 3, "used": 2, "held": 0, "remaining": 1})
    );
    // A release of an allocated agent gives it back to the member and the pool.
    let release = json!({"subject": org.as_str(), "memberId": member, "feature": "agents", "amount": -1, "idempotencyKey": app.key()});
    let (_, released) = app.call_at("POST", "/v1/usage", release, now).await;
    assert_eq!(released["used"], 1, "{released}");
    assert_eq!(released["member"]["used"], 1);
    let shown = line(&app, &org, &member, "agents").await;
    assert_eq!(
        (shown["used"].clone(), shown["member"]["used"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn a_member_at_their_cap_is_announced_once_with_the_member_and_the_subject() {
    let app = TestApp::spawn().await;
    let org = app.organization_on("team").await;
    let member = unique_id("user_");
    let tap = TopicTap::subscribe(&app.config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    let now = UnixTime::now();
    for _ in 0..7 {
        let body = json!({"subject": org.as_str(), "memberId": member, "feature": "messages", "amount": 1, "idempotencyKey": app.key()});
        assert_eq!(app.call_at("POST", "/v1/usage", body, now).await.0, 200);
    }
    let events: Vec<Value> = tap
        .messages()
        .await
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.body()?).ok())
        .filter(|e| e["type"] == "usage.limit_reached" && e["userId"] == org.as_str())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        event["subject"],
        json!({"type": "organization", "id": org.as_str()})
    );
    assert_eq!(event["data"]["memberId"], member.as_str());
    assert_eq!(
        (
            event["data"]["limit"].clone(),
            event["data"]["used"].clone()
        ),
        (json!(5), json!(5))
    );
}

#[tokio::test]
async fn a_member_id_is_refused_without_an_organization_or_when_malformed() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now();
    let cases = [
        (
            json!({"subject": app.user.as_str(), "memberId": unique_id("user_"), "feature": "messages", "amount": 1, "idempotencyKey": "k"}),
            "member_needs_organization",
        ),
        (
            json!({"subject": unique_id("org_"), "memberId": "org_1", "feature": "messages", "amount": 1, "idempotencyKey": "k"}),
            "invalid_member_id",
        ),
        (
            json!({"subject": unique_id("org_"), "memberId": 7, "feature": "messages", "amount": 1, "idempotencyKey": "k"}),
            "invalid_member_id",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = app.call_at("POST", "/v1/usage", body.clone(), now).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let (status, answer) = app
        .call_at(
            "GET",
            &format!("/v1/usage?subject={}&memberId=x", unique_id("org_")),
            Value::Null,
            now,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_member_id"))
    );
}
