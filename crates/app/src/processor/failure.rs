//! Why a message was not applied, and whether retrying it can help.
use entitle_domain::ports::{ClerkError, PublishError, StoreError, StripeError};

/// Why an event was not applied. Causes are kept (`#[source]`), so the log and the dead-letter reason carry
/// the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("Stripe failed")]
    Stripe(#[from] StripeError),
    #[error("Clerk failed")]
    Clerk(#[source] ClerkError),
    #[error("publishing to the billing-events topic failed")]
    Publish(#[source] PublishError),
    /// Contention that outlasted our attempts: a later retry can succeed.
    #[error("{0}")]
    Contention(&'static str),
    /// The event cannot ever be applied: the record goes to the dead-letter queue with this reason.
    #[error("{0}")]
    Permanent(String),
}

impl Failure {
    /// Retrying the record cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Failure::Permanent(_) => true,
            Failure::Stripe(e) => !e.is_retryable(),
            Failure::Store(_)
            | Failure::Clerk(_)
            | Failure::Publish(_)
            | Failure::Contention(_) => false,
        }
    }

    /// The message with every cause, `outer: inner: …`.
    pub fn chain(&self) -> String {
        entitle_core::init::sentence(self)
    }
}
