//! Properties of the domain, checked on generated input (proptest): entitlements are a function of Stripe's
//! state alone (any order, any repetition); a usage decision never lets a counter past its limit or a
//! balance below zero, however stale the read it was made on, and holds add up; period windows are right on
//! every day of several years; the catalog parser keeps what it is given and refuses what it should.
use entitle_domain::entitlements::{for_customer, SubscriptionItem, SubscriptionState};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::{Limit, PlanCatalog};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::{self, Allowance, SettleError};
use entitle_domain::usage::{Counter, Hold, LimitKind, Period, Window};
use proptest::prelude::*;
use std::time::Duration;

// ---- Entitlements: any permutation or repetition of the same subscription states ----

const PRICES: &[&str] = &[
    "starter_monthly",
    "starter_yearly",
    "pro_monthly",
    "enterprise_monthly",
    "team_pack_monthly",
    "unknown_price",
];
const STATUSES: &[&str] = &[
    "active",
    "trialing",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
];

fn subscription() -> impl Strategy<Value = SubscriptionState> {
    (
        0..STATUSES.len(),
        prop::collection::vec((0..PRICES.len(), 1..4u64), 1..3),
        any::<bool>(),
        prop::option::of(1_800_000_000..1_900_000_000i64),
    )
        .prop_map(
            |(status, items, cancel_at_period_end, trial_end)| SubscriptionState {
                id: String::new(),
                status: STATUSES[status].to_owned(),
                items: items
                    .into_iter()
                    .map(|(price, quantity)| {
                        SubscriptionItem::new(
                            format!("price_{price}"),
                            Some(PRICES[price].to_owned()),
                            quantity,
                        )
                    })
                    .collect(),
                current_period_end: Some(2_000_000_000),
                cancel_at_period_end,
                trial_end,
                next_phase: None,
            },
        )
}

fn customer() -> impl Strategy<Value = Vec<SubscriptionState>> {
    prop::collection::vec(subscription(), 0..5).prop_map(|mut subs| {
        for (i, s) in subs.iter_mut().enumerate() {
            s.id = format!("sub_{i}");
        }
        subs
    })
}

fn entitlements_of(subs: &[SubscriptionState]) -> entitle_domain::entitlements::Entitlements {
    let user = SubjectId::parse("user_2prop").unwrap();
    let since = |_: &SubscriptionState| UnixTime::from_secs(1_900_000_000);
    let catalog = PlanCatalog::builtin();
    let grace = Duration::from_secs(7 * 86_400);
    for_customer(user, subs, catalog, grace, since, 0).entitlements
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn entitlements_are_the_same_for_any_order_of_the_same_subscriptions(
        subs in customer(),
        order in any::<prop::sample::Index>(),
    ) {
        let mut shuffled = subs.clone();
        // A rotation and a reversal: every arrangement the store could list them in reaches both.
        if !shuffled.is_empty() {
            let k = order.index(shuffled.len());
            shuffled.rotate_left(k);
            if k % 2 == 1 { shuffled.reverse(); }
        }
        prop_assert_eq!(entitlements_of(&subs), entitlements_of(&shuffled));
    }

    #[test]
    fn the_entitlements_limits_are_what_their_plan_and_add_ons_grant(subs in customer()) {
        let e = entitlements_of(&subs);
        let catalog = PlanCatalog::builtin();
        let base = catalog.plan(&e.plan).expect("a catalog plan");
        let (features, limits) = entitle_domain::entitlements::grant(base, &e.addons, catalog);
        prop_assert_eq!(&e.features, &features);
        prop_assert_eq!(&e.limits, &limits);
        // Explain's terms sum to every limit.
        let x = entitle_domain::entitlements::history::explain(&e, catalog);
        for (name, value) in &e.limits {
            let sum = x.limits[name].terms.iter().fold(Limit::Finite(0), |acc, t| match (acc, t.per_unit) {
                (Limit::Finite(a), Limit::Finite(b)) => Limit::Finite(a + b * t.quantity),
                _ => Limit::Unlimited,
            });
            prop_assert_eq!(sum, *value, "{}", name);
        }
    }
}

