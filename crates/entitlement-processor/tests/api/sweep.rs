//! The hourly sweep by the sparse lapse index (`byLapse`, the template's): real queries of the local AWS
//! emulator's index, its pages, and the `sweep.page` a sweep queues when its time runs out.
//!
//! Every row here lapses around 2001, long before anything the other tests store, and the tests of this
//! file take turns (`TURN`): a sweep takes every row due by its bound, whoever wrote it.
use crate::helpers::{process, TestApp};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::{lapse_shard, EntitlementStore, LapseCursor, LAPSE_SHARDS};
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use entitlement_processor::handler::handle_until;
use entitlement_processor::maintenance::{sweep_from, SWEEP_PAGE};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

/// The sweep's "now": 2001-01-01T00:00:00Z.
const T0: i64 = 978_307_200;
const DAY: i64 = 86_400;

fn at(secs: i64) -> String {
    UnixTime::from_secs(secs).to_rfc3339()
}

/// A user of this test, known to the fake Clerk (the sweep mirrors each change there).
fn new_user(app: &TestApp) -> SubjectId {
    let user = SubjectId::parse(unique_id("user_sweep")).unwrap();
    app.clerk.create_user(user.as_str());
    user
}

/// Pro, canceled at the period end `end`.
fn canceling(user: &SubjectId, end: i64) -> Entitlements {
    let mut e = Entitlements::on_plan(
        user.clone(),
        PlanCatalog::builtin().plan("professional").unwrap(),
        Status::Canceling,
    );
    e.period_end = Some(at(end));
    e.updated_at = Some(at(end - 20 * DAY));
    e
}

/// The row's lapse-index attributes as stored: `(lapseShard, lapseAt)`.
async fn index_entry(user: &SubjectId) -> (Option<String>, Option<String>) {
    let config = aws::sdk_config().await;
    let item = aws_sdk_dynamodb::Client::new(&config)
        .get_item()
        .table_name(aws::env("ENTITLEMENTS_TABLE"))
        .key(
            "userId",
            aws_sdk_dynamodb::types::AttributeValue::S(user.to_string()),
        )
        .key(
            "entry",
            aws_sdk_dynamodb::types::AttributeValue::S("current".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the row");
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    (number("lapseShard"), number("lapseAt"))
}

/// Every user the index holds as due by `until`, walked page by page from the start.
async fn due(app: &TestApp, until: i64, page: usize) -> (Vec<SubjectId>, u64) {
    let mut users = Vec::new();
    let mut pages = 0;
    let mut cursor = LapseCursor::default();
    loop {
        let read = app
            .store
            .lapsing(UnixTime::from_secs(until), &cursor, page)
            .await
            .unwrap();
        pages += 1;
        for row in &read.rows {
            assert!(row.at.secs() <= until, "only rows due by the bound");
            assert_eq!(row.resume.shard, lapse_shard(&row.user));
        }
        users.extend(read.rows.into_iter().map(|r| r.user));
        match read.next {
            Some(next) => cursor = next,
            None => return (users, pages),
        }
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

#[tokio::test]
async fn a_row_due_is_swept_a_later_one_is_not_and_a_row_that_cannot_lapse_is_not_indexed() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let (past, future, never) = (new_user(&app), new_user(&app), new_user(&app));
    // Written as the processor writes (an update with the row's version), and as an operator's put.
    app.store
        .save(&canceling(&past, T0 - DAY), None, None, None)
        .await
        .unwrap();
    app.store.put(&canceling(&future, T0 + DAY)).await.unwrap();
    let mut active = canceling(&never, T0 + DAY);
    active.status = Status::Active;
    app.store.save(&active, None, None, None).await.unwrap();

    assert_eq!(
        index_entry(&past).await,
        (
            Some(lapse_shard(&past).to_string()),
            Some((T0 - DAY).to_string())
        )
    );
    assert_eq!(index_entry(&future).await.1, Some((T0 + DAY).to_string()));
    assert_eq!(
        index_entry(&never).await,
        (None, None),
        "nothing lapses: not in the sparse index"
    );
    let (by_t0, _) = due(&app, T0, SWEEP_PAGE).await;
    assert!(by_t0.contains(&past));
    assert!(!by_t0.contains(&future) && !by_t0.contains(&never));
    let (by_later, _) = due(&app, T0 + 2 * DAY, SWEEP_PAGE).await;
    assert!(by_later.contains(&past) && by_later.contains(&future));
    assert!(!by_later.contains(&never));

    let reply = handle_until(
        &app.deps,
        json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
        UnixTime::from_secs(T0),
        far(),
    )
    .await
    .unwrap();
    assert_eq!(reply["done"], true, "{reply}");
    assert_eq!(reply["failed"], 0, "{reply}");
    assert!(reply["downgraded"].as_u64().unwrap() >= 1, "{reply}");
    let stored = app.store.load(&past).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.entitlements.plan.as_str(),
            stored.entitlements.status
        ),
        ("free", Status::Free)
    );
    assert_eq!(stored.version, 2);
    assert_eq!(
        index_entry(&past).await,
        (None, None),
        "a lapsed row leaves the index in the same write"
    );
    assert_eq!(
        app.clerk.user(past.as_str()).unwrap()["public_metadata"]["billing"]["plan"],
        "free",
        "mirrored"
    );
    let later = app.store.load(&future).await.unwrap().unwrap();
    assert_eq!(
        (later.entitlements.status, later.version),
        (Status::Canceling, 1),
        "not yet due: untouched"
    );
    assert_eq!(index_entry(&future).await.1, Some((T0 + DAY).to_string()));
    assert_eq!(
        app.store.load(&never).await.unwrap().unwrap().version,
        1,
        "not in the index: untouched"
    );
    // A second sweep finds nothing of ours left due.
    let (left, _) = due(&app, T0, SWEEP_PAGE).await;
    assert!(!left.contains(&past));
}

#[tokio::test]
async fn the_sweep_pages_through_more_rows_than_one_page() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let users: Vec<SubjectId> = (0..9).map(|_| new_user(&app)).collect();
    for (i, user) in users.iter().enumerate() {
        app.store
            .save(&canceling(user, T0 - DAY - i as i64), None, None, None)
            .await
            .unwrap();
    }
    // Nine rows over four shards: one shard holds at least three, more than a page of two.
    let (listed, pages) = due(&app, T0, 2).await;
    assert!(users.iter().all(|u| listed.contains(u)));
    assert!(pages > u64::from(LAPSE_SHARDS), "{pages} pages");

    let swept = sweep_from(
        &app.deps,
        UnixTime::from_secs(T0),
        UnixTime::from_secs(T0),
        &LapseCursor::default(),
        2,
        far(),
    )
    .await
    .unwrap();
    assert!(swept.done && swept.failed == 0, "{swept:?}");
    assert!(swept.downgraded >= users.len() as u64, "{swept:?}");
    assert!(swept.pages > u64::from(LAPSE_SHARDS), "{swept:?}");
    for user in &users {
        let stored = app.store.load(user).await.unwrap().unwrap();
        assert_eq!(stored.entitlements.status, Status::Free, "{user}");
        assert_eq!(index_entry(user).await, (None, None), "{user}");
    }
    assert!(
        aws::drain(&app.sqs, &app.work_queue_url).await.is_empty(),
        "a sweep that reached the end queues nothing"
    );
}

