//! After a change: mirror the user's billing state into Clerk and announce `entitlements.changed`.
//!
//! Both are driven by the stored row, not by the change in hand: the row records the digest last written
//! to Clerk and the last version announced, so a retry after Clerk or SNS failed still does what is missing —
//! and only that (no second announcement, no Clerk call when nothing changed).
use super::deps::Deps;
use super::failure::Failure;
use entitle_domain::entitlements::history::Version;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::event::{BillingEvent, EntitlementsChangedData, EventData, EventType, Source};
use entitle_domain::ids::{EventId, SubjectId};
use entitle_domain::ports::StoredEntitlements;
use entitle_domain::time::UnixTime;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Rounds of write-and-recheck before leaving the record to a retry.
const MIRROR_ATTEMPTS: u32 = 5;

pub async fn publish_changes(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<(), Failure> {
    let Some(stored) = mirror(deps, user, now).await? else {
        return Ok(());
    };
    if stored.version > stored.announced_version {
        // Versions written since the last announcement whose own announcement never went out (its publish
        // failed and the next record wrote again, or another processor wrote the next version first) are
        // announced first, oldest first, from the history: every version is announced, once.
        if stored.version > stored.announced_version + 1 {
            for (previous, version) in superseded(deps, user, &stored).await? {
                let reasons = version.provenance.reasons.clone();
                announce(
                    deps,
                    user,
                    version.version,
                    previous,
                    version.entitlements,
                    reasons,
                    now,
                )
                .await?;
            }
        }
        announce(
            deps,
            user,
            stored.version,
            stored.previous.clone(),
            stored.entitlements.clone(),
            reasons_of(&stored),
            now,
        )
        .await?;
        deps.store.mark_announced(user, stored.version).await?;
    }
    Ok(())
}

/// At most this many versions behind are announced from the history (older ones were announced long ago or
/// are beyond any subscriber's interest: the current one still goes out).
const MAX_SUPERSEDED: u64 = 100;

/// The versions after the last announced one and before the current one, oldest first, each with the
/// entitlements of the version before it; a version the history lacks (written without provenance) is
/// skipped, and logged.
async fn superseded(
    deps: &Deps,
    user: &SubjectId,
    stored: &StoredEntitlements,
) -> Result<Vec<(Option<Entitlements>, Version)>, Failure> {
    let first = stored
        .announced_version
        .max(stored.version.saturating_sub(MAX_SUPERSEDED))
        + 1;
    let wanted = (stored.version - first + 2) as usize;
    let mut by_version: BTreeMap<u64, Version> = deps
        .history
        .latest(user, wanted)
        .await?
        .into_iter()
        .map(|v| (v.version, v))
        .collect();
    let mut out = Vec::new();
    for number in first..stored.version {
        let previous = by_version
            .get(&(number.saturating_sub(1)))
            .map(|v| v.entitlements.clone());
        match by_version.remove(&number) {
            Some(version) => out.push((previous, version)),
            None => tracing::warn!(
                user_id = %user,
                version = number,
                "a superseded version is not in the history: not announced"
            ),
        }
    }
    Ok(out)
}

/// Publishes `entitlements.changed` for `version` (id `entitlements-<subject>-v<version>`).
async fn announce(
    deps: &Deps,
    user: &SubjectId,
    version: u64,
    previous: Option<Entitlements>,
    current: Entitlements,
    reasons: Vec<String>,
    now: UnixTime,
) -> Result<(), Failure> {
    let id = EventId::parse(format!("entitlements-{user}-v{version}"))
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    let mut event = BillingEvent::occurred(
        id,
        Source::Entitle,
        EventType::EntitlementsChanged,
        now,
        EventData::Entitlements(Box::new(EntitlementsChangedData {
            user_id: user.clone(),
            previous,
            current,
            reasons,
        })),
    );
    event.set_subject(user);
    deps.publisher
        .publish(&event)
        .await
        .map_err(Failure::Publish)
}

/// The reason tags of the row's last change (the catalog moved when the numbers changed and nothing else did).
fn reasons_of(stored: &StoredEntitlements) -> Vec<String> {
    let previous = stored.previous.as_ref();
    let current = &stored.entitlements;
    let numbers_moved =
        previous.is_some_and(|p| p.limits != current.limits || p.features != current.features);
    entitle_domain::entitlements::history::reasons(previous, current, numbers_moved)
}

/// Brings Clerk's copy up to date with the row; returns the row as last read. Two processors can mirror at
/// once and Clerk has no conditional write, so the older PATCH may land last: after writing, the row is read
/// again, and if it changed meanwhile the newer state is written too. Whoever writes last has therefore read
/// the newest row after its write.
async fn mirror(
    deps: &Deps,
    user: &SubjectId,
    now: UnixTime,
) -> Result<Option<StoredEntitlements>, Failure> {
    let Some(mut stored) = deps.store.load(user).await? else {
        return Ok(None);
    };
    for _ in 0..MIRROR_ATTEMPTS {
        let billing = stored
            .entitlements
            .clone()
            .effective(now, &deps.catalog)
            .billing_metadata();
        let digest = hex::encode(&Sha256::digest(billing.to_string().as_bytes())[..16]);
        if stored.clerk_digest.as_deref() == Some(digest.as_str()) {
            return Ok(Some(stored));
        }
        match deps.clerk.set_billing_metadata(user, &billing).await {
            Ok(()) => {}
            Err(e) if e.is_retryable() => return Err(Failure::Clerk(e)),
            Err(e) => {
                // The user is gone from Clerk, say: nothing to mirror into; the entitlements stand.
                tracing::warn!(error = %e, "Clerk refused the billing metadata");
                entitle_core::metrics::count("ClerkPermanentErrors", 1);
                return Ok(Some(stored));
            }
        }
        let Some(now_stored) = deps.store.load(user).await? else {
            return Ok(None);
        };
        if now_stored.version == stored.version {
            deps.store.mark_clerk_synced(user, &digest).await?;
            return Ok(Some(now_stored));
        }
        stored = now_stored;
    }
    Err(Failure::Contention(
        "the entitlements kept changing while mirroring them to Clerk",
    ))
}
