//! The decision "may this user spend `amount`?" and the change that records it, from a counter as read.
//!
//! A counter keeps `value` (metered and allocated: what was counted; credits: the balance) and `reserved`, the
//! number the store's condition tests: `value` plus every stored hold (credits: minus). Expired holds stay in
//! `reserved` until a later change sweeps them, so the condition on `reserved` can only be stricter than the
//! truth — never looser — and a change that sweeps them claims them by id (each must still exist), so no hold
//! is freed twice. What the API reports (`used`, `remaining`) counts live holds only: an expired hold never
//! counts.
use super::kind::LimitKind;
use crate::plans::Limit;
use crate::time::UnixTime;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub amount: i64,
    pub expires_at: UnixTime,
}

/// A counter as stored. A missing counter is the default: zero, no holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    /// Metered and allocated: the committed count; credits: the balance.
    pub value: i64,
    /// `value` + stored holds (credits: `value` − stored holds), live or not yet swept.
    pub reserved: i64,
    /// Credits only: what was spent in all (refunds subtract).
    pub spent: i64,
    pub holds: BTreeMap<String, Hold>,
}

/// The condition a change carries, on the counter as stored just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    None,
    ReservedAtMost(i64),
    ReservedAtLeast(i64),
    ValueAtLeast(i64),
    /// Overage limits: the committed count is at most this (the change stays within the included amount).
    ValueAtMost(i64),
    /// Overage limits: the committed count is exactly this (the change crosses the included amount, so how
    /// much of it is overage depends on the count).
    ValueIs(i64),
}

/// One atomic change of a counter: deltas, the guard, the hold it adds and the holds it removes (each of
/// which must still be there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub value: i64,
    pub reserved: i64,
    pub spent: i64,
    pub guard: Guard,
    pub add_hold: Option<(String, Hold)>,
    pub remove_holds: Vec<String>,
}

impl Change {
    /// Changes nothing: the write of a record alone (a ledger row next to its counter).
    pub fn none() -> Self {
        Self {
            value: 0,
            reserved: 0,
            spent: 0,
            guard: Guard::None,
            add_hold: None,
            remove_holds: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    LimitExceeded,
    /// The pool has room, but the member's own cap inside it (`[plans.member_limits]`) does not.
    MemberLimitExceeded,
    InsufficientCredits,
    NotInPlan,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LimitExceeded => "limit_exceeded",
            Reason::MemberLimitExceeded => "member_limit_exceeded",
            Reason::InsufficientCredits => "insufficient_credits",
            Reason::NotInPlan => "not_in_plan",
        }
    }
}

/// The answer about one limit: allowed or why not, and the picture after the change (or as it stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Option<Reason>,
    /// Metered and allocated: counted + live holds; credits: spent.
    pub used: i64,
    /// Live holds.
    pub held: i64,
    /// `None`: unlimited.
    pub remaining: Option<i64>,
    /// Overage plans: how much of this request's committed amount lies beyond the included amount (billed);
    /// 0 otherwise. A hold's overage is counted when it is committed.
    pub overage: i64,
}

/// What the plan says about a limit: its number, and whether the plan mentions it at all (a limit a plan
/// does not mention is 0, refused as `not_in_plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: Limit,
    pub in_plan: bool,
    /// The plan bills use of this (metered, finite) limit beyond `limit` as overage instead of refusing it.
    pub overage: bool,
}

impl Allowance {
    /// The included amount, when use beyond it is overage rather than refused.
    pub fn overage_above(self, kind: LimitKind) -> Option<i64> {
        match (kind, self.limit) {
            (LimitKind::Metered(_), Limit::Finite(max)) if self.overage && self.in_plan => {
                Some(max as i64)
            }
            _ => None,
        }
    }
}

/// How much of committing `amount` on a committed count of `value` lies beyond `max`, and the guard that
/// keeps that number true at the moment of the write (so racing writers can neither both be "within" nor
/// both bill the same units).
pub fn overage_guard(value: i64, amount: i64, max: i64) -> (i64, Guard) {
    if value + amount <= max {
        (0, Guard::ValueAtMost(max - amount))
    } else if value >= max {
        (amount, Guard::ValueAtLeast(max))
    } else {
        (value + amount - max, Guard::ValueIs(value))
    }
}

