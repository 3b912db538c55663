//! Usage-based billing: metered use reported to the payment provider (Stripe's billing meter events).
use super::StripeError;
use crate::ids::StripeCustomerId;
use crate::time::UnixTime;
use async_trait::async_trait;

/// One meter event: `value` units of the meter named `event_name` for `customer`, at `timestamp`. The
/// `identifier` is stable per usage, so a resend is recognised as the same event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterEvent {
    pub event_name: String,
    pub identifier: String,
    pub customer: StripeCustomerId,
    pub value: i64,
    pub timestamp: UnixTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Recorded now.
    Recorded,
    /// An event with this identifier was recorded before (a resend): nothing was added.
    AlreadyRecorded,
}

#[async_trait]
pub trait UsageMeter: Send + Sync {
    async fn report(&self, event: &MeterEvent) -> Result<Reported, StripeError>;
}
