//! The operations: check, consume (at once or under a hold), settle a hold, list a user's usage, read a
//! user's entitlements. Each decision is made on one consistent read and recorded by one conditional write;
//! a lost race reads again and decides again, so racing callers never spend the same allowance.
use crate::usage_api::deps::Deps;
use crate::usage_api::events::{announce, recorded, Announcement, Recorded};
use crate::usage_api::limits::{self, Feature};
use crate::usage_api::request::{CheckRequest, ConsumeRequest};
use base64::Engine;
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::event::UsageData;
use entitle_domain::ids::{SubjectId, UserId};
use entitle_domain::plans::Limit;
use entitle_domain::ports::usage::{CounterKey, Flag, Record, WriteOutcome};
use entitle_domain::ports::StoreError;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::account::{self, answer};
use entitle_domain::usage::answer::Decided;
use entitle_domain::usage::decision::{self, Allowance, SettleError};
use entitle_domain::usage::ledger::{self, CreditsLedger};
use entitle_domain::usage::member;
use entitle_domain::usage::{Decision, Hold, LimitKind, Reason};
use entitle_domain::usage::{LimitAnswer, MemberUsage, UsageReport};
use sha2::{Digest, Sha256};

/// How often one request may lose a race (a transaction conflict, a hold swept under it) before it answers
/// 503. Guards on the counter itself mean racing spends do not conflict with each other in the usual case.
const ATTEMPTS: u32 = 8;
/// Idempotency records are kept this long (the contract says at least 48 h).
const RECORD_RETENTION_SECS: i64 = 72 * 3600;

fn unavailable(e: StoreError) -> ApiError {
    tracing::error!(error = %e, cause = %e.source, "the usage store failed");
    ApiError::unavailable()
}

fn busy() -> ApiError {
    tracing::warn!("lost the usage write race too often");
    ApiError::new(503, "unavailable", "too much contention; try again")
}

/// A short pause after a lost race, jittered so that racing retries spread out.
async fn backoff(attempt: u32) {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let millis = u64::from(attempt) * 2 + u64::from(byte[0] % 8);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

fn boolean_answer(user: &SubjectId, feature: &str, e: &Entitlements) -> LimitAnswer {
    let allowed = e.features.contains(feature);
    let decision = Decision {
        allowed,
        reason: (!allowed).then_some(Reason::NotInPlan),
        used: 0,
        held: 0,
        remaining: None,
        overage: 0,
    };
    let none = Allowance {
        limit: Limit::Finite(0),
        in_plan: allowed,
        overage: false,
    };
    answer(user, feature, None, &e.plan, none, &decision, None)
}

/// `POST /v1/check`: the decision, recording nothing.
pub async fn check(
    deps: &Deps,
    request: &CheckRequest,
    now: UnixTime,
) -> Result<LimitAnswer, ApiError> {
    let CheckRequest {
        user,
        member: member_id,
        feature,
        amount,
    } = request;
    let (user, feature, amount) = (user, feature.as_str(), *amount);
    let kind = match limits::resolve(&deps.catalog, feature)? {
        Feature::Boolean => {
            let (stored, _) = deps.store.counters(user, &[]).await.map_err(unavailable)?;
            let e = limits::effective(&deps.catalog, user, stored, now);
            return Ok(boolean_answer(user, feature, &e));
        }
        Feature::Limit(kind) => kind,
    };
    check_amount(kind, amount)?;
    let (e, snap, resets_at) =
        read(deps, user, feature, kind, member_id.as_ref(), None, now).await?;
    let allowance = limits::allowance(&deps.catalog, &e, feature);
    let capped = capped(deps, &e, feature, &snap);
    let (d, member_picture) = match capped {
        None => (
            decision::check(kind, allowance, &snap.counter, amount, now),
            None,
        ),
        Some((m, cap, counter)) => {
            let (d, md) =
                member::check(kind, allowance, &snap.counter, (cap, counter), amount, now);
            (d, Some(MemberUsage::of(m, cap, &md)))
        }
    };
    let mut response = answer(user, feature, Some(kind), &e.plan, allowance, &d, resets_at);
    response.member = member_picture;
    Ok(response)
}

/// The member's cap on `feature` under the subject's plan, with their counter as read — `None` without a
/// member or a cap.
fn capped<'a>(
    deps: &Deps,
    e: &Entitlements,
    feature: &str,
    snap: &'a Snapshot2,
) -> Option<(&'a UserId, u64, &'a entitle_domain::usage::Counter)> {
    let (id, _, counter) = snap.member.as_ref()?;
    let cap = member::cap(&deps.catalog, e, feature)?;
    Some((id, cap, counter))
}