/// The overage of the period so far: what is committed beyond the included amount (0 without overage).
pub fn period_overage(kind: LimitKind, allowance: Allowance, counter: &Counter) -> i64 {
    allowance
        .overage_above(kind)
        .map_or(0, |max| (counter.value - max).max(0))
}

/// Why a hold cannot be settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleError {
    /// No such hold: never made, already settled, or swept after expiring.
    NotFound,
    Expired,
    /// A commit may record at most what was held.
    OverHeld {
        held: i64,
    },
}

impl Counter {
    fn live(&self, now: UnixTime) -> impl Iterator<Item = (&String, &Hold)> {
        self.holds.iter().filter(move |(_, h)| h.expires_at > now)
    }

    /// The sum of the holds that still count at `now`.
    pub fn live_held(&self, now: UnixTime) -> i64 {
        self.live(now).map(|(_, h)| h.amount).sum()
    }

    /// Holds that expired by `now`: their ids and their sum.
    pub fn expired(&self, now: UnixTime) -> (Vec<String>, i64) {
        let expired: Vec<_> = self
            .holds
            .iter()
            .filter(|(_, h)| h.expires_at <= now)
            .collect();
        let sum = expired.iter().map(|(_, h)| h.amount).sum();
        (expired.into_iter().map(|(id, _)| id.clone()).collect(), sum)
    }

    /// Whether `change`'s guard holds on this counter (what the store checks atomically).
    pub fn admits(&self, change: &Change) -> bool {
        let holds_exist = change
            .remove_holds
            .iter()
            .all(|id| self.holds.contains_key(id));
        holds_exist
            && match change.guard {
                Guard::None => true,
                Guard::ReservedAtMost(max) => self.reserved <= max,
                Guard::ReservedAtLeast(min) => self.reserved >= min,
                Guard::ValueAtLeast(min) => self.value >= min,
                Guard::ValueAtMost(max) => self.value <= max,
                Guard::ValueIs(v) => self.value == v,
            }
    }

    /// This counter with `change` applied.
    pub fn applied(&self, change: &Change) -> Counter {
        let mut next = self.clone();
        next.value += change.value;
        next.reserved += change.reserved;
        next.spent += change.spent;
        for id in &change.remove_holds {
            next.holds.remove(id);
        }
        if let Some((id, hold)) = &change.add_hold {
            next.holds.insert(id.clone(), *hold);
        }
        next
    }

    /// The picture of this counter under `allowance` at `now`.
    pub fn report(&self, kind: LimitKind, allowance: Allowance, now: UnixTime) -> Decision {
        let held = self.live_held(now);
        let (used, remaining) = match kind {
            LimitKind::Credits => (self.spent, Some(self.value - held)),
            _ => {
                let used = self.value + held;
                let remaining = match allowance.limit {
                    Limit::Finite(max) => Some((max as i64 - used).max(0)),
                    Limit::Unlimited => None,
                };
                (used, remaining)
            }
        };
        Decision {
            allowed: true,
            reason: None,
            used,
            held,
            remaining,
            overage: 0,
        }
    }
}

/// Whether `amount` may be spent now, without recording anything (`POST /v1/check`).
pub fn check(
    kind: LimitKind,
    allowance: Allowance,
    counter: &Counter,
    amount: i64,
    now: UnixTime,
) -> Decision {
    let mut decision = counter.report(kind, allowance, now);
    if let Some(max) = allowance.overage_above(kind) {
        // Use beyond the included amount is billed, never refused.
        decision.overage = overage_guard(counter.value, amount.max(0), max).0;
        return decision;
    }
    if let Some(reason) = refusal(kind, allowance, &decision, amount) {
        decision.allowed = false;
        decision.reason = Some(reason);
    }
    decision
}

fn refusal(kind: LimitKind, allowance: Allowance, now: &Decision, amount: i64) -> Option<Reason> {
    if amount <= 0 {
        return None;
    }
    match kind {
        LimitKind::Credits => {
            (now.remaining.unwrap_or(0) < amount).then_some(Reason::InsufficientCredits)
        }
        _ => match allowance.limit {
            Limit::Unlimited => None,
            Limit::Finite(max) if now.used + amount <= max as i64 => None,
            Limit::Finite(_) if !allowance.in_plan => Some(Reason::NotInPlan),
            Limit::Finite(_) => Some(Reason::LimitExceeded),
        },
    }
}

