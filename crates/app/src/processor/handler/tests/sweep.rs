//! The hourly sweep by the lapse index, with fakes: pages, the deadline and its `sweep.page`, and rows from
//! before the index (found once a reconcile reindexes them). The same against the local AWS emulator's real
//! index: crates/entitlement-processor/tests/api/sweep.rs.
use super::*;
use crate::processor::maintenance::{sweep_from, SWEEP_PAGE};
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ports::LapseCursor;
use std::time::Instant;

/// `n` users on Pro, canceled at the period end `NOW + DAY`.
async fn canceling(h: &Harness, n: usize) -> Vec<SubjectId> {
    let mut users = Vec::new();
    for i in 0..n {
        let user = SubjectId::parse(format!("user_sweep{i:03}")).unwrap();
        let mut e = Entitlements::on_plan(
            user.clone(),
            PlanCatalog::builtin().plan("professional").unwrap(),
            Status::Canceling,
        );
        e.period_end = Some(UnixTime::from_secs(NOW + DAY).to_rfc3339());
        h.store.save(&e, None, None, None).await.unwrap();
        users.push(user);
    }
    users
}

fn far() -> Instant {
    Instant::now() + std::time::Duration::from_secs(600)
}

#[tokio::test]
async fn the_sweep_reads_the_index_page_by_page_and_takes_only_what_is_due() {
    let h = harness();
    let users = canceling(&h, 7).await;
    let before = sweep_from(
        &h.deps,
        UnixTime::from_secs(NOW),
        UnixTime::from_secs(NOW),
        &LapseCursor::default(),
        2,
        far(),
    )
    .await
    .unwrap();
    assert_eq!((before.downgraded, before.done), (0, true), "not yet due");
    let at = UnixTime::from_secs(NOW + DAY);
    let swept = sweep_from(&h.deps, at, at, &LapseCursor::default(), 1, far())
        .await
        .unwrap();
    assert_eq!((swept.downgraded, swept.failed, swept.done), (7, 0, true));
    // Seven rows in four shards, one a page: a page per shard at least, and more for a shard of two or more.
    assert!(swept.pages > 4, "{swept:?}");
    for user in &users {
        let row = h.store.current(user).unwrap();
        assert_eq!(row.entitlements.status, Status::Free);
        assert_eq!(row.indexed_lapse, None, "out of the index");
    }
    assert!(h.work.take().is_empty(), "done: nothing queued");
}

#[tokio::test]
async fn past_its_deadline_the_sweep_queues_a_page_that_the_processor_finishes() {
    let h = harness();
    let users = canceling(&h, 3).await;
    let at = UnixTime::from_secs(NOW + DAY);
    let stopped = sweep_from(
        &h.deps,
        at,
        at,
        &LapseCursor::default(),
        SWEEP_PAGE,
        Instant::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (stopped.downgraded, stopped.pages, stopped.done),
        (0, 0, false)
    );
    let queued = h.work.take();
    assert_eq!(queued.len(), 1);
    let page: serde_json::Value = serde_json::from_str(&queued[0]).unwrap();
    assert_eq!(page["type"], "sweep.page");
    assert_eq!(page["data"]["until"], at.to_rfc3339());
    assert!(deliver(&h, &queued, NOW + DAY).await.is_empty());
    for user in &users {
        assert_eq!(
            h.store.current(user).unwrap().entitlements.status,
            Status::Free
        );
    }
    assert!(h.work.take().is_empty());
}

#[tokio::test]
async fn a_row_from_before_the_index_is_swept_once_a_reconcile_reindexes_it() {
    let h = harness();
    link_customer(&h).await;
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, true));
    deliver(&h, &[sub_event("evt_c", "subscription.updated", NOW)], NOW).await;
    assert_eq!(current(&h).status, Status::Canceling);
    h.store.unindex(&user());
    let end = NOW + 30 * DAY + 1;
    let reply = handle_at(&h.deps, json!({"sweep": true}), UnixTime::from_secs(end))
        .await
        .unwrap();
    assert_eq!(reply["downgraded"], 0, "not in the index: not found");
    let version = h.store.current(&user()).unwrap().version;
    handle_at(
        &h.deps,
        json!({"reconcile": {"userId": USER}}),
        UnixTime::from_secs(NOW + 1),
    )
    .await
    .unwrap();
    let row = h.store.current(&user()).unwrap();
    assert_eq!(row.version, version, "nothing changed: no new version");
    assert_eq!(
        row.indexed_lapse,
        Some(UnixTime::from_secs(NOW + 30 * DAY)),
        "reindexed"
    );
    let reply = handle_at(&h.deps, json!({"sweep": true}), UnixTime::from_secs(end))
        .await
        .unwrap();
    assert_eq!(reply["downgraded"], 1);
    assert_eq!(current(&h).plan, "free");
}
