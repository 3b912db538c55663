//! After a change: mirror the user's billing state into Clerk and announce `entitlements.changed`.
//!
//! Both are driven by the stored row, not by the change in hand: the row records the digest last written
//! to Clerk and the last version announced, so a retry after Clerk or SNS failed still does what is missing —
//! and only that (no second announcement, no Clerk call when nothing changed).
use super::deps::Deps;
use super::failure::Failure;
use entitle_domain::event::{BillingEvent, EntitlementsChangedData, EventData, EventType, Source};
use entitle_domain::ids::{EventId, SubjectId};
use entitle_domain::ports::StoredEntitlements;
use entitle_domain::time::UnixTime;
use sha2::{Digest, Sha256};

/// Rounds of write-and-recheck before leaving the record to a retry.
const MIRROR_ATTEMPTS: u32 = 5;

pub async fn publish_changes(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<(), Failure> {
    let Some(stored) = mirror(deps, user, now).await? else {
        return Ok(());
    };
    if stored.version > stored.announced_version {
        let id = EventId::parse(format!("entitlements-{user}-v{}", stored.version))
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        let mut event = BillingEvent::occurred(
            id,
            Source::Entitle,
            EventType::EntitlementsChanged,
            now,
            EventData::Entitlements(Box::new(EntitlementsChangedData {
                user_id: user.clone(),
                previous: stored.previous.clone(),
                current: stored.entitlements.clone(),
                reasons: reasons_of(&stored),
            })),
        );
        event.set_subject(user);
        deps.publisher
            .publish(&event)
            .await
            .map_err(Failure::Publish)?;
        deps.store.mark_announced(user, stored.version).await?;
    }
    Ok(())
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