fn check_amount(kind: LimitKind, amount: i64) -> Result<(), ApiError> {
    if amount < 0 && !kind.allows_negative() {
        return Err(ApiError::bad_request(
            "invalid_amount",
            "a metered limit is only consumed: `amount` must be positive",
        ));
    }
    Ok(())
}

/// One consistent read of the user's entitlements, the counter and the record. A billing-period counter's
/// key depends on the entitlements, so a subscription's period costs a second read when the first guess (the
/// calendar month) was not its counter.
/// With a `member` and a limit some plan caps per member, the member's counter is read in the same read.
async fn read(
    deps: &Deps,
    user: &SubjectId,
    feature: &str,
    kind: LimitKind,
    member_id: Option<&UserId>,
    record_key: Option<&str>,
    now: UnixTime,
) -> Result<(Entitlements, Snapshot2, Option<UnixTime>), ApiError> {
    let member_id = member_id.filter(|_| member::capped_anywhere(&deps.catalog, feature));
    let member_key = |pool: &CounterKey| member_id.map(|m| member::counter(pool, m));
    let (mut key, mut resets_at) = limits::counter(user, feature, kind, None, now);
    let mut snapshot = deps
        .store
        .snapshot_with(&key, member_key(&key).as_ref(), record_key)
        .await
        .map_err(unavailable)?;
    let (actual, actual_resets) =
        limits::counter(user, feature, kind, snapshot.entitlements.as_ref(), now);
    if actual != key {
        key = actual;
        resets_at = actual_resets;
        snapshot = deps
            .store
            .snapshot_with(&key, member_key(&key).as_ref(), record_key)
            .await
            .map_err(unavailable)?;
    }
    let e = limits::effective(&deps.catalog, user, snapshot.entitlements.take(), now);
    let member = member_id.map(|m| (m.clone(), member::counter(&key, m), snapshot.member));
    Ok((
        e,
        Snapshot2 {
            key,
            counter: snapshot.counter,
            member,
            record: snapshot.record,
        },
        resets_at,
    ))
}

struct Snapshot2 {
    key: CounterKey,
    counter: entitle_domain::usage::Counter,
    /// The member, their counter's key and the counter (a limit some plan caps per member).
    member: Option<(UserId, CounterKey, entitle_domain::usage::Counter)>,
    record: Option<Record>,
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

fn replay(record: &Record, fingerprint: &str) -> Result<LimitAnswer, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this idempotencyKey was used with another request",
        ));
    }
    serde_json::from_str(&record.response).map_err(|e| {
        tracing::error!(error = %e, "a stored answer does not decode");
        ApiError::unavailable()
    })
}

/// `usageId`: the hold's counter and id (and the member whose counter holds it too), so commit and release
/// find it with one read.
fn usage_id(key: &CounterKey, hold: &str, member: Option<&UserId>) -> String {
    let mut raw = format!("{}|{}|{}", key.user, key.name, hold);
    if let Some(m) = member {
        raw.push('|');
        raw.push_str(m.as_str());
    }
    format!(
        "u_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// A usage id's subject, counter name, hold id and member.
struct UsageRef {
    user: SubjectId,
    counter: String,
    hold: String,
    member: Option<UserId>,
}

fn parse_usage_id(id: &str) -> Option<UsageRef> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.strip_prefix("u_")?)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(4, '|');
    let user = SubjectId::parse(parts.next()?).ok()?;
    let counter = parts.next()?.to_owned();
    let hold = parts.next()?.to_owned();
    let member = match parts.next() {
        Some(m) => Some(UserId::parse(m).ok()?),
        None => None,
    };
    Some(UsageRef {
        user,
        counter,
        hold,
        member,
    })
}