// ---- Usage: decisions made on stale reads, applied only when their guard holds ----

#[derive(Debug, Clone)]
enum Op {
    Consume(i64),
    Hold(i64, i64),
    Commit(usize, i64),
    Release(usize),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (-3..12i64).prop_map(Op::Consume),
        3 => (1..12i64, 1..40i64).prop_map(|(a, ttl)| Op::Hold(a, ttl)),
        2 => (0..6usize, 0..15i64).prop_map(|(h, a)| Op::Commit(h, a)),
        1 => (0..6usize).prop_map(Op::Release),
        1 => (0..30i64).prop_map(Op::Advance),
    ]
}

fn kind() -> impl Strategy<Value = LimitKind> {
    prop_oneof![
        Just(LimitKind::Allocated),
        Just(LimitKind::Metered(Period::Day)),
        Just(LimitKind::Credits),
    ]
}

/// What the store holds: every stored hold adds up into `reserved`.
fn consistent(kind: LimitKind, c: &Counter) -> bool {
    let stored: i64 = c.holds.values().map(|h| h.amount).sum();
    match kind {
        LimitKind::Credits => c.reserved == c.value - stored,
        _ => c.reserved == c.value + stored,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_interleaving_of_stale_decisions_passes_a_limit_or_spends_below_zero(
        kind in kind(),
        limit in 0..40u64,
        start in 0..60i64,
        ops in prop::collection::vec((op(), 0..4usize), 1..60),
    ) {
        let allowance = Allowance { limit: Limit::Finite(limit), in_plan: true, overage: false };
        let mut now = UnixTime::from_secs(1_000_000);
        // Credits start with a balance (a purchase), other counters at zero.
        let mut counter = Counter::default();
        if kind == LimitKind::Credits {
            counter = counter.applied(&decision::add_credits(start));
        }
        let mut history = vec![counter.clone()];
        let mut holds: Vec<String> = Vec::new();
        let mut recorded = 0i64;
        for (i, (op, staleness)) in ops.into_iter().enumerate() {
            // The decision is made on a read up to 3 writes old; the store applies it only if its guard holds
            // on the counter as it is now (what DynamoDB's condition does).
            let read = history[history.len().saturating_sub(1 + staleness)].clone();
            let change = match op {
                Op::Advance(s) => { now = UnixTime::from_secs(now.secs() + s); None }
                Op::Consume(amount) => match decision::consume(kind, allowance, &read, amount, None, now) {
                    Ok((_, change)) => change.map(|c| (c, if kind == LimitKind::Credits { -amount } else { amount })),
                    Err(_) => None,
                },
                Op::Hold(amount, ttl) => {
                    let id = format!("h{i}");
                    let hold = Hold { amount, expires_at: UnixTime::from_secs(now.secs() + ttl) };
                    match decision::consume(kind, allowance, &read, amount, Some((id.clone(), hold)), now) {
                        Ok((_, Some(change))) => { holds.push(id); Some((change, 0)) }
                        _ => None,
                    }
                }
                Op::Commit(..) | Op::Release(_) if holds.is_empty() => None,
                Op::Commit(h, amount) => {
                    let id = holds[h % holds.len()].clone();
                    match decision::settle(kind, allowance, &read, &id, Some(amount), now) {
                        Ok((change, _)) => Some((change, if kind == LimitKind::Credits { -amount } else { amount })),
                        Err(SettleError::OverHeld { held }) => { prop_assert!(amount > held); None }
                        Err(_) => None,
                    }
                }
                Op::Release(h) => {
                    let id = holds[h % holds.len()].clone();
                    decision::settle(kind, allowance, &read, &id, None, now).ok().map(|(c, _)| (c, 0))
                }
            };
            if let Some((change, delta)) = change {
                if counter.admits(&change) {
                    counter = counter.applied(&change);
                    recorded += delta;
                    history.push(counter.clone());
                }
            }
            prop_assert!(consistent(kind, &counter), "holds add up: {:?}", counter);
            match kind {
                // A balance never goes below zero, counting what live holds reserve.
                LimitKind::Credits => {
                    prop_assert!(counter.reserved >= 0, "{:?}", counter);
                    prop_assert!(counter.value - counter.live_held(now) >= 0, "{:?}", counter);
                    prop_assert_eq!(counter.value, start + recorded);
                }
                // Use (committed + live holds) never passes the limit, except by releases below zero,
                // which are refused.
                _ => {
                    prop_assert!(counter.value >= 0, "{:?}", counter);
                    prop_assert!(counter.value + counter.live_held(now) <= limit as i64, "{:?} limit {}", counter, limit);
                    prop_assert_eq!(counter.value, recorded);
                }
            }
        }
    }
}

// ---- Period windows: every day of several years, against an independent calendar ----

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm), independent of the code under test.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    next - days_from_civil(y, m, 1)
}

