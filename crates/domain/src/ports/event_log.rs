//! The processed-event log behind exactly-once handling of webhook deliveries.
use super::StoreError;
use crate::time::UnixTime;
use async_trait::async_trait;
use std::time::Duration;

/// What to record when claiming a webhook delivery.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// Namespaced id, e.g. `stripe#evt_…` or `clerk#msg_…`.
    pub key: &'a str,
    pub event_type: &'a str,
    /// The verified raw payload, kept with the record as an audit trail.
    pub payload: &'a str,
    pub now: UnixTime,
    /// How long the claim holds before another delivery may take it over.
    pub lease: Duration,
}

/// Proves that this caller holds a claim; completing or releasing needs it, so a caller whose lease ran
/// out cannot undo a newer claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller now owns the event until the lease ends.
    Claimed(ClaimToken),
    /// The event was processed before.
    Duplicate,
    /// Another delivery holds a live claim.
    InProgress,
}

#[async_trait]
pub trait EventLog: Send + Sync {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError>;
    /// Marks the event processed; the record then lives for the retention period.
    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Gives the claim up so a retry can process the event.
    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError>;
}
