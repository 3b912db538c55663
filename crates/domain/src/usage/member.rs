//! Per-member caps inside an organization's pool (`[plans.member_limits]`): a consume that names a member
//! must fit both the pool and the member's cap, decided on one read and written as one transaction (both
//! counters, each under its own guard), so that racing members can overspend neither.
//!
//! The member's counter sits beside the pool's (`<pool counter>@<userId>`, same period and expiry); it counts
//! only what was consumed with that `memberId`. A hold is held on both under one id, and settled on both.
use super::decision::{self, Allowance, BelowZero, Change, Counter, Decision, Hold, Reason};
use super::LimitKind;
use crate::entitlements::Entitlements;
use crate::ids::UserId;
use crate::plans::{Limit, PlanCatalog};
use crate::ports::usage::CounterKey;
use crate::time::UnixTime;

/// The member's cap on `limit` under the plan `entitlements` name, if it has one.
pub fn cap(catalog: &PlanCatalog, entitlements: &Entitlements, limit: &str) -> Option<u64> {
    catalog
        .plan(&entitlements.plan)?
        .member_limits
        .get(limit)
        .copied()
}

/// Whether any plan of the catalog caps `limit` per member (whose counter a read then fetches as well).
pub fn capped_anywhere(catalog: &PlanCatalog, limit: &str) -> bool {
    catalog
        .plans()
        .iter()
        .any(|p| p.member_limits.contains_key(limit))
}

/// The member's counter beside the pool's `pool` (same period, same expiry).
pub fn counter(pool: &CounterKey, member: &UserId) -> CounterKey {
    CounterKey {
        user: pool.user.clone(),
        name: format!("{}@{}", pool.name, member.as_str()),
        expires_at: pool.expires_at,
    }
}

/// A cap as an allowance: finite, in the plan, never overage (a member's cap refuses).
pub fn allowance(cap: u64) -> Allowance {
    Allowance {
        limit: Limit::Finite(cap),
        in_plan: true,
        overage: false,
    }
}

/// The pool's decision and the member's, and the changes to write together when both allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    /// The answer's decision: the pool's picture (after the change when allowed), refused with the pool's
    /// reason or [`Reason::MemberLimitExceeded`].
    pub pool: Decision,
    /// The member's picture (after the change when allowed).
    pub member: Decision,
    pub changes: Option<(Change, Option<Change>)>,
}

/// [`decision::check`] of both: allowed when the pool and the member's cap both allow.
pub fn check(
    kind: LimitKind,
    pool_allowance: Allowance,
    pool: &Counter,
    (cap, member): (u64, &Counter),
    amount: i64,
    now: UnixTime,
) -> (Decision, Decision) {
    let mut d = decision::check(kind, pool_allowance, pool, amount, now);
    let m = decision::check(kind, allowance(cap), member, amount, now);
    if d.allowed && !m.allowed {
        d.allowed = false;
        d.reason = Some(Reason::MemberLimitExceeded);
        d.overage = 0;
    }
    (d, m)
}

