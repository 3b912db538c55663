//! `GET /usage`: the signed-in user's limits and credits, the same picture as usage-api's `GET /v1/usage`
//! (built by the same domain code), read-only — browsers never consume.
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::{account, UsageReport};

pub async fn read(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<UsageReport, ApiError> {
    account::usage_of(deps.usage.as_ref(), &deps.catalog, user, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, cause = %e.source, "reading usage failed");
            ApiError::unavailable()
        })
}
