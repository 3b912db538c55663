//! Exactly-once effects for at-least-once webhook deliveries: claim the delivery, do the work, then mark it
//! completed — or release the claim so the sender's retry can do it. Shared by every webhook.
use crate::ports::{Claim, ClaimRequest, EventLog, StoreError};
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// The work ran now.
    Done,
    /// The work ran before; nothing was done.
    Duplicate,
    /// Another delivery of the same event is being processed; the sender should retry later.
    InProgress,
}

#[derive(Debug, thiserror::Error)]
pub enum OnceError<E: std::error::Error + 'static> {
    #[error("the idempotency store is unavailable")]
    Store(#[source] StoreError),
    /// The work failed and the claim was released, so a retry will run it again.
    #[error("processing failed")]
    Work(#[source] E),
}

/// Runs `work` at most once per `request.key` (until the record expires).
pub async fn run_once<F, Fut, E>(
    log: &dyn EventLog,
    request: &ClaimRequest<'_>,
    work: F,
) -> Result<Once, OnceError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let token = match log.claim(request).await.map_err(OnceError::Store)? {
        Claim::Claimed(token) => token,
        Claim::Duplicate => return Ok(Once::Duplicate),
        Claim::InProgress => return Ok(Once::InProgress),
    };
    if let Err(error) = work().await {
        if let Err(release) = log.release(request.key, &token).await {
            // The lease still expires on its own, so the sender's retry gets through after it.
            tracing::warn!(error = %release, key = request.key, "releasing the claim failed");
        }
        return Err(OnceError::Work(error));
    }
    if let Err(error) = log.complete(request.key, &token, request.now).await {
        // The work is done and must be acknowledged; an unmarked claim only risks a repeat after its
        // lease, which subscribers absorb by de-duplicating on the event id.
        tracing::error!(error = %error, key = request.key, "marking the event completed failed");
    }
    Ok(Once::Done)
}
