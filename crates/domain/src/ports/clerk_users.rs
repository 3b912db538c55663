//! The Clerk mirror of a subject's billing state (a user's or an organization's `public_metadata`), and the
//! organization memberships that decide who may manage an organization's billing.
use super::ClerkError;
use crate::ids::{OrgId, SubjectId, UserId};
use async_trait::async_trait;

/// Who in an organization may do what: the permissions of a member's role, read from Clerk, because session
/// tokens carry only the custom ones (Clerk leaves `org:sys_*` out to keep tokens small).
#[async_trait]
pub trait OrganizationMembers: Send + Sync {
    /// Every permission of `user`'s role in `org` (`org:sys_billing:manage`, …), or `None` when the user is
    /// not a member.
    async fn permissions(
        &self,
        org: &OrgId,
        user: &UserId,
    ) -> Result<Option<Vec<String>>, ClerkError>;
    /// How many members `org` has now, plus its pending invitations when `invitations` — the lists' total
    /// counts, never a page of them.
    async fn count(&self, org: &OrgId, invitations: bool) -> Result<u64, ClerkError>;
}

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
        user: &SubjectId,
        billing: &serde_json::Value,
    ) -> Result<(), ClerkError>;
}
