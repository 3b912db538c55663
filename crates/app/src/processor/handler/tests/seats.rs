//! Seats follow Clerk's count, whatever the order and number of membership events.
use super::*;
use crate::processor::apply::apply;
use crate::processor::seats::{recount, SEATS};
use entitle_domain::event::{BillingEvent, EventData, EventType, MembersData, Source};
use entitle_domain::ids::EventId;
use entitle_domain::ports::usage::CounterKey;
use entitle_domain::time::UnixTime;

const ORG: &str = "org_2teamACME";

fn org() -> SubjectId {
    SubjectId::parse(ORG).unwrap()
}

fn seats(h: &Harness) -> i64 {
    h.usage.counter(&org(), SEATS).value
}

fn members_changed(id: &str) -> BillingEvent {
    let mut event = BillingEvent::occurred(
        EventId::parse(id).unwrap(),
        Source::Clerk,
        EventType::OrganizationMembersChanged,
        UnixTime::from_secs(NOW),
        EventData::Members(MembersData {
            clerk_event: "organizationMembership.created".into(),
        }),
    );
    event.user_id = Some(org());
    event
}

fn announced(h: &Harness) -> Vec<(u64, Option<u64>)> {
    h.publisher
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::SeatsChanged)
        .map(|e| match e.data {
            EventData::Seats(s) => (s.seats, s.previous),
            other => panic!("seats.changed with {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn any_number_of_membership_events_in_any_order_end_on_clerks_count() {
    let h = harness();
    for user in ["user_a1", "user_b2", "user_c3"] {
        h.members.join(ORG, user, &["org:sys_memberships:read"]);
    }
    // Five deliveries (duplicates and shuffles of three events): each one recounts, none adds.
    for id in ["msg_2", "msg_1", "msg_2", "msg_3", "msg_1"] {
        apply(&h.deps, &members_changed(id), UnixTime::from_secs(NOW))
            .await
            .unwrap();
    }
    assert_eq!(seats(&h), 3);
    // Announced once: 0 → 3; the later recounts found the same count.
    assert_eq!(announced(&h), vec![(3, Some(0))]);
    h.members.leave(ORG, "user_b2");
    apply(&h.deps, &members_changed("msg_4"), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!(seats(&h), 2);
    assert_eq!(announced(&h), vec![(3, Some(0)), (2, Some(3))]);
}

#[tokio::test]
async fn a_recount_that_finds_clerks_count_stored_writes_and_announces_nothing() {
    let h = harness();
    h.members.join(ORG, "user_a1", &[]);
    h.members.join(ORG, "user_b2", &[]);
    let first = recount(&h.deps, &org(), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!(
        (first.seats, first.previous, first.version),
        (2, Some(0), 1)
    );
    let writes = h.usage.writes.load(std::sync::atomic::Ordering::SeqCst);
    let again = recount(&h.deps, &org(), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!((again.seats, again.previous, again.version), (2, None, 1));
    assert_eq!(
        h.usage.writes.load(std::sync::atomic::Ordering::SeqCst),
        writes
    );
    h.members.leave(ORG, "user_b2");
    let after = recount(&h.deps, &org(), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!(
        (after.seats, after.previous, after.version),
        (1, Some(2), 2)
    );
    assert_eq!(announced(&h), vec![(2, Some(0)), (1, Some(2))]);
}

#[tokio::test]
async fn racing_recounts_end_on_the_count_read_last() {
    let h = Arc::new(harness());
    for n in 0..4 {
        h.members.join(ORG, &format!("user_m{n}"), &[]);
    }
    // Eight recounts at once while members join: whatever interleaving, the last word is Clerk's count.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                h.members.join(ORG, &format!("user_j{n}"), &[]);
            }
            recount(&h.deps, &org(), UnixTime::from_secs(NOW))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    recount(&h.deps, &org(), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!(seats(&h), 8);
    // Each announcement is of its own version.
    let versions: std::collections::BTreeSet<_> = h
        .publisher
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::SeatsChanged)
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(versions.len(), announced(&h).len());
}

#[tokio::test]
async fn a_user_has_no_seats_and_a_prompt_for_one_is_dead_lettered() {
    let h = harness();
    let mut event = members_changed("msg_user");
    event.user_id = Some(user());
    let failure = apply(&h.deps, &event, UnixTime::from_secs(NOW))
        .await
        .unwrap_err();
    assert!(failure.is_permanent(), "{failure}");
    let key = CounterKey {
        user: user(),
        name: SEATS.into(),
        expires_at: None,
    };
    assert_eq!(h.usage.counter(&key.user, SEATS).value, 0);
}
