//! Webhook signature verification: bytes in, verified payload out, clock injected (Svix here, Stripe's in
//! [`crate::stripe::signature`]), and the one pipeline both webhooks run.
pub mod pipeline;
pub mod svix;

/// Why a delivery was refused before anything was parsed. All of these are the sender's (or an
/// attacker's) problem: 400, never a retry-worthy 5xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Malformed => "malformed_signature",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::Mismatch => "invalid_signature",
        }
    }
}