/// Why a change is not possible (as opposed to refused): a release of more than is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BelowZero {
    pub value: i64,
}

/// The decision for spending `amount` (negative: an allocated release or a credit refund), held under `hold`
/// or recorded at once, and the change to write when allowed. Expired holds are swept by the same change.
pub fn consume(
    kind: LimitKind,
    allowance: Allowance,
    counter: &Counter,
    amount: i64,
    hold: Option<(String, Hold)>,
    now: UnixTime,
) -> Result<(Decision, Option<Change>), BelowZero> {
    let decision = check(kind, allowance, counter, amount, now);
    if !decision.allowed {
        return Ok((decision, None));
    }
    let (expired, swept) = counter.expired(now);
    let held = hold.is_some();
    let mut overage = 0;
    let change = match kind {
        LimitKind::Credits => Change {
            value: if held { 0 } else { -amount },
            reserved: swept - amount,
            spent: if held { 0 } else { amount },
            guard: if amount > 0 {
                Guard::ReservedAtLeast(amount - swept)
            } else {
                Guard::None
            },
            add_hold: hold,
            remove_holds: expired,
        },
        _ => {
            if amount < 0 && counter.value + amount < 0 {
                return Err(BelowZero {
                    value: counter.value,
                });
            }
            let guard = match allowance.limit {
                _ if amount < 0 => Guard::ValueAtLeast(-amount),
                // Overage: a hold reserves without a cap; a record bills what lies beyond the included amount.
                _ if allowance.overage_above(kind).is_some() && held => Guard::None,
                _ if allowance.overage_above(kind).is_some() => {
                    let max = allowance.overage_above(kind).unwrap_or_default();
                    let (n, guard) = overage_guard(counter.value, amount, max);
                    overage = n;
                    guard
                }
                Limit::Unlimited => Guard::None,
                Limit::Finite(max) => Guard::ReservedAtMost(max as i64 - amount + swept),
            };
            Change {
                value: if held { 0 } else { amount },
                reserved: amount - swept,
                spent: 0,
                guard,
                add_hold: hold,
                remove_holds: expired,
            }
        }
    };
    let mut after = counter.applied(&change).report(kind, allowance, now);
    after.overage = overage;
    Ok((after, Some(change)))
}

/// The change that settles hold `id`: `commit` records `amount` (≤ held) and frees the rest; `None` frees it
/// all (release). Other expired holds are swept along. Under an overage allowance, the change also says how
/// much of the commit is overage (and is guarded so that this stays true); otherwise the overage is 0.
pub fn settle(
    kind: LimitKind,
    allowance: Allowance,
    counter: &Counter,
    id: &str,
    commit: Option<i64>,
    now: UnixTime,
) -> Result<(Change, i64), SettleError> {
    let hold = counter.holds.get(id).ok_or(SettleError::NotFound)?;
    if hold.expires_at <= now {
        return Err(SettleError::Expired);
    }
    let amount = commit.unwrap_or(0);
    if amount > hold.amount {
        return Err(SettleError::OverHeld { held: hold.amount });
    }
    let (mut remove, swept) = counter.expired(now);
    remove.push(id.to_owned());
    let (overage, guard) = match allowance.overage_above(kind) {
        Some(max) => overage_guard(counter.value, amount, max),
        None => (0, Guard::None),
    };
    let change = match kind {
        LimitKind::Credits => Change {
            value: -amount,
            reserved: hold.amount - amount + swept,
            spent: amount,
            guard: Guard::None,
            add_hold: None,
            remove_holds: remove,
        },
        _ => Change {
            value: amount,
            reserved: amount - hold.amount - swept,
            spent: 0,
            guard,
            add_hold: None,
            remove_holds: remove,
        },
    };
    Ok((change, overage))
}

/// Credits bought (or granted): added to the balance, never conditional.
pub fn add_credits(amount: i64) -> Change {
    Change {
        value: amount,
        reserved: amount,
        spent: 0,
        guard: Guard::None,
        add_hold: None,
        remove_holds: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
