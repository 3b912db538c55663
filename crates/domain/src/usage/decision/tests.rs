use super::*;
use crate::usage::kind::Period;

const NOW: UnixTime = UnixTime::from_secs(1_795_341_600);
const METERED: LimitKind = LimitKind::Metered(Period::Day);

fn limit(n: u64) -> Allowance {
    Allowance {
        limit: Limit::Finite(n),
        in_plan: true,
        overage: false,
    }
}

fn hold(id: &str, amount: i64, seconds: i64) -> Option<(String, Hold)> {
    Some((
        id.to_owned(),
        Hold {
            amount,
            expires_at: UnixTime::from_secs(NOW.secs() + seconds),
        },
    ))
}

/// Consumes and applies, as the store would when the guard holds.
fn spend(kind: LimitKind, allowance: Allowance, c: &Counter, amount: i64) -> (Decision, Counter) {
    let (decision, change) = consume(kind, allowance, c, amount, None, NOW).unwrap();
    match change {
        Some(change) => {
            assert!(
                c.admits(&change),
                "the guard holds on the counter it was computed from"
            );
            (decision, c.applied(&change))
        }
        None => (decision, c.clone()),
    }
}

#[test]
fn a_metered_limit_allows_up_to_the_limit_and_then_refuses() {
    let mut c = Counter::default();
    for i in 1..=3 {
        let (d, next) = spend(METERED, limit(3), &c, 1);
        assert!(d.allowed);
        assert_eq!((d.used, d.remaining), (i, Some(3 - i)));
        c = next;
    }
    let (d, after) = spend(METERED, limit(3), &c, 1);
    assert_eq!((d.allowed, d.reason), (false, Some(Reason::LimitExceeded)));
    assert_eq!(after, c, "a refusal records nothing");
}

#[test]
fn a_limit_the_plan_does_not_mention_is_refused_as_not_in_plan() {
    let none = Allowance {
        limit: Limit::Finite(0),
        in_plan: false,
        overage: false,
    };
    let d = check(METERED, none, &Counter::default(), 1, NOW);
    assert_eq!(d.reason, Some(Reason::NotInPlan));
}

#[test]
fn a_stale_guard_fails_on_a_counter_that_moved() {
    let c = Counter::default();
    let (_, change) = consume(METERED, limit(1), &c, 1, None, NOW).unwrap();
    let change = change.unwrap();
    let moved = c.applied(&change);
    assert!(
        !moved.admits(&change),
        "a second spend of the last unit is refused by the store"
    );
}

#[test]
fn live_holds_count_and_expired_holds_do_not() {
    let c = Counter::default();
    let (d, change) = consume(METERED, limit(10), &c, 8, hold("h1", 8, 60), NOW).unwrap();
    assert_eq!((d.used, d.held, d.remaining), (8, 8, Some(2)));
    let held = c.applied(&change.unwrap());
    assert_eq!(
        check(METERED, limit(10), &held, 3, NOW).reason,
        Some(Reason::LimitExceeded)
    );

    let later = UnixTime::from_secs(NOW.secs() + 60);
    assert_eq!(
        held.live_held(later),
        0,
        "a hold stops counting when it expires"
    );
    let (d, change) = consume(METERED, limit(10), &held, 10, None, later).unwrap();
    assert!(d.allowed);
    let change = change.unwrap();
    assert_eq!(
        change.remove_holds,
        ["h1"],
        "the expired hold is swept by the next change"
    );
    assert!(held.admits(&change));
    let after = held.applied(&change);
    assert_eq!(
        (after.value, after.reserved, after.holds.len()),
        (10, 10, 0)
    );
}

#[test]
fn a_commit_records_at_most_the_hold_and_frees_the_rest() {
    let (_, change) = consume(
        METERED,
        limit(10),
        &Counter::default(),
        5,
        hold("h", 5, 60),
        NOW,
    )
    .unwrap();
    let held = Counter::default().applied(&change.unwrap());
    assert_eq!(
        settle(METERED, limit(5), &held, "h", Some(6), NOW).map(|(c, _)| c),
        Err(SettleError::OverHeld { held: 5 })
    );
    let committed = held.applied(
        &settle(METERED, limit(5), &held, "h", Some(2), NOW)
            .unwrap()
            .0,
    );
    assert_eq!((committed.value, committed.reserved), (2, 2));
    assert_eq!(
        settle(METERED, limit(5), &committed, "h", Some(1), NOW).map(|(c, _)| c),
        Err(SettleError::NotFound)
    );
    let released = held.applied(&settle(METERED, limit(5), &held, "h", None, NOW).unwrap().0);
    assert_eq!((released.value, released.reserved), (0, 0));
    let late = UnixTime::from_secs(NOW.secs() + 61);
    assert_eq!(
        settle(METERED, limit(5), &held, "h", Some(1), late).map(|(c, _)| c),
        Err(SettleError::Expired)
    );
}

#[test]
fn credits_are_spent_from_the_balance_and_held_credits_are_not_available() {
    let c = Counter::default().applied(&add_credits(10));
    let (d, c) = spend(LimitKind::Credits, limit(0), &c, 4);
    assert_eq!((d.allowed, d.used, d.remaining), (true, 4, Some(6)));
    let (d, change) = consume(LimitKind::Credits, limit(0), &c, 5, hold("h", 5, 60), NOW).unwrap();
    assert_eq!(d.remaining, Some(1));
    let c = c.applied(&change.unwrap());
    let (d, _) = spend(LimitKind::Credits, limit(0), &c, 2);
    assert_eq!(d.reason, Some(Reason::InsufficientCredits));
    let c = c.applied(
        &settle(LimitKind::Credits, limit(5), &c, "h", Some(3), NOW)
            .unwrap()
            .0,
    );
    assert_eq!((c.value, c.reserved, c.spent), (3, 3, 7));
    let (d, c) = spend(LimitKind::Credits, limit(0), &c, -2);
    assert!(d.allowed, "a refund is always allowed");
    assert_eq!((c.value, c.spent), (5, 5));
}