#[tokio::test]
async fn a_sweep_out_of_time_queues_the_rest_and_the_queued_page_finishes_it() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let users: Vec<SubjectId> = (0..3).map(|_| new_user(&app)).collect();
    for user in &users {
        app.store
            .save(&canceling(user, T0 - 2 * DAY), None, None, None)
            .await
            .unwrap();
    }
    // The deadline is within the margin already: the sweep does nothing but queue where it stands.
    let reply = handle_until(
        &app.deps,
        json!({"sweep": true}),
        UnixTime::from_secs(T0),
        Instant::now() + Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &reply["done"],
            &reply["downgraded"],
            &reply["pages"],
            &reply["failed"]
        ),
        (&json!(false), &json!(0), &json!(0), &json!(0)),
        "{reply}"
    );
    for user in &users {
        assert_eq!(
            app.store.load(user).await.unwrap().unwrap().version,
            1,
            "not swept yet"
        );
    }
    let queued = aws::drain(&app.sqs, &app.work_queue_url).await;
    assert_eq!(queued.len(), 1, "one sweep.page");
    let body = queued[0].body().unwrap().to_owned();
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["type"], "sweep.page");
    assert_eq!(page["data"]["until"], at(T0), "the same bound");
    assert_eq!(page["data"]["from"], json!({"shard": 0}), "from the start");

    // The page, delivered by SQS to a processor with its full time: the rest of the walk.
    assert!(process(&app.deps, &[body]).await.is_empty());
    for user in &users {
        let stored = app.store.load(user).await.unwrap().unwrap();
        assert_eq!(stored.entitlements.status, Status::Free, "{user}");
    }
    assert!(
        aws::drain(&app.sqs, &app.work_queue_url).await.is_empty(),
        "done: nothing more queued"
    );
}

#[tokio::test]
async fn a_queued_page_resumes_after_its_cursor() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    // Two rows in the same shard, the earlier one behind the cursor.
    let first = new_user(&app);
    let second = loop {
        let user = new_user(&app);
        if lapse_shard(&user) == lapse_shard(&first) {
            break user;
        }
    };
    app.store
        .save(&canceling(&first, T0 - 3 * DAY), None, None, None)
        .await
        .unwrap();
    app.store
        .save(&canceling(&second, T0 - 2 * DAY), None, None, None)
        .await
        .unwrap();
    let from = LapseCursor {
        shard: lapse_shard(&first),
        after: Some(entitle_domain::ports::LapseKey {
            user_id: first.clone(),
            at: T0 - 3 * DAY,
        }),
    };
    let body = json!({"schemaVersion": 1, "id": unique_id("sweep-page-"), "source": "entitle",
        "type": "sweep.page", "occurredAt": at(T0),
        "data": {"until": at(T0), "from": serde_json::to_value(&from).unwrap()}})
    .to_string();
    assert!(process(&app.deps, &[body]).await.is_empty());
    assert_eq!(
        app.store
            .load(&second)
            .await
            .unwrap()
            .unwrap()
            .entitlements
            .status,
        Status::Free,
        "after the cursor: swept"
    );
    assert_eq!(
        app.store.load(&first).await.unwrap().unwrap().version,
        1,
        "behind the cursor: left for the next hourly sweep"
    );
    // The next hourly sweep walks from the start and takes it.
    let swept = sweep_from(
        &app.deps,
        UnixTime::from_secs(T0),
        UnixTime::from_secs(T0),
        &LapseCursor::default(),
        SWEEP_PAGE,
        far(),
    )
    .await
    .unwrap();
    assert!(swept.done, "{swept:?}");
    assert_eq!(
        app.store
            .load(&first)
            .await
            .unwrap()
            .unwrap()
            .entitlements
            .status,
        Status::Free
    );
}

