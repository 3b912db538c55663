//! `GET /entitlements`: one DynamoDB read (the entitlements row and the credits balance together); the
//! catalog's free plan when nothing is stored. `credits` is the live balance of the usage table — the one
//! usage-api spends — not the row's copy.
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::account;

pub async fn read(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<Entitlements, ApiError> {
    account::live_entitlements(deps.usage.as_ref(), &deps.catalog, user, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, cause = %e.source, "reading entitlements failed");
            ApiError::unavailable()
        })
}