fn random_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// `POST /v1/usage`: consume `amount` now, or hold it.
pub async fn consume(
    deps: &Deps,
    request: &ConsumeRequest,
    now: UnixTime,
) -> Result<LimitAnswer, ApiError> {
    let ConsumeRequest {
        user,
        member: member_id,
        feature,
        amount,
        idempotency_key,
        hold_seconds,
    } = request;
    let (feature, amount, hold_seconds) = (feature.as_str(), *amount, *hold_seconds);
    let kind = match limits::resolve(&deps.catalog, feature)? {
        Feature::Boolean => {
            return Err(ApiError::bad_request(
                "not_metered",
                format!("{feature:?} is a plan feature: check it, there is nothing to count"),
            ))
        }
        Feature::Limit(kind) => kind,
    };
    check_amount(kind, amount)?;
    let amount_text = amount.to_string();
    if hold_seconds.is_some() && amount < 0 {
        return Err(ApiError::bad_request(
            "invalid_hold",
            "only a positive amount can be held",
        ));
    }
    let hold_part = hold_seconds.map(|s| s.to_string()).unwrap_or_default();
    let mut parts = vec![user.as_str(), feature, &amount_text, &hold_part];
    // Without a member the fingerprint is what it was before members existed (stored records still match).
    parts.extend(member_id.as_ref().map(UserId::as_str));
    let print = fingerprint(&parts);
    let record_key = format!("usage#{idempotency_key}");
    for attempt in 0..ATTEMPTS {
        let (e, snap, resets_at) = read(
            deps,
            user,
            feature,
            kind,
            member_id.as_ref(),
            Some(&record_key),
            now,
        )
        .await?;
        if let Some(record) = &snap.record {
            let response = replay(record, &print)?;
            publish_overage(deps, &response, record.at).await?;
            return Ok(response);
        }
        let allowance = limits::allowance(&deps.catalog, &e, feature);
        let hold = hold_seconds.map(|s| {
            (
                random_id(),
                Hold {
                    amount,
                    expires_at: UnixTime::from_secs(now.secs() + s),
                },
            )
        });
        let hold_id = hold.as_ref().map(|(id, _)| id.clone());
        let below_zero = |below: decision::BelowZero| {
            ApiError::bad_request(
                "invalid_amount",
                format!("{feature} is at {}; it cannot go below zero", below.value),
            )
        };
        let capped = capped(deps, &e, feature, &snap);
        let (d, change, member_side) = match capped {
            None => {
                let (d, change) =
                    decision::consume(kind, allowance, &snap.counter, amount, hold, now)
                        .map_err(below_zero)?;
                (d, change.map(|c| (c, None)), None)
            }
            Some((m, cap, counter)) => {
                let p = member::consume(
                    kind,
                    allowance,
                    &snap.counter,
                    (cap, counter),
                    amount,
                    hold,
                    now,
                )
                .map_err(below_zero)?;
                (p.pool, p.changes, Some((m, cap, p.member)))
            }
        };
        let decided = Decided {
            user,
            feature,
            kind: Some(kind),
            plan: &e.plan,
            allowance,
            decision: &d,
            resets_at,
        };
        let mut response = decided.answer();
        response.member = member_side
            .as_ref()
            .map(|(m, cap, md)| MemberUsage::of(m, *cap, md));
        let Some((change, member_change)) = change else {
            match d.reason {
                Some(Reason::LimitExceeded) => limit_reached(deps, &snap.key, &decided, now).await,
                Some(Reason::MemberLimitExceeded) => {
                    member_limit_reached(deps, &snap, &decided, response.member.as_ref(), now).await
                }
                _ => {}
            }
            return Ok(response);
        };
        let held_by_member = member_change
            .as_ref()
            .and(member_side.as_ref().map(|(m, _, _)| *m));
        if let Some(id) = &hold_id {
            response.usage_id = Some(usage_id(&snap.key, id, held_by_member));
        } else if d.overage > 0 {
            // The overage's usage id: stable per idempotency key (Stripe's meter event identifier).
            let key_id = &fingerprint(&[idempotency_key])[..24];
            response.usage_id = Some(usage_id(&snap.key, &format!("k{key_id}"), None));
        }
        let spends_credits = kind == LimitKind::Credits && hold_id.is_none();
        let record = Record {
            key: record_key.clone(),
            user: user.clone(),
            fingerprint: print.clone(),
            response: serde_json::to_string(&response).expect("an answer is plain data"),
            credits: if spends_credits { -amount } else { 0 },
            reason: if hold_id.is_some() { "hold" } else { "usage" }.into(),
            at: now,
            // A credits change is a ledger row, kept; other records only need to outlive retries.
            expires_at: (!spends_credits)
                .then(|| UnixTime::from_secs(now.secs() + RECORD_RETENTION_SECS)),
        };
        let member_write = snap
            .member
            .as_ref()
            .zip(member_change.as_ref())
            .map(|((_, key, _), change)| (key, change));
        match deps
            .store
            .write_with(&snap.key, &change, member_write, Some(&record))
            .await
            .map_err(unavailable)?
        {
            WriteOutcome::Applied => {
                // Test-only (entitle_core::crash): the consume is written, its answer not yet sent.
                entitle_core::crash::point("usage_recorded");
                after_change(deps, &snap, &decided, now).await;
                if response
                    .member
                    .as_ref()
                    .is_some_and(|m| member_change.is_some() && m.used >= m.limit)
                {
                    member_limit_reached(deps, &snap, &decided, response.member.as_ref(), now)
                        .await;
                }
                publish_overage(deps, &response, now).await?;
                return Ok(response);
            }
            WriteOutcome::Conflict => backoff(attempt).await,
        }
    }
    Err(busy())
}

