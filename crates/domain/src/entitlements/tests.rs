//! The entitlements' computation: plans, add-ons, trials, grace, order independence.
use super::*;
use std::time::Duration;

const NOW: i64 = 1_795_341_600;
const DAY: i64 = 86_400;
const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";

fn user() -> SubjectId {
    SubjectId::parse("user_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap()
}

fn sub(id: &str, status: &str, items: &[(&str, u64)]) -> SubscriptionState {
    SubscriptionState {
        id: id.into(),
        status: status.into(),
        items: items
            .iter()
            .map(|(price, quantity)| {
                // A catalog price as Stripe reports it: `price_local_<lookup key>` carries that lookup key
                // (the catalog names prices by lookup key only), a bare lookup key stands for itself.
                let key = match price.strip_prefix("price_local_") {
                    Some(key) => Some(key.to_owned()),
                    None => (!price.starts_with("price_")).then(|| (*price).to_owned()),
                };
                SubscriptionItem::new(*price, key, *quantity)
            })
            .collect(),
        current_period_end: Some(NOW + 30 * DAY),
        cancel_at_period_end: false,
        trial_end: None,
        next_phase: None,
    }
}

fn combine(subscriptions: &[SubscriptionState]) -> Combined {
    for_customer(
        user(),
        subscriptions,
        PlanCatalog::builtin(),
        Duration::from_secs(7 * DAY as u64),
        |_| UnixTime::from_secs(NOW),
        25,
    )
}

fn limit(e: &Entitlements, name: &str) -> Limit {
    e.limits[name]
}

#[test]
fn a_metered_item_beside_the_plan_item_grants_the_plan_once() {
    // What `catalog apply` and checkout make for a plan with overage: the metered price (marked with the
    // plan's id, its lookup key unknown to the plan's prices) may come first among the items.
    let mut with_meter = sub("sub_m", "active", &[(PRO, 1)]);
    let mut metered = SubscriptionItem::new(
        "price_1Metered",
        Some("professional_messages_overage_month".to_owned()),
        1,
    );
    metered.catalog_id = Some("professional".to_owned());
    with_meter.items.insert(0, metered);
    let c = combine(std::slice::from_ref(&with_meter));
    let plain = combine(&[sub("sub_m", "active", &[(PRO, 1)])]);
    assert_eq!(c.entitlements.plan, "professional");
    assert_eq!(c.entitlements.status, Status::Active);
    assert!(c.entitlements.addons.is_empty());
    assert!(c.entitlements.other_subscriptions.is_empty());
    assert!(c.unknown.is_empty());
    assert_eq!(c.entitlements.limits, plain.entitlements.limits);
    assert_eq!(c.entitlements.features, plain.entitlements.features);
}

#[test]
fn no_subscription_is_the_free_plan_with_credits_kept() {
    let c = combine(&[]);
    assert_eq!(
        (c.entitlements.plan.as_str(), c.entitlements.status),
        ("free", Status::Free)
    );
    assert_eq!(c.entitlements.credits, 25);
    assert_eq!(c.entitlements.subscription_id, None);
    assert!(c.unknown.is_empty());
}

#[test]
fn two_live_plans_grant_the_higher_ranked_one_in_any_order_and_list_the_other() {
    let starter = sub("sub_a", "active", &[(STARTER, 1)]);
    let pro = sub("sub_b", "active", &[(PRO, 1)]);
    let one = combine(&[starter.clone(), pro.clone()]).entitlements;
    let other = combine(&[pro, starter]).entitlements;
    assert_eq!(one, other, "the order Stripe lists them in does not matter");
    assert_eq!(one.plan, "professional");
    assert_eq!(one.subscription_id.as_deref(), Some("sub_b"));
    assert_eq!(
        one.other_subscriptions,
        [OtherSubscription {
            subscription_id: "sub_a".into(),
            plan: "starter".into(),
            status: Status::Active,
        }]
    );
}

#[test]
fn an_explicit_rank_beats_catalog_order() {
    let catalog = PlanCatalog::parse(
        &crate::plans::BUILTIN_TOML_FOR_TESTS
            .replace("id = \"starter\"\n", "id = \"starter\"\nrank = 99\n"),
    )
    .unwrap();
    let e = for_customer(
        user(),
        &[
            sub("sub_a", "active", &[(STARTER, 1)]),
            sub("sub_b", "active", &[(PRO, 1)]),
        ],
        &catalog,
        Duration::from_secs(DAY as u64),
        |_| UnixTime::from_secs(NOW),
        0,
    )
    .entitlements;
    assert_eq!(e.plan, "starter");
}

#[test]
fn the_same_plan_twice_prefers_good_standing_then_the_smaller_id() {
    let mut canceling = sub("sub_a", "active", &[(PRO, 1)]);
    canceling.cancel_at_period_end = true;
    let past_due = sub("sub_b", "past_due", &[(PRO, 1)]);
    let good = sub("sub_c", "active", &[(PRO, 1)]);
    let e = combine(&[canceling.clone(), past_due.clone(), good]).entitlements;
    assert_eq!(
        (e.subscription_id.as_deref(), e.status),
        (Some("sub_c"), Status::Active)
    );
    let e = combine(&[past_due, canceling]).entitlements;
    assert_eq!(
        (e.subscription_id.as_deref(), e.status),
        (Some("sub_a"), Status::Canceling)
    );
    let twin = combine(&[
        sub("sub_z", "active", &[(PRO, 1)]),
        sub("sub_y", "active", &[(PRO, 1)]),
    ])
    .entitlements;
    assert_eq!(twin.subscription_id.as_deref(), Some("sub_y"));
}

#[test]
fn an_addon_item_adds_its_limits_per_unit_and_joins_its_features() {
    let e = combine(&[sub(
        "sub_a",
        "active",
        &[(STARTER, 1), ("team_pack_monthly", 2)],
    )])
    .entitlements;
    assert_eq!(e.plan, "starter");
    assert_eq!(limit(&e, "agents"), Limit::Finite(3 + 2 * 5));
    assert_eq!(
        limit(&e, "messages_per_day"),
        Limit::Finite(1_000 + 2 * 1_000)
    );
    assert!(e.features.contains("audit_log") && e.features.contains("api_access"));
    assert_eq!(
        e.addons,
        [AddonGrant {
            plan: "team_pack".into(),
            quantity: 2,
            subscription_id: "sub_a".into(),
            until: None,
        }]
    );
    assert!(e.other_subscriptions.is_empty());
}

#[test]
fn an_addon_subscription_of_its_own_adds_to_the_base_plan_or_to_free() {
    let addon = sub("sub_b", "active", &[("team_pack_monthly", 1)]);
    let with_base = combine(&[sub("sub_a", "active", &[(PRO, 1)]), addon.clone()]).entitlements;
    assert_eq!(with_base.plan, "professional");
    assert_eq!(with_base.subscription_id.as_deref(), Some("sub_a"));
    assert_eq!(limit(&with_base, "agents"), Limit::Finite(15));
    let alone = combine(&[sub("sub_a", "canceled", &[(PRO, 1)]), addon]).entitlements;
    assert_eq!((alone.plan.as_str(), alone.status), ("free", Status::Free));
    assert_eq!(alone.subscription_id, None);
    assert_eq!(limit(&alone, "agents"), Limit::Finite(1 + 5));
    assert_eq!(
        limit(&alone, "messages_per_day"),
        Limit::Finite(100 + 1_000)
    );
    assert!(alone.features.contains("audit_log"));
    assert_eq!(alone.addons.len(), 1);
}

#[test]
fn unlimited_absorbs_an_addon_and_quantity_zero_adds_nothing() {
    let enterprise = sub(
        "sub_a",
        "active",
        &[("enterprise_monthly", 1), ("team_pack_monthly", 3)],
    );
    let e = combine(&[enterprise]).entitlements;
    assert_eq!(limit(&e, "agents"), Limit::Unlimited);
    let zero = combine(&[sub(
        "sub_a",
        "active",
        &[(STARTER, 1), ("team_pack_monthly", 0)],
    )])
    .entitlements;
    assert_eq!(limit(&zero, "agents"), Limit::Finite(3));
    assert!(!zero.features.contains("audit_log"));
}

#[test]
fn dates_come_from_the_subscription_that_grants_the_plan() {
    let mut pro = sub("sub_b", "past_due", &[(PRO, 1)]);
    pro.current_period_end = Some(NOW + 3 * DAY);
    let mut starter = sub("sub_a", "active", &[(STARTER, 1)]);
    starter.cancel_at_period_end = true;
    let e = combine(&[starter, pro]).entitlements;
    assert_eq!(e.status, Status::PastDue);
    assert_eq!(
        e.period_end,
        Some(UnixTime::from_secs(NOW + 3 * DAY).to_rfc3339())
    );
    assert_eq!(
        e.grace_until,
        Some(UnixTime::from_secs(NOW + 7 * DAY).to_rfc3339())
    );
}

#[test]
fn a_grandfathered_price_resolves_to_its_plan_through_its_catalog_mark() {
    let mut old = sub("sub_a", "active", &[("price_1OldStarterArchived", 1)]);
    assert_eq!(
        combine(&[old.clone()]).unknown.len(),
        1,
        "neither id nor lookup key"
    );
    old.items[0].catalog_id = Some("starter".into());
    let e = combine(&[old]).entitlements;
    assert_eq!((e.plan.as_str(), e.status), ("starter", Status::Active));
}

#[test]
fn a_live_subscription_selling_nothing_in_the_catalog_is_reported_not_granted() {
    let c = combine(&[
        sub("sub_a", "active", &[("price_elsewhere", 1)]),
        sub("sub_b", "active", &[(STARTER, 1)]),
    ]);
    assert_eq!(c.entitlements.plan, "starter");
    assert_eq!(c.unknown.len(), 1);
    assert_eq!(c.unknown[0].subscription, "sub_a");
    assert!(c.unknown[0].to_string().contains("price_elsewhere"));
}

#[test]
fn read_time_expiry_drops_a_lapsed_base_plan_but_keeps_a_live_addon() {
    let catalog = PlanCatalog::builtin();
    let mut base = sub("sub_a", "active", &[(PRO, 1)]);
    base.cancel_at_period_end = true;
    let e = combine(&[base, sub("sub_b", "active", &[("team_pack_monthly", 1)])]).entitlements;
    assert!(e.lapses());
    let later = e
        .clone()
        .effective(UnixTime::from_secs(NOW + 31 * DAY), catalog);
    assert_eq!((later.plan.as_str(), later.status), ("free", Status::Free));
    assert_eq!(limit(&later, "agents"), Limit::Finite(1 + 5));
    assert!(later.features.contains("audit_log"));
    let before = e.clone().effective(UnixTime::from_secs(NOW + DAY), catalog);
    assert_eq!(before, e, "nothing ends early");
}

#[test]
fn a_canceling_addon_stops_adding_at_its_period_end() {
    let catalog = PlanCatalog::builtin();
    let mut addon = sub("sub_b", "active", &[("team_pack_monthly", 1)]);
    addon.cancel_at_period_end = true;
    let e = combine(&[sub("sub_a", "active", &[(STARTER, 1)]), addon]).entitlements;
    assert_eq!(e.status, Status::Active);
    assert!(e.lapses(), "the sweep must find it");
    assert_eq!(
        e.lapses_at(),
        e.addons[0]
            .until
            .as_deref()
            .and_then(UnixTime::parse_rfc3339),
        "indexed at the add-on's end"
    );
    assert!(e.lapses_at().is_some());
    assert_eq!(limit(&e, "agents"), Limit::Finite(8));
    let later = e.effective(UnixTime::from_secs(NOW + 31 * DAY), catalog);
    assert_eq!(
        (later.plan.as_str(), later.status),
        ("starter", Status::Active)
    );
    assert_eq!(limit(&later, "agents"), Limit::Finite(3));
    assert!(!later.features.contains("audit_log"));
    assert!(later.addons.is_empty() && !later.lapses());
    assert_eq!(later.lapses_at(), None, "out of the sweep's index");
}

#[test]
fn the_lapse_instant_is_the_earliest_end_of_what_ends_by_itself() {
    let user = SubjectId::parse("user_lapse").unwrap();
    let catalog = PlanCatalog::builtin();
    let at = |secs: i64| UnixTime::from_secs(secs).to_rfc3339();
    let mut e = Entitlements::on_plan(user, catalog.plan("professional").unwrap(), Status::Active);
    e.period_end = Some(at(NOW + 30 * DAY));
    assert_eq!(e.lapses_at(), None, "an active plan renews: nothing lapses");
    e.status = Status::Canceling;
    assert_eq!(e.lapses_at(), Some(UnixTime::from_secs(NOW + 30 * DAY)));
    e.status = Status::PastDue;
    assert_eq!(
        e.lapses_at(),
        None,
        "past due without a grace end: nothing to sweep"
    );
    e.grace_until = Some(at(NOW + 7 * DAY));
    assert_eq!(e.lapses_at(), Some(UnixTime::from_secs(NOW + 7 * DAY)));
    e.addons.push(AddonGrant {
        plan: "team_pack".into(),
        quantity: 1,
        subscription_id: "sub_b".into(),
        until: Some(at(NOW + 2 * DAY)),
    });
    assert_eq!(
        e.lapses_at(),
        Some(UnixTime::from_secs(NOW + 2 * DAY)),
        "the earliest"
    );
    e.status = Status::Trialing;
    assert_eq!(
        e.lapses_at(),
        Some(UnixTime::from_secs(NOW + 2 * DAY)),
        "the add-on still ends"
    );
}