#[test]
fn every_day_and_month_window_from_2024_to_2031_ends_where_the_calendar_says() {
    let mut days = 0;
    for y in 2024..=2031 {
        for m in 1..=12 {
            let month_end = if m == 12 {
                days_from_civil(y + 1, 1, 1)
            } else {
                days_from_civil(y, m + 1, 1)
            };
            for d in 1..=days_in_month(y, m) {
                let day = days_from_civil(y, m, d);
                for offset in [0, 1, 43_200, 86_399] {
                    let now = UnixTime::from_secs(day * 86_400 + offset);
                    let w = Window::of(Period::Day, now, None);
                    assert_eq!(w.key, format!("d{y:04}-{m:02}-{d:02}"));
                    assert_eq!(w.resets_at.secs(), (day + 1) * 86_400);
                    let w = Window::of(Period::Month, now, None);
                    assert_eq!(w.key, format!("m{y:04}-{m:02}"));
                    assert_eq!(w.resets_at.secs(), month_end * 86_400, "{y}-{m}-{d}");
                    // A billing period that has not ended is its own window; one that has is the month's.
                    let end = UnixTime::from_secs(now.secs() + 1 + offset * 7);
                    let w = Window::of(Period::BillingPeriod, now, Some(end));
                    assert_eq!((w.key, w.resets_at), (format!("p{}", end.secs()), end));
                    let w = Window::of(Period::BillingPeriod, now, Some(now));
                    assert_eq!(w.key, format!("m{y:04}-{m:02}"));
                }
                days += 1;
            }
        }
    }
    // Eight years, two of them leap years (2024, 2028).
    assert_eq!(days, 8 * 365 + 2);
}

proptest! {
    #[test]
    fn a_window_holds_its_instant_and_the_next_one_starts_at_its_reset(secs in 0..4_102_444_800i64) {
        let now = UnixTime::from_secs(secs);
        for period in [Period::Day, Period::Month] {
            let w = Window::of(period, now, None);
            prop_assert!(w.resets_at > now);
            let last = Window::of(period, UnixTime::from_secs(w.resets_at.secs() - 1), None);
            prop_assert_eq!(&last.key, &w.key, "the window's last second is still in it");
            let next = Window::of(period, w.resets_at, None);
            prop_assert_ne!(&next.key, &w.key);
            prop_assert!(next.resets_at > w.resets_at);
        }
    }
}

// ---- The catalog parser ----

#[derive(Debug, Clone)]
struct GenPlan {
    agents: Option<u64>,
    messages: Option<Option<u64>>,
    features: Vec<&'static str>,
    amount: u32,
}

