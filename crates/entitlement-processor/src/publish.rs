//! After a change: mirror the user's billing state into Clerk and announce `entitlements.changed`.
//!
//! Both are driven by the stored row, not by the change in hand: the row records the digest last written
//! to Clerk and the last version announced, so a retry after Clerk or SNS failed still does what is missing —
//! and only that (no second announcement, no Clerk call when nothing changed).
use crate::apply::Failure;
use crate::deps::Deps;
use entitle_core::event::{BillingEvent, EntitlementsChangedData, EventData, EventType, Source};
use entitle_core::ids::{EventId, UserId};
use entitle_core::time::UnixTime;
use sha2::{Digest, Sha256};

pub async fn publish_changes(deps: &Deps, user: &UserId, now: UnixTime) -> Result<(), Failure> {
    let Some(stored) = deps.store.load(user).await? else {
        return Ok(());
    };
    let billing = stored
        .entitlements
        .clone()
        .effective(now, &deps.catalog)
        .billing_metadata();
    let digest = hex::encode(&Sha256::digest(billing.to_string().as_bytes())[..16]);
    if stored.clerk_digest.as_deref() != Some(digest.as_str()) {
        match deps.clerk.set_billing_metadata(user, &billing).await {
            Ok(()) => deps.store.mark_clerk_synced(user, &digest).await?,
            Err(e) if e.is_retryable() => return Err(Failure::Retry(format!("Clerk: {e}"))),
            Err(e) => {
                // The user is gone from Clerk, say: nothing to mirror into; the entitlements stand.
                tracing::warn!(error = %e, "Clerk refused the billing metadata");
                entitle_core::metrics::count("ClerkPermanentErrors", 1);
            }
        }
    }
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
            })),
        );
        event.user_id = Some(user.clone());
        deps.publisher
            .publish(&event)
            .await
            .map_err(|e| Failure::Retry(format!("{e}: {}", e.source)))?;
        deps.store.mark_announced(user, stored.version).await?;
    }
    Ok(())
}
