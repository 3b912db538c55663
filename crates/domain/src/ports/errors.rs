//! The errors a port can answer with: a store or a publish that failed, and an API that is unavailable or rejected the request.

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("publishing {event_id} failed")]
pub struct PublishError {
    pub event_id: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Network failure, timeout, 5xx, 429, or an idempotent request still in flight (409): retry later.
    #[error("Stripe is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 4xx retrying cannot fix.
    #[error("Stripe rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl StripeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StripeError::Unavailable(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    /// Network failure, timeout, 5xx, 429: retry later.
    #[error("Clerk is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 4xx retrying cannot fix (e.g. the user no longer exists: 404).
    #[error("Clerk rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClerkError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClerkError::Unavailable(_))
    }
}