fn plans() -> impl Strategy<Value = Vec<GenPlan>> {
    let plan = (
        prop::option::of(0..1_000u64),
        prop::option::of(prop::option::of(0..100_000u64)),
        prop::sample::subsequence(vec!["sso", "api_access", "audit_log"], 0..=3),
        1..100_000u32,
    )
        .prop_map(|(agents, messages, features, amount)| GenPlan {
            agents,
            messages,
            features,
            amount,
        });
    prop::collection::vec(plan, 1..5)
}

fn catalog_text(plans: &[GenPlan]) -> String {
    let mut text = String::from(
        "[limits]\nagents = { kind = \"allocated\" }\nmessages = { kind = \"metered\", resets = \"month\" }\n\n\
         [[plans]]\nid = \"free\"\nname = \"Free\"\ndefault = true\nfeatures = []\n",
    );
    for (i, p) in plans.iter().enumerate() {
        let features: Vec<String> = p.features.iter().map(|f| format!("\"{f}\"")).collect();
        text.push_str(&format!(
            "\n[[plans]]\nid = \"plan_{i}\"\nname = \"Plan {i}\"\nfeatures = [{}]\n\n[plans.limits]\n",
            features.join(", ")
        ));
        if let Some(n) = p.agents {
            text.push_str(&format!("agents = {n}\n"));
        }
        match p.messages {
            Some(Some(n)) => text.push_str(&format!("messages = {n}\n")),
            Some(None) => text.push_str("messages = \"unlimited\"\n"),
            None => {}
        }
        text.push_str(&format!(
            "\n[[plans.prices]]\nlookup_key = \"plan_{i}_monthly\"\ninterval = \"month\"\namount = {}\ncurrency = \"usd\"\n",
            p.amount
        ));
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_catalog_parser_keeps_what_it_is_given(plans in plans()) {
        let catalog = PlanCatalog::parse(&catalog_text(&plans)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, p) in plans.iter().enumerate() {
            let plan = catalog.plan(&format!("plan_{i}")).unwrap();
            prop_assert_eq!(plan.limits.get("agents").copied(), p.agents.map(Limit::Finite));
            prop_assert_eq!(
                plan.limits.get("messages").copied(),
                p.messages.map(|m| m.map_or(Limit::Unlimited, Limit::Finite))
            );
            let features: std::collections::BTreeSet<String> = p.features.iter().map(|f| f.to_string()).collect();
            prop_assert_eq!(&plan.features, &features);
            let key = format!("plan_{i}_monthly");
            prop_assert_eq!(catalog.plan_for_price("price_x", Some(&key)).map(|p| p.id.as_str()), Some(plan.id.as_str()));
        }
        prop_assert_eq!(catalog.free_plan().id.as_str(), "free");
    }

    #[test]
    fn the_catalog_parser_refuses_what_it_should(plans in plans(), which in 0..6usize) {
        let good = catalog_text(&plans);
        let bad = match which {
            // A negative limit.
            0 => good.replacen("[plans.limits]\n", "[plans.limits]\nagents = -1\n", 1).replacen("agents = -1\nagents", "agents = -1\n#", 1),
            // A limit no `[limits]` declares.
            1 => good.replacen("[plans.limits]\n", "[plans.limits]\nwidgets = 3\n", 1),
            // A lookup key twice.
            2 => format!("{good}\n[[plans]]\nid = \"again\"\nname = \"Again\"\n\n[[plans.prices]]\nlookup_key = \"plan_0_monthly\"\ninterval = \"month\"\namount = 1\ncurrency = \"usd\"\n"),
            // A second free plan.
            3 => good.replacen("id = \"plan_0\"\n", "id = \"plan_0\"\ndefault = true\n", 1),
            // An unknown key (a typo).
            4 => good.replacen("features = []", "features = []\nfeatrues = []", 1),
            // A plan id twice.
            _ => format!("{good}\n[[plans]]\nid = \"plan_0\"\nname = \"Twice\"\n"),
        };
        prop_assert!(PlanCatalog::parse(&bad).is_err(), "accepted case {}:\n{}", which, bad);
    }
}
