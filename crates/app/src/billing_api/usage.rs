//! `GET /usage`: the signed-in user's limits and credits, the same picture as usage-api's `GET /v1/usage`
//! (built by the same domain code), read-only — browsers never consume.
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::ids::{SubjectId, UserId};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::{account, UsageReport};

/// With `member` (the caller, acting for an organization): their own use of each limit the plan caps per
/// member, beside the pool's.
pub async fn read(
    deps: &Deps,
    user: &SubjectId,
    member: Option<&UserId>,
    now: UnixTime,
) -> Result<UsageReport, ApiError> {
    account::usage_of(deps.usage.as_ref(), &deps.catalog, user, member, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, cause = %e.source, "reading usage failed");
            ApiError::unavailable()
        })
}
