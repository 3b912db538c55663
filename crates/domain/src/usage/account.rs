//! A user's usage as read from the store: the counter of each declared limit (with its period), what the
//! plan allows, the per-limit picture (`GET /v1/usage`, billing-api `GET /usage`) and the live credits
//! balance every reader of `credits` reports. Shared by usage-api, billing-api and the processor so that
//! they can never disagree on a number.
use super::answer::{Decided, LimitAnswer, MemberUsage, UsageLine, UsageReport};
use super::decision::{Allowance, Decision};
use super::member;
use super::{LimitKind, Period, Window};
use crate::entitlements::{granted_limit, Entitlements};
use crate::ids::{SubjectId, UserId};
use crate::plans::{Limit, PlanCatalog};
use crate::ports::usage::{CounterKey, UsageStore};
use crate::ports::StoreError;
use crate::time::UnixTime;

/// Metered counters are kept this long after their period ends (history for `GET /v1/usage`, overage).
const COUNTER_RETENTION_SECS: i64 = 35 * 86_400;

/// What the user holds of `limit`: the base plan's plus every live add-on's × quantity (the free plan + add-ons
/// without a base) — the rule `GET /entitlements` shows, read from the catalog so that a plan or catalog
/// change applies at once; the stored limits for a plan the catalog no longer has. `entitlements` are the
/// effective ones (an add-on past its `until` already dropped). Overage follows the base plan.
pub fn allowance(catalog: &PlanCatalog, entitlements: &Entitlements, limit: &str) -> Allowance {
    let plan = catalog.plan(&entitlements.plan);
    let granted = match plan {
        Some(base) => granted_limit(base, &entitlements.addons, catalog, limit),
        None => entitlements.limits.get(limit).copied(),
    };
    match granted {
        Some(granted) => Allowance {
            limit: granted,
            in_plan: true,
            overage: plan.is_some_and(|p| p.overage.contains_key(limit)),
        },
        None => Allowance {
            limit: Limit::Finite(0),
            in_plan: false,
            overage: false,
        },
    }
}

/// The counter of `limit` at `now` and, for metered limits, when its period ends.
pub fn counter(
    user: &SubjectId,
    limit: &str,
    kind: LimitKind,
    entitlements: Option<&Entitlements>,
    now: UnixTime,
) -> (CounterKey, Option<UnixTime>) {
    match kind {
        LimitKind::Metered(period) => {
            let end = match period {
                Period::BillingPeriod => entitlements
                    .and_then(|e| e.period_end.as_deref())
                    .and_then(UnixTime::parse_rfc3339),
                _ => None,
            };
            let window = Window::of(period, now, end);
            (
                CounterKey {
                    user: user.clone(),
                    name: format!("{limit}#{}", window.key),
                    expires_at: Some(UnixTime::from_secs(
                        window.resets_at.secs() + COUNTER_RETENTION_SECS,
                    )),
                },
                Some(window.resets_at),
            )
        }
        _ => (
            CounterKey {
                user: user.clone(),
                name: limit.to_owned(),
                expires_at: None,
            },
            None,
        ),
    }
}

/// The counter of the catalog's credits balance, if the catalog declares one.
pub fn credits_counter(catalog: &PlanCatalog, user: &SubjectId) -> Option<CounterKey> {
    catalog.credits_limit().map(|name| CounterKey {
        user: user.clone(),
        name: name.to_owned(),
        expires_at: None,
    })
}

/// The entitlements that hold at `now`: the stored ones (lapsed plans fall back), else the free plan.
pub fn effective(
    catalog: &PlanCatalog,
    user: &SubjectId,
    stored: Option<Entitlements>,
    now: UnixTime,
) -> Entitlements {
    match stored {
        Some(e) => e.effective(now, catalog),
        None => Entitlements::free(user.clone(), catalog),
    }
}

/// The answer about one limit (`POST /v1/check`, `POST /v1/usage`; DESIGN.md). `kind: None` is a plan flag.
pub fn answer(
    user: &SubjectId,
    feature: &str,
    kind: Option<LimitKind>,
    plan: &str,
    allowance: Allowance,
    decision: &Decision,
    resets_at: Option<UnixTime>,
) -> LimitAnswer {
    Decided {
        user,
        feature,
        kind,
        plan,
        allowance,
        decision,
        resets_at,
    }
    .answer()
}