#[test]
fn an_allocated_limit_is_released_with_a_negative_amount_but_not_below_zero() {
    let (_, c) = spend(LimitKind::Allocated, limit(2), &Counter::default(), 2);
    let (_, c) = spend(LimitKind::Allocated, limit(2), &c, -1);
    assert_eq!(c.value, 1);
    assert_eq!(
        consume(LimitKind::Allocated, limit(2), &c, -2, None, NOW),
        Err(BelowZero { value: 1 })
    );
}

#[test]
fn a_user_over_an_allocated_limit_after_a_downgrade_keeps_it_but_cannot_add() {
    let (_, c) = spend(LimitKind::Allocated, limit(10), &Counter::default(), 5);
    let (d, _) = spend(LimitKind::Allocated, limit(3), &c, 1);
    assert_eq!((d.allowed, d.used, d.remaining), (false, 5, Some(0)));
    let (d, c) = spend(LimitKind::Allocated, limit(3), &c, -1);
    assert!(d.allowed);
    assert_eq!(c.value, 4);
}

#[test]
fn unlimited_allows_any_amount_and_has_no_remaining() {
    let all = Allowance {
        limit: Limit::Unlimited,
        in_plan: true,
        overage: false,
    };
    let (d, change) = consume(METERED, all, &Counter::default(), 1_000_000, None, NOW).unwrap();
    assert_eq!((d.allowed, d.remaining), (true, None));
    assert_eq!(change.unwrap().guard, Guard::None);
}

fn overage_plan(n: u64) -> Allowance {
    Allowance {
        limit: Limit::Finite(n),
        in_plan: true,
        overage: true,
    }
}

#[test]
fn at_the_limit_an_overage_plan_allows_and_counts_the_overage() {
    let mut c = Counter::default();
    let (d, next) = spend(METERED, overage_plan(3), &c, 2);
    assert_eq!((d.allowed, d.overage, d.used), (true, 0, 2));
    c = next;
    let (d, next) = spend(METERED, overage_plan(3), &c, 3);
    assert_eq!((d.allowed, d.reason), (true, None));
    assert_eq!((d.overage, d.used, d.remaining), (2, 5, Some(0)));
    c = next;
    let (d, next) = spend(METERED, overage_plan(3), &c, 4);
    assert_eq!((d.allowed, d.overage, d.used), (true, 4, 9));
    assert_eq!(period_overage(METERED, overage_plan(3), &next), 6);
    let checked = check(METERED, overage_plan(3), &next, 1, NOW);
    assert_eq!((checked.allowed, checked.overage), (true, 1));
}

#[test]
fn a_plan_without_overage_still_refuses_at_the_limit() {
    let c = Counter {
        value: 3,
        reserved: 3,
        ..Counter::default()
    };
    let (d, _) = spend(METERED, limit(3), &c, 1);
    assert_eq!(
        (d.allowed, d.reason, d.overage),
        (false, Some(Reason::LimitExceeded), 0)
    );
    assert_eq!(period_overage(METERED, limit(3), &c), 0);
    let credits = Allowance {
        overage: true,
        ..limit(3)
    };
    assert_eq!(
        credits.overage_above(LimitKind::Credits),
        None,
        "only metered limits bill overage"
    );
}

#[test]
fn overage_guards_pin_the_billed_amount_against_racing_writers() {
    let c = Counter {
        value: 2,
        reserved: 2,
        ..Counter::default()
    };
    // Crossing the included amount: the count must be exactly what was read.
    let (_, change) = consume(METERED, overage_plan(3), &c, 2, None, NOW).unwrap();
    let change = change.unwrap();
    assert_eq!(change.guard, Guard::ValueIs(2));
    let raced = Counter {
        value: 3,
        reserved: 3,
        ..Counter::default()
    };
    assert!(
        !raced.admits(&change),
        "a racing writer makes it decide again"
    );
    // Within: the count must stay low enough; beyond: it must still be beyond.
    assert_eq!(overage_guard(0, 1, 3), (0, Guard::ValueAtMost(2)));
    assert_eq!(overage_guard(5, 2, 3), (2, Guard::ValueAtLeast(3)));
}

#[test]
fn an_overage_hold_beyond_the_included_amount_is_allowed_and_billed_at_commit() {
    let c = Counter {
        value: 2,
        reserved: 2,
        ..Counter::default()
    };
    let (d, change) = consume(METERED, overage_plan(3), &c, 5, hold("h", 5, 60), NOW).unwrap();
    let change = change.unwrap();
    assert_eq!((d.allowed, d.overage, d.used), (true, 0, 7));
    assert_eq!(change.guard, Guard::None);
    let held = c.applied(&change);
    let (commit, overage) = settle(METERED, overage_plan(3), &held, "h", Some(4), NOW).unwrap();
    assert!(held.admits(&commit));
    assert_eq!(overage, 3, "committed 2 + 4 against 3 included");
    let after = held.applied(&commit);
    assert_eq!((after.value, after.reserved), (6, 6));
    // Without overage the same hold is refused.
    let (d, change) = consume(METERED, limit(3), &c, 5, hold("h", 5, 60), NOW).unwrap();
    assert_eq!((d.allowed, change), (false, None));
}