#[tokio::test]
async fn a_row_written_before_the_index_gets_its_entry_by_a_reindex_at_its_version() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let user = new_user(&app);
    let e = canceling(&user, T0 - DAY);
    // As the previous release wrote it: `status` and `lapses`, no lapse-index attributes.
    let config = aws::sdk_config().await;
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(aws::env("ENTITLEMENTS_TABLE"))
        .item("userId", AttributeValue::S(user.to_string()))
        .item("entry", AttributeValue::S("current".into()))
        .item("doc", AttributeValue::S(serde_json::to_string(&e).unwrap()))
        .item("version", AttributeValue::N("3".into()))
        .item("status", AttributeValue::S("canceling".into()))
        .item("lapses", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    let stored = app.store.load(&user).await.unwrap().unwrap();
    assert_eq!(stored.indexed_lapse, None);
    assert!(
        !due(&app, T0, SWEEP_PAGE).await.0.contains(&user),
        "invisible to the sweep"
    );

    app.store.reindex(&e, 2).await.unwrap();
    assert_eq!(
        index_entry(&user).await,
        (None, None),
        "not at that version: untouched"
    );
    app.store.reindex(&e, 3).await.unwrap();
    let stored = app.store.load(&user).await.unwrap().unwrap();
    assert_eq!(stored.indexed_lapse, Some(UnixTime::from_secs(T0 - DAY)));
    assert_eq!(stored.version, 3, "no new version");
    assert!(due(&app, T0, SWEEP_PAGE).await.0.contains(&user));

    let mut active = e.clone();
    active.status = Status::Active;
    app.store.reindex(&active, 3).await.unwrap();
    assert_eq!(
        index_entry(&user).await,
        (None, None),
        "nothing lapses: out of the index"
    );
}

#[tokio::test]
async fn a_lapse_whose_mirror_or_announcement_failed_is_finished_later() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let user = new_user(&app);
    app.store
        .save(&canceling(&user, T0 - DAY), None, None, None)
        .await
        .unwrap();
    // Clerk is down for this user while the sweep lapses the row: the downgrade is written (and the row
    // leaves the index in that write), but neither mirrored nor announced.
    app.clerk.fail_next(1, 503, &format!("/v1/users/{user}"));
    let swept = sweep_from(
        &app.deps,
        UnixTime::from_secs(T0),
        UnixTime::from_secs(T0),
        &LapseCursor::default(),
        SWEEP_PAGE,
        far(),
    )
    .await
    .unwrap();
    assert!(swept.done && swept.failed >= 1, "{swept:?}");
    let stored = app.store.load(&user).await.unwrap().unwrap();
    assert_eq!(
        (stored.entitlements.status, stored.version),
        (Status::Free, 2)
    );
    assert_eq!(stored.announced_version, 0, "not announced yet");
    assert_eq!(index_entry(&user).await, (None, None));
    assert_ne!(
        app.clerk.user(user.as_str()).unwrap()["public_metadata"]["billing"]["plan"],
        "free",
        "not mirrored"
    );

    // Whatever the sweep left for later finishes it once Clerk is back: the next hourly sweep and what the
    // processor's own queue holds, delivered by SQS.
    sweep_from(
        &app.deps,
        UnixTime::from_secs(T0 + 3600),
        UnixTime::from_secs(T0 + 3600),
        &LapseCursor::default(),
        SWEEP_PAGE,
        far(),
    )
    .await
    .unwrap();
    let queued: Vec<String> = aws::drain(&app.sqs, &app.work_queue_url)
        .await
        .iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .collect();
    assert!(process(&app.deps, &queued).await.is_empty());
    assert_eq!(
        app.clerk.user(user.as_str()).unwrap()["public_metadata"]["billing"]["plan"],
        "free",
        "mirrored after all"
    );
    let stored = app.store.load(&user).await.unwrap().unwrap();
    assert_eq!(stored.announced_version, 2, "announced after all");
    let announced = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter(|m| {
            m.body().is_some_and(|b| {
                b.contains("entitlements.changed") && b.contains(&format!("entitlements-{user}-v2"))
            })
        })
        .count();
    assert_eq!(announced, 1, "announced once");
}
