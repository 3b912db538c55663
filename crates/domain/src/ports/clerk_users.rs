//! The Clerk mirror of a user's billing state.
use super::ClerkError;
use crate::ids::UserId;
use async_trait::async_trait;

/// Mirrors a user's billing state into Clerk, so the frontend can read it from the session.
#[async_trait]
pub trait ClerkUsers: Send + Sync {
    /// `PATCH /v1/users/{user_id}/metadata` with `{"public_metadata": {"billing": <billing>}}` — Clerk deep-merges
    /// metadata, so other keys of public_metadata are kept and `billing` is replaced as a whole object.
    /// A deep merge alone would keep every key (at any depth) of the old `billing` that the new one lacks, so
    /// implementations read the current one (`GET /v1/users/{user_id}`) and send those keys as `null`, which
    /// Clerk deletes. `billing` = `null` removes it.
    async fn set_billing_metadata(
        &self,
        user: &UserId,
        billing: &serde_json::Value,
    ) -> Result<(), ClerkError>;
}