/// `usage.limit_reached` for a limit at 100 % (once per user, limit and period).
async fn limit_reached(deps: &Deps, key: &CounterKey, decided: &Decided<'_>, now: UnixTime) {
    let (Limit::Finite(max), Some(kind)) = (decided.allowance.limit, decided.kind) else {
        return;
    };
    let user = decided.user;
    let data = UsageData {
        feature: decided.feature.to_owned(),
        kind: kind.as_str().to_owned(),
        plan: decided.plan.to_owned(),
        limit: max as i64,
        used: decided.decision.used,
        resets_at: decided.resets_at.map(UnixTime::to_rfc3339),
        member_id: None,
    };
    let a = Announcement {
        flag: Flag::LimitReached,
        counter: key,
        user,
        data,
    };
    announce(deps, a, now).await;
}

/// `usage.limit_reached` for a member at 100 % of their cap (once per member, limit and period), with
/// `memberId`; `limit` and `used` are the member's.
async fn member_limit_reached(
    deps: &Deps,
    snap: &Snapshot2,
    decided: &Decided<'_>,
    member: Option<&MemberUsage>,
    now: UnixTime,
) {
    let (Some((_, key, _)), Some(m), Some(kind)) = (&snap.member, member, decided.kind) else {
        return;
    };
    let data = UsageData {
        feature: decided.feature.to_owned(),
        kind: kind.as_str().to_owned(),
        plan: decided.plan.to_owned(),
        limit: m.limit,
        used: m.used,
        resets_at: decided.resets_at.map(UnixTime::to_rfc3339),
        member_id: Some(m.member_id.clone()),
    };
    let a = Announcement {
        flag: Flag::LimitReached,
        counter: key,
        user: decided.user,
        data,
    };
    announce(deps, a, now).await;
}

/// After a recorded change: `usage.limit_reached` when it reached 100 %, `credits.low` when the balance
/// crossed below the threshold.
async fn after_change(deps: &Deps, snap: &Snapshot2, decided: &Decided<'_>, now: UnixTime) {
    let Some(kind) = decided.kind else {
        return;
    };
    let (user, feature, d) = (decided.user, decided.feature, decided.decision);
    match (kind, decided.allowance.limit) {
        (LimitKind::Credits, _) => {
            let Some(threshold) = deps
                .catalog
                .limit_decl(feature)
                .and_then(|decl| decl.low_threshold)
            else {
                return;
            };
            let before = snap.counter.value - snap.counter.live_held(now);
            let after = d.remaining.unwrap_or(0);
            if before >= threshold as i64 && after < threshold as i64 {
                let data = UsageData {
                    feature: feature.to_owned(),
                    kind: kind.as_str().to_owned(),
                    plan: decided.plan.to_owned(),
                    limit: threshold as i64,
                    used: after,
                    resets_at: None,
                    member_id: None,
                };
                let a = Announcement {
                    flag: Flag::CreditsLow,
                    counter: &snap.key,
                    user,
                    data,
                };
                announce(deps, a, now).await;
            }
        }
        (_, Limit::Finite(max)) if d.used >= max as i64 => {
            limit_reached(deps, &snap.key, decided, now).await;
        }
        _ => {}
    }
}

