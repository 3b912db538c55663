use crate::helpers::{config, env};
use aws_sdk_dynamodb::types::AttributeValue;
use entitle_core::adapters::DynamoEventLog;
use entitle_domain::ports::{Claim, ClaimRequest, EventLog};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use std::sync::Arc;
use std::time::Duration;

async fn log() -> (DynamoEventLog, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&config().await);
    let table = env("IDEMPOTENCY_TABLE");
    (DynamoEventLog::new(client.clone(), &table), client, table)
}

fn request(key: &str, now: i64) -> ClaimRequest<'_> {
    ClaimRequest {
        key,
        event_type: "invoice.paid",
        payload: r#"{"id":"evt"}"#,
        now: UnixTime::from_secs(now),
        lease: Duration::from_secs(8),
    }
}

#[tokio::test]
async fn a_first_claim_wins_and_later_ones_see_it_in_progress_then_completed() {
    let (log, client, table) = log().await;
    let key = unique_id("test#evt_");
    let now = UnixTime::now().secs();
    let Claim::Claimed(token) = log.claim(&request(&key, now)).await.unwrap() else {
        panic!("the first claim must win");
    };
    assert_eq!(
        log.claim(&request(&key, now + 1)).await.unwrap(),
        Claim::InProgress
    );
    log.complete(&key, &token, UnixTime::from_secs(now + 2))
        .await
        .unwrap();
    assert_eq!(
        log.claim(&request(&key, now + 3)).await.unwrap(),
        Claim::Duplicate
    );
    // Even after the lease would have run out, a completed event stays a duplicate.
    assert_eq!(
        log.claim(&request(&key, now + 60)).await.unwrap(),
        Claim::Duplicate
    );

    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.clone()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the record exists");
    assert_eq!(item["status"].as_s().unwrap(), "completed");
    assert_eq!(
        item["payload"].as_s().unwrap(),
        r#"{"id":"evt"}"#,
        "the audit trail"
    );
    let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        now + 2 + 30 * 24 * 3600,
        "kept 30 days after completion"
    );
    assert!(!item.contains_key("leaseUntil"));
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_after_its_lease_and_the_old_holder_cannot_release_it() {
    let (log, _, _) = log().await;
    let key = unique_id("test#evt_");
    let now = UnixTime::now().secs();
    let Claim::Claimed(stale) = log.claim(&request(&key, now)).await.unwrap() else {
        panic!("claimed");
    };
    let Claim::Claimed(fresh) = log.claim(&request(&key, now + 9)).await.unwrap() else {
        panic!("an expired lease is taken over");
    };
    assert_ne!(stale, fresh);
    log.release(&key, &stale).await.unwrap();
    assert_eq!(
        log.claim(&request(&key, now + 10)).await.unwrap(),
        Claim::InProgress
    );
    assert!(log
        .complete(&key, &stale, UnixTime::from_secs(now + 10))
        .await
        .is_err());
    log.complete(&key, &fresh, UnixTime::from_secs(now + 10))
        .await
        .unwrap();
    assert_eq!(
        log.claim(&request(&key, now + 11)).await.unwrap(),
        Claim::Duplicate
    );
}

#[tokio::test]
async fn a_released_claim_can_be_claimed_again_at_once() {
    let (log, _, _) = log().await;
    let key = unique_id("test#evt_");
    let now = UnixTime::now().secs();
    let Claim::Claimed(token) = log.claim(&request(&key, now)).await.unwrap() else {
        panic!("claimed");
    };
    log.release(&key, &token).await.unwrap();
    assert!(matches!(
        log.claim(&request(&key, now)).await.unwrap(),
        Claim::Claimed(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_claims_of_one_event_have_exactly_one_winner() {
    let (log, _, _) = log().await;
    let log = Arc::new(log);
    let key = Arc::new(unique_id("test#evt_"));
    let now = UnixTime::now().secs();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (log, key) = (log.clone(), key.clone());
            tokio::spawn(async move { log.claim(&request(&key, now)).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Claim::Claimed(_) => winners += 1,
            Claim::InProgress => {}
            Claim::Duplicate => panic!("nothing was completed"),
        }
    }
    assert_eq!(winners, 1);
}
