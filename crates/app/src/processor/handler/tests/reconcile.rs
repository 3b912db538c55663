//! Reconcile of one user and the full fan-out through the processor's own queue.
use super::*;

#[tokio::test]
async fn reconcile_repairs_drift_from_stripes_current_state() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    let customers = InMemoryCustomerDirectory::default();
    use entitle_domain::ports::CustomerDirectory;
    customers
        .link(
            &user(),
            &entitle_domain::ids::StripeCustomerId::parse(CUSTOMER).unwrap(),
            UnixTime::from_secs(NOW),
        )
        .await
        .unwrap();
    let mut h = h;
    h.deps.customers = Arc::new(customers);
    // Drift: someone wrote the wrong plan by hand.
    let wrong = entitle_domain::entitlements::Entitlements::on_plan(
        user(),
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    h.store.save(&wrong, None, None, None).await.unwrap();
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": {"userId": USER}}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(reply["reconciled"], 1);
    assert_eq!(current(&h).plan, "professional");
    // The same drift again, repaired by a full reconcile: a fan-out through the processor's own queue.
    let stored = h.store.load(&user()).await.unwrap().unwrap();
    h.store
        .save(
            &wrong,
            Some(stored.version),
            Some(&stored.entitlements),
            None,
        )
        .await
        .unwrap();
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": "all"}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        (reply["queued"].as_u64(), reply["done"].as_bool()),
        (Some(1), Some(true)),
        "{reply}"
    );
    assert_eq!(
        current(&h).plan,
        "starter",
        "queued, not done in the invocation"
    );
    let queued = h.work.take();
    assert_eq!(queued.len(), 1, "one message per user, no next page");
    assert!(deliver(&h, &queued, NOW).await.is_empty());
    assert_eq!(current(&h).plan, "professional");
}

#[tokio::test]
async fn a_full_reconcile_walks_every_user_a_page_per_message_and_resumes_from_any_page() {
    use entitle_domain::ports::CustomerDirectory;
    let h = harness();
    // 250 users: three pages of at most 100.
    for i in 0..250 {
        let user = SubjectId::parse(format!("user_fan{i:03}")).unwrap();
        let customer =
            entitle_domain::ids::StripeCustomerId::parse(format!("cus_Fan{i:03}")).unwrap();
        h.customers
            .link(&user, &customer, UnixTime::from_secs(NOW))
            .await
            .unwrap();
    }
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": "all"}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        (reply["queued"].as_u64(), reply["done"].as_bool()),
        (Some(100), Some(false))
    );
    // Paced at 5 users a second (the default): the page's users spread over 20 s, the next page after them.
    let delays = h.work.delays();
    assert_eq!(delays.len(), 101);
    assert_eq!((delays[0], delays[4], delays[5], delays[99]), (0, 0, 1, 19));
    assert_eq!(delays[100], 20, "the next page after the page's users");
    let mut requested = std::collections::BTreeSet::new();
    let mut pages = 1;
    let mut sent = h.work.take();
    loop {
        let (page, users): (Vec<_>, Vec<_>) =
            sent.iter().partition(|m| m.contains("reconcile.page"));
        for message in &users {
            let v: serde_json::Value = serde_json::from_str(message).unwrap();
            assert_eq!(v["type"], "reconcile.requested");
            assert!(
                requested.insert(v["userId"].as_str().unwrap().to_owned()),
                "each user once"
            );
        }
        match page.as_slice() {
            [] => break,
            [next] => {
                let next = (*next).clone();
                // The page message delivered twice (a redelivery): its users are queued twice, harmlessly.
                assert!(deliver(&h, std::slice::from_ref(&next), NOW)
                    .await
                    .is_empty());
                let again = h.work.take();
                assert!(deliver(&h, &[next], NOW).await.is_empty());
                assert_eq!(h.work.take(), again, "a page is deterministic");
                sent = again;
                pages += 1;
            }
            more => panic!("one next page, not {}", more.len()),
        }
    }
    assert_eq!((pages, requested.len()), (3, 250));
    // Each user's message reconciles them (no subscriptions here: the free plan), in any instance.
    let some: Vec<String> = ["user_fan000", "user_fan249"]
        .iter()
        .map(|u| {
            json!({"schemaVersion": 1, "id": format!("reconcile-x-{u}"), "source": "entitle",
                "type": "reconcile.requested", "occurredAt": "2026-11-22T10:00:00Z", "userId": u, "data": {}})
            .to_string()
        })
        .collect();
    assert!(deliver(&h, &some, NOW).await.is_empty());
    for u in ["user_fan000", "user_fan249"] {
        let user = SubjectId::parse(u).unwrap();
        assert_eq!(
            h.store
                .load(&user)
                .await
                .unwrap()
                .unwrap()
                .entitlements
                .plan,
            "free"
        );
    }
}