/// `POST /v1/usage/{usageId}/commit` (`commit` = the amount) and `…/release` (`None`).
pub async fn settle(
    deps: &Deps,
    usage_id: &str,
    commit: Option<i64>,
    now: UnixTime,
) -> Result<LimitAnswer, ApiError> {
    let not_found = || ApiError::not_found("hold_not_found", "no such hold");
    let UsageRef {
        user,
        counter: counter_name,
        hold: hold_id,
        member: member_id,
    } = parse_usage_id(usage_id).ok_or_else(not_found)?;
    let feature = counter_name
        .split('#')
        .next()
        .unwrap_or_default()
        .to_owned();
    let kind = match deps.catalog.limit_decl(&feature) {
        Some(decl) => decl.kind,
        None => return Err(not_found()),
    };
    if commit.is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request(
            "invalid_amount",
            "`amount` must be a non-negative integer",
        ));
    }
    let key = CounterKey {
        user: user.clone(),
        name: counter_name.clone(),
        expires_at: None,
    };
    let print = match commit {
        Some(n) => format!("commit:{n}"),
        None => "release".to_owned(),
    };
    let member_key = member_id.as_ref().map(|m| member::counter(&key, m));
    let record_key = format!("settle#{usage_id}");
    for attempt in 0..ATTEMPTS {
        let snapshot = deps
            .store
            .snapshot_with(&key, member_key.as_ref(), Some(&record_key))
            .await
            .map_err(unavailable)?;
        if let Some(record) = &snapshot.record {
            let response = replay(record, &print).map_err(|e| {
                if e.status == 409 {
                    ApiError::conflict("hold_settled", "this hold was already settled otherwise")
                } else {
                    e
                }
            })?;
            publish_overage(deps, &response, record.at).await?;
            return Ok(response);
        }
        let e = limits::effective(&deps.catalog, &user, snapshot.entitlements, now);
        let allowance = limits::allowance(&deps.catalog, &e, &feature);
        let settle_error = |e| match e {
            SettleError::NotFound => not_found(),
            SettleError::Expired => {
                ApiError::conflict("hold_expired", "the hold expired and no longer counts")
            }
            SettleError::OverHeld { held } => ApiError::bad_request(
                "amount_over_hold",
                format!("a commit records at most what was held ({held})"),
            ),
        };
        let (change, overage) =
            decision::settle(kind, allowance, &snapshot.counter, &hold_id, commit, now)
                .map_err(settle_error)?;
        // The member's hold, under the same id, settles with it (a cap never bills overage).
        let member_change = match &member_id {
            Some(_) => Some(
                decision::settle(
                    kind,
                    member::allowance(0),
                    &snapshot.member,
                    &hold_id,
                    commit,
                    now,
                )
                .map_err(settle_error)?
                .0,
            ),
            None => None,
        };
        let after = snapshot.counter.applied(&change);
        let mut d = after.report(kind, allowance, now);
        d.overage = overage;
        let resets_at = match kind {
            LimitKind::Metered(_) => limits::counter(&user, &feature, kind, Some(&e), now).1,
            _ => None,
        };
        let mut response = answer(
            &user,
            &feature,
            Some(kind),
            &e.plan,
            allowance,
            &d,
            resets_at,
        );
        response.usage_id = Some(usage_id.to_owned());
        if let (Some(m), Some(mc)) = (&member_id, &member_change) {
            if let Some(cap) = member::cap(&deps.catalog, &e, &feature) {
                let md = snapshot
                    .member
                    .applied(mc)
                    .report(kind, member::allowance(cap), now);
                response.member = Some(MemberUsage::of(m, cap, &md));
            }
        }
        let spent = commit.unwrap_or(0);
        let is_credits = kind == LimitKind::Credits;
        let record = Record {
            key: record_key.clone(),
            user: user.clone(),
            fingerprint: print.clone(),
            response: serde_json::to_string(&response).expect("an answer is plain data"),
            credits: if is_credits { -spent } else { 0 },
            reason: if commit.is_some() {
                "commit"
            } else {
                "release"
            }
            .into(),
            at: now,
            expires_at: (!is_credits)
                .then(|| UnixTime::from_secs(now.secs() + RECORD_RETENTION_SECS)),
        };
        let member_write = member_key.as_ref().zip(member_change.as_ref());
        match deps
            .store
            .write_with(&key, &change, member_write, Some(&record))
            .await
            .map_err(unavailable)?
        {
            WriteOutcome::Applied => {
                // Test-only (entitle_core::crash): the commit or release is written, its answer not yet sent.
                entitle_core::crash::point("usage_recorded");
                publish_overage(deps, &response, now).await?;
                return Ok(response);
            }
            WriteOutcome::Conflict => backoff(attempt).await,
        }
    }
    Err(busy())
}

