//! Who a request acts for, and whether they may. A session with an active organization acts for the
//! organization — the token says which, and nothing in the body can override it (Clerk issues an active
//! organization only to its members). Any member may read the organization's entitlements and usage; changing
//! its billing (checkout, portal, cancel, resume, change) needs `org:sys_billing:manage`. Clerk leaves system
//! permissions out of session tokens, so that one is read from Clerk's membership of this user (one Backend
//! API call per billing change, none per read). A session without an active organization acts for the user.
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_core::auth::ActiveOrganization;
use entitle_domain::ids::{SubjectId, UserId};
use entitle_domain::ports::ClerkError;

/// The permission that lets a member manage an organization's billing.
pub const MANAGE_BILLING: &str = "org:sys_billing:manage";

/// The signed-in user and the session's active organization.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub org: Option<ActiveOrganization>,
}

impl Caller {
    /// The billing subject the request acts for: the active organization, else the user.
    pub fn subject(&self) -> SubjectId {
        match &self.org {
            Some(org) => SubjectId::from(&org.id),
            None => SubjectId::from(&self.user),
        }
    }

    /// What a client's `Idempotency-Key` is scoped to: the user (as before organizations), or the member
    /// within the organization, so two members' keys never meet.
    pub fn idempotency_scope(&self) -> String {
        match &self.org {
            Some(org) => format!("{}/{}", org.id, self.user),
            None => self.user.to_string(),
        }
    }

    /// For a request that changes billing: the user may manage the subject's billing. Always true for the
    /// user's own; for an organization, the member's role must hold [`MANAGE_BILLING`].
    pub async fn may_manage_billing(&self, deps: &Deps) -> Result<(), ApiError> {
        let Some(org) = &self.org else {
            return Ok(());
        };
        // A session-token template may add it; Clerk's default claims never do.
        if org.permissions.iter().any(|p| p == MANAGE_BILLING) {
            return Ok(());
        }
        let Some(members) = &deps.members else {
            tracing::error!(
                "an organization's billing change, but CLERK_SECRET_KEY is not configured"
            );
            return Err(ApiError::not_configured());
        };
        match members.permissions(&org.id, &self.user).await {
            Ok(Some(permissions)) if permissions.iter().any(|p| p == MANAGE_BILLING) => Ok(()),
            Ok(Some(_)) => Err(ApiError::forbidden(
                "billing_permission_required",
                format!(
                    "changing {}'s billing needs the {MANAGE_BILLING} permission; ask an admin of the organization",
                    org.id
                ),
            )),
            Ok(None) => Err(ApiError::forbidden(
                "not_a_member",
                format!("you are not a member of {}", org.id),
            )),
            Err(ClerkError::Unavailable(error)) => {
                tracing::warn!(error = %error, "Clerk's memberships could not be read");
                Err(ApiError::unavailable())
            }
            Err(error) => {
                tracing::error!(error = %error, "Clerk refused the membership read");
                Err(ApiError::bad_gateway(
                    "clerk_refused",
                    "the organization's membership could not be read from Clerk",
                ))
            }
        }
    }
}