/// The user's counters for every declared limit, with the entitlements they were read with: one read (two
/// when a billing-period counter's key was not the first guess, the calendar month). With `member`, each limit
/// some plan caps per member is read with the member's counter too, and its line carries the member's picture
/// when the subject's plan caps it.
pub async fn picture(
    store: &dyn UsageStore,
    catalog: &PlanCatalog,
    user: &SubjectId,
    member: Option<&UserId>,
    now: UnixTime,
) -> Result<(Entitlements, Vec<UsageLine>), StoreError> {
    let decls: Vec<_> = catalog.limit_decls().iter().collect();
    let keys_for = |e: Option<&Entitlements>| -> Vec<(CounterKey, Option<UnixTime>)> {
        decls
            .iter()
            .map(|(name, decl)| counter(user, name, decl.kind, e, now))
            .collect()
    };
    // The pools' counters, then the member's beside each limit a plan caps.
    let plain = |keys: &[(CounterKey, Option<UnixTime>)]| -> Vec<CounterKey> {
        let mut plain: Vec<_> = keys.iter().map(|(k, _)| k.clone()).collect();
        if let Some(m) = member {
            for ((name, _), (key, _)) in decls.iter().zip(keys) {
                if member::capped_anywhere(catalog, name) {
                    plain.push(member::counter(key, m));
                }
            }
        }
        plain
    };
    let mut keys = keys_for(None);
    let (mut stored, mut counters) = store.counters(user, &plain(&keys)).await?;
    let actual = keys_for(stored.as_ref());
    if actual != keys {
        keys = actual;
        (stored, counters) = store.counters(user, &plain(&keys)).await?;
    }
    let e = effective(catalog, user, stored, now);
    let mut members = counters.split_off(decls.len()).into_iter();
    let usage = decls
        .iter()
        .zip(keys.iter().zip(counters.iter()))
        .map(|((name, decl), ((_, resets_at), counter))| {
            let allowance = allowance(catalog, &e, name);
            let d = counter.report(decl.kind, allowance, now);
            let decided = Decided {
                user,
                feature: name,
                kind: Some(decl.kind),
                plan: &e.plan,
                allowance,
                decision: &d,
                resets_at: *resets_at,
            };
            // The period's overage so far (committed beyond the included amount).
            let mut line = decided.line(super::decision::period_overage(
                decl.kind, allowance, counter,
            ));
            if let Some(m) = member.filter(|_| member::capped_anywhere(catalog, name)) {
                let counted = members.next().unwrap_or_default();
                if let Some(cap) = member::cap(catalog, &e, name) {
                    let md = counted.report(decl.kind, member::allowance(cap), now);
                    line.member = Some(MemberUsage::of(m, cap, &md));
                }
            }
            line
        })
        .collect();
    Ok((e, usage))
}

/// `{"userId", "plan", "usage": [...]}`: every metered, allocated and credits limit of the user (and, with
/// `member`, that member's use of each limit the plan caps per member).
pub async fn usage_of(
    store: &dyn UsageStore,
    catalog: &PlanCatalog,
    user: &SubjectId,
    member: Option<&UserId>,
    now: UnixTime,
) -> Result<UsageReport, StoreError> {
    let (e, usage) = picture(store, catalog, user, member, now).await?;
    Ok(UsageReport {
        plan: e.plan,
        usage,
        user_id: user.clone(),
    })
}

/// The entitlements that hold at `now`, `credits` being the live balance: what can be spent now (the
/// balance less live holds), read from the usage counter that usage-api spends and credit packs add to —
/// never the entitlements row's copy, which spends do not touch. One read (see [`picture`]).
pub async fn live_entitlements(
    store: &dyn UsageStore,
    catalog: &PlanCatalog,
    user: &SubjectId,
    now: UnixTime,
) -> Result<Entitlements, StoreError> {
    let Some(key) = credits_counter(catalog, user) else {
        let (stored, _) = store.counters(user, &[]).await?;
        return Ok(effective(catalog, user, stored, now));
    };
    let (stored, counters) = store.counters(user, std::slice::from_ref(&key)).await?;
    let mut e = effective(catalog, user, stored, now);
    e.credits = credits_balance(&counters[0], now);
    Ok(e)
}

/// The spendable balance of a credits counter at `now`: the balance less live holds.
pub fn credits_balance(counter: &super::Counter, now: UnixTime) -> i64 {
    counter.value - counter.live_held(now)
}
