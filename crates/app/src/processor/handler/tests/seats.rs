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

mod billing {
    use super::*;
    use crate::processor::seats::bill;
    use entitle_domain::entitlements::Entitlements;
    use entitle_domain::fakes::InMemoryStripe;
    use entitle_domain::ports::{ItemDetails, SubscriptionDetails};

    /// The seat tests' catalog (a seat plan and one without seats), shared with the other seat tests.
    const TEAM_CATALOG: &str = include_str!("../../../../../../fixtures/catalog/team.toml");

    /// An organization on Team (one plan item), with `members` members in Clerk.
    async fn team(members: usize) -> (Harness, Arc<InMemoryStripe>) {
        let mut h = harness();
        h.deps.catalog = PlanCatalog::parse(TEAM_CATALOG).unwrap();
        let stripe = Arc::new(InMemoryStripe::default());
        stripe.add_price("team_monthly", "price_team_monthly");
        stripe.add_price("team_seat_monthly", "price_team_seat");
        stripe.add_plan_subscription(SubscriptionDetails {
            id: "sub_team".into(),
            customer: "cus_team".into(),
            status: "active".into(),
            items: vec![ItemDetails::licensed(
                "si_plan",
                "price_team_monthly",
                Some("team_monthly"),
                1,
            )],
            writes: 0,
            cancel_at_period_end: false,
            current_period_end: Some(NOW + 30 * DAY),
            trial_end: None,
            user: Some(ORG.into()),
            schedule: None,
        });
        h.deps.lifecycle = stripe.clone();
        let mut entitlements =
            Entitlements::on_plan(org(), h.deps.catalog.plan("team").unwrap(), Status::Active);
        entitlements.subscription_id = Some("sub_team".into());
        h.store.save(&entitlements, None, None, None).await.unwrap();
        for n in 0..members {
            h.members.join(ORG, &format!("user_m{n}"), &[]);
        }
        (h, stripe)
    }

    fn seat_item(stripe: &InMemoryStripe) -> Option<(String, u64)> {
        stripe
            .plan_subscription("sub_team")
            .unwrap()
            .items
            .into_iter()
            .find(|i| i.price_id == "price_team_seat")
            .map(|i| (i.id, i.quantity))
    }

    #[tokio::test]
    async fn the_seat_item_follows_the_count_beyond_the_included_seats_by_absolute_quantities() {
        let (h, stripe) = team(2).await;
        apply(&h.deps, &members_changed("msg_a"), UnixTime::from_secs(NOW))
            .await
            .unwrap();
        // Two members, three included: no seat item.
        assert_eq!(seat_item(&stripe), None);
        for n in 2..7 {
            h.members.join(ORG, &format!("user_m{n}"), &[]);
        }
        apply(&h.deps, &members_changed("msg_b"), UnixTime::from_secs(NOW))
            .await
            .unwrap();
        // Seven members: four billed seats, added as an item, prorated and invoiced now.
        let (item, quantity) = seat_item(&stripe).unwrap();
        assert_eq!(quantity, 4);
        assert!(stripe
            .calls()
            .iter()
            .any(|c| c.starts_with("set_seat_quantity sub_team 4 always_invoice")));
        h.members.leave(ORG, "user_m0");
        h.members.leave(ORG, "user_m1");
        apply(&h.deps, &members_changed("msg_c"), UnixTime::from_secs(NOW))
            .await
            .unwrap();
        // Five members: the same item set to two, no credit now.
        assert_eq!(seat_item(&stripe), Some((item, 2)));
        assert!(stripe
            .calls()
            .iter()
            .any(|c| c.starts_with("set_seat_quantity sub_team 2 none")));
    }

    #[tokio::test]
    async fn redelivered_prompts_make_no_second_stripe_write() {
        let (h, stripe) = team(6).await;
        for _ in 0..3 {
            apply(&h.deps, &members_changed("msg_a"), UnixTime::from_secs(NOW))
                .await
                .unwrap();
        }
        assert_eq!(seat_item(&stripe).map(|(_, q)| q), Some(3));
        let writes = stripe
            .calls()
            .iter()
            .filter(|c| c.starts_with("set_seat_quantity"))
            .count();
        assert_eq!(writes, 1);
        // Billing again with nothing changed reads and writes nothing new.
        assert_eq!(bill(&h.deps, &org()).await.unwrap(), Some(3));
        assert_eq!(
            stripe
                .calls()
                .iter()
                .filter(|c| c.starts_with("set_seat_quantity"))
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn racing_prompts_end_on_the_quantity_of_the_last_count() {
        let (h, stripe) = team(4).await;
        let h = Arc::new(h);
        let mut tasks = Vec::new();
        for n in 0..6 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.members.join(ORG, &format!("user_r{n}"), &[]);
                let id = format!("msg_r{n}");
                apply(&h.deps, &members_changed(&id), UnixTime::from_secs(NOW))
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Ten members, three included.
        assert_eq!(seats(&h), 10);
        assert_eq!(seat_item(&stripe).map(|(_, q)| q), Some(7));
    }

    #[tokio::test]
    async fn off_a_seat_plan_a_seat_item_left_behind_is_set_to_zero() {
        let (mut h, stripe) = team(8).await;
        // Moved to Basic (in the portal, say) with the seat item still on the subscription.
        let mut details = stripe.plan_subscription("sub_team").unwrap();
        details.items = vec![
            ItemDetails::licensed("si_plan", "price_basic", Some("basic_monthly"), 1),
            ItemDetails::licensed("si_seat", "price_team_seat", Some("team_seat_monthly"), 5),
        ];
        stripe.add_plan_subscription(details);
        let fresh = harness();
        let mut basic =
            Entitlements::on_plan(org(), h.deps.catalog.plan("basic").unwrap(), Status::Active);
        basic.subscription_id = Some("sub_team".into());
        fresh.store.save(&basic, None, None, None).await.unwrap();
        h.deps.store = fresh.deps.store.clone();
        apply(
            &h.deps,
            &members_changed("msg_basic"),
            UnixTime::from_secs(NOW),
        )
        .await
        .unwrap();
        assert_eq!(seat_item(&stripe), Some(("si_seat".into(), 0)));
    }
}