/// [`decision::consume`] of both. A release (negative `amount`, allocated limits) lowers the member's count by
/// what they hold at most: what was allocated before the cap existed was never counted for them.
pub fn consume(
    kind: LimitKind,
    pool_allowance: Allowance,
    pool: &Counter,
    (cap, member): (u64, &Counter),
    amount: i64,
    hold: Option<(String, Hold)>,
    now: UnixTime,
) -> Result<Paired, BelowZero> {
    let cap_allowance = allowance(cap);
    let (d, change) = decision::consume(kind, pool_allowance, pool, amount, hold.clone(), now)?;
    let Some(change) = change else {
        return Ok(Paired {
            pool: d,
            member: member.report(kind, cap_allowance, now),
            changes: None,
        });
    };
    let member_amount = if amount < 0 {
        -member.value.min(-amount)
    } else {
        amount
    };
    if member_amount == 0 {
        return Ok(Paired {
            pool: d,
            member: member.report(kind, cap_allowance, now),
            changes: Some((change, None)),
        });
    }
    let (m, member_change) =
        decision::consume(kind, cap_allowance, member, member_amount, hold, now)?;
    match member_change {
        Some(member_change) => Ok(Paired {
            pool: d,
            member: m,
            changes: Some((change, Some(member_change))),
        }),
        None => {
            // The pool had room; the member's cap did not. Nothing is written: the pool as it stands.
            let mut refused = pool.report(kind, pool_allowance, now);
            refused.allowed = false;
            refused.reason = Some(Reason::MemberLimitExceeded);
            Ok(Paired {
                pool: refused,
                member: m,
                changes: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Period;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
    const METERED: LimitKind = LimitKind::Metered(Period::Day);

    fn pool(limit: u64) -> Allowance {
        Allowance {
            limit: Limit::Finite(limit),
            in_plan: true,
            overage: false,
        }
    }

    fn counted(n: i64) -> Counter {
        Counter {
            value: n,
            reserved: n,
            ..Counter::default()
        }
    }

    #[test]
    fn a_member_at_their_cap_is_refused_while_the_pool_has_room_and_nothing_is_written() {
        let p = consume(
            METERED,
            pool(100),
            &counted(40),
            (5, &counted(5)),
            1,
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(p.changes, None);
        assert!(!p.pool.allowed);
        assert_eq!(p.pool.reason, Some(Reason::MemberLimitExceeded));
        // The pool as it stands: 40 used, 60 left.
        assert_eq!((p.pool.used, p.pool.remaining), (40, Some(60)));
        assert_eq!((p.member.used, p.member.remaining), (5, Some(0)));
        let (d, m) = check(METERED, pool(100), &counted(40), (5, &counted(5)), 1, NOW);
        assert_eq!(d.reason, Some(Reason::MemberLimitExceeded));
        assert!(!m.allowed);
    }

    #[test]
    fn the_pool_refuses_first_and_both_counters_move_together_when_both_allow() {
        let full = consume(
            METERED,
            pool(10),
            &counted(10),
            (5, &counted(0)),
            1,
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(full.pool.reason, Some(Reason::LimitExceeded));
        assert_eq!(full.changes, None);
        let ok = consume(
            METERED,
            pool(10),
            &counted(3),
            (5, &counted(2)),
            2,
            None,
            NOW,
        )
        .unwrap();
        let (pool_change, member_change) = ok.changes.unwrap();
        let member_change = member_change.unwrap();
        assert_eq!((pool_change.value, member_change.value), (2, 2));
        // Each counter is guarded by its own limit: neither can be overspent by a racing writer.
        assert_eq!(pool_change.guard, decision::Guard::ReservedAtMost(10 - 2));
        assert_eq!(member_change.guard, decision::Guard::ReservedAtMost(5 - 2));
        assert_eq!((ok.pool.used, ok.member.used), (5, 4));
    }

    #[test]
    fn a_release_lowers_the_member_by_what_they_hold_at_most() {
        let kind = LimitKind::Allocated;
        let p = consume(kind, pool(10), &counted(6), (5, &counted(1)), -3, None, NOW).unwrap();
        let (pool_change, member_change) = p.changes.unwrap();
        assert_eq!((pool_change.value, member_change.unwrap().value), (-3, -1));
        let none = consume(kind, pool(10), &counted(6), (5, &counted(0)), -3, None, NOW).unwrap();
        assert_eq!(none.changes.unwrap().1, None);
    }

    #[test]
    fn a_hold_is_held_on_both_under_one_id() {
        let hold = Some((
            "h1".to_owned(),
            Hold {
                amount: 3,
                expires_at: UnixTime::from_secs(NOW.secs() + 60),
            },
        ));
        let p = consume(
            METERED,
            pool(10),
            &counted(0),
            (5, &counted(0)),
            3,
            hold,
            NOW,
        )
        .unwrap();
        let (a, b) = p.changes.unwrap();
        assert_eq!(a.add_hold.as_ref().map(|h| h.0.as_str()), Some("h1"));
        assert_eq!(b.unwrap().add_hold.map(|h| h.0), Some("h1".to_owned()));
    }
}