/// `usage.recorded` for an answer (first or replayed) that recorded overage; nothing otherwise. The answer
/// carries all it needs: the usage id (which names the counter, hence the period), the feature and the
/// overage.
async fn publish_overage(
    deps: &Deps,
    response: &LimitAnswer,
    at: UnixTime,
) -> Result<(), ApiError> {
    let overage = response.overage.unwrap_or(0);
    if overage <= 0 {
        return Ok(());
    }
    let Some(id) = response.usage_id.as_deref() else {
        return Ok(());
    };
    let feature = response.feature.as_str();
    let Some(UsageRef {
        user,
        counter: counter_name,
        ..
    }) = parse_usage_id(id)
    else {
        return Ok(());
    };
    let counter = CounterKey {
        user: user.clone(),
        name: counter_name,
        expires_at: None,
    };
    let r = Recorded {
        counter: &counter,
        user: &user,
        feature,
        usage_id: id,
        overage,
        at,
    };
    recorded(deps, r).await
}

/// `GET /v1/usage?subject=[&memberId=]`.
pub async fn list(
    deps: &Deps,
    user: &SubjectId,
    member: Option<&UserId>,
    now: UnixTime,
) -> Result<UsageReport, ApiError> {
    account::usage_of(deps.store.as_ref(), &deps.catalog, user, member, now)
        .await
        .map_err(unavailable)
}

/// `GET /v1/entitlements?userId=`: the entitlements object, `credits` being the live balance.
pub async fn entitlements(
    deps: &Deps,
    user: &SubjectId,
    now: UnixTime,
) -> Result<Entitlements, ApiError> {
    account::live_entitlements(deps.store.as_ref(), &deps.catalog, user, now)
        .await
        .map_err(unavailable)
}

/// At most this many movements per ledger read (`limit`, default 100).
pub const MAX_LEDGER: usize = 1000;

/// `GET /v1/credits/ledger?subject=[&limit=]`: the credits balance and its newest movements, each with the
/// balance after it — one query.
pub async fn ledger(
    deps: &Deps,
    user: &SubjectId,
    limit: usize,
    now: UnixTime,
) -> Result<CreditsLedger, ApiError> {
    let key = account::credits_counter(&deps.catalog, user).ok_or_else(|| {
        ApiError::not_found("no_credits", "the catalog declares no credits limit")
    })?;
    let (counter, mut rows) = deps
        .store
        .ledger(&key, limit + 1)
        .await
        .map_err(unavailable)?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    let held = counter.live_held(now);
    Ok(CreditsLedger {
        subject: user.clone(),
        balance: counter.value,
        held,
        available: counter.value - held,
        movements: ledger::movements(counter.value, &rows),
        truncated,
    })
}

#[cfg(test)]
mod properties {
    use super::fingerprint;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// A consume's fingerprint (subject, feature, amount, hold, member) differs whenever any part does.
        #[test]
        fn fingerprints_differ_for_different_requests(
            a in prop::collection::vec("[a-z0-9_]{0,6}", 4..6),
            b in prop::collection::vec("[a-z0-9_]{0,6}", 4..6),
        ) {
            let (pa, pb): (Vec<&str>, Vec<&str>) =
                (a.iter().map(String::as_str).collect(), b.iter().map(String::as_str).collect());
            prop_assert_eq!(fingerprint(&pa) == fingerprint(&pb), a == b);
        }
    }
}
