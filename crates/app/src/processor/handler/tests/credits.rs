//! Credit packs: counted exactly once, added to the usage balance.
use super::*;

/// Credits ledger rows in the usage table: one per checkout counted.
fn ledger_len(h: &Harness) -> usize {
    h.usage
        .records()
        .iter()
        .filter(|r| r.key.starts_with("checkout#") && r.credits != 0)
        .count()
}

#[tokio::test]
async fn a_credit_pack_adds_catalog_credits_times_quantity_exactly_once() {
    let h = harness();
    h.stripe.set_line_items(
        "cs_pack1",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 3)],
    );
    h.stripe.set_line_items(
        "cs_pack2",
        vec![("price_credits5000".into(), Some("credits_5000".into()), 1)],
    );
    let first = credit_checkout("evt_pack1", "cs_pack1");
    deliver(&h, &[first.clone(), first.clone()], NOW).await;
    deliver(
        &h,
        &[first, credit_checkout("evt_pack1_again", "cs_pack1")],
        NOW,
    )
    .await;
    assert_eq!(current(&h).credits, 3000);
    deliver(&h, &[credit_checkout("evt_pack2", "cs_pack2")], NOW).await;
    assert_eq!(current(&h).credits, 8000);
    assert_eq!(ledger_len(&h), 2);
    // A plan change keeps the credits.
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, false));
    deliver(&h, &[sub_event("evt_s", "subscription.created", NOW)], NOW).await;
    assert_eq!(
        (current(&h).plan.as_str(), current(&h).credits),
        ("starter", 8000)
    );
}

#[tokio::test]
async fn a_credit_pack_adds_to_the_usage_balance_that_spends_come_from_and_the_row_mirrors_it() {
    use entitle_domain::ports::usage::{CounterKey, UsageStore};
    let h = harness();
    h.stripe.set_line_items(
        "cs_pack",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 2)],
    );
    deliver(&h, &[credit_checkout("evt_pack", "cs_pack")], NOW).await;
    let balance = h.usage.counter(&user(), "credits");
    assert_eq!((balance.value, balance.reserved), (2000, 2000));
    let row = h.usage.record("checkout#cs_pack").await.unwrap().unwrap();
    assert_eq!(
        (row.credits, row.expires_at),
        (2000, None),
        "a kept ledger row"
    );
    // usage-api spends 300 of them; the next purchase's mirror is the live balance, not the row's old copy.
    let key = CounterKey {
        user: user(),
        name: "credits".into(),
        expires_at: None,
    };
    let spend = entitle_domain::usage::Change {
        value: -300,
        reserved: -300,
        spent: 300,
        guard: entitle_domain::usage::decision::Guard::ReservedAtLeast(300),
        add_hold: None,
        remove_holds: vec![],
    };
    h.usage.write(&key, &spend, None).await.unwrap();
    h.stripe.set_line_items(
        "cs_pack2",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 1)],
    );
    deliver(&h, &[credit_checkout("evt_pack2", "cs_pack2")], NOW).await;
    assert_eq!(h.usage.counter(&user(), "credits").value, 2700);
    assert_eq!(current(&h).credits, 2700);
    assert_eq!(h.clerk.billing(&user()).unwrap()["credits"], 2700);
}
