//! `GET /entitlements`: one DynamoDB read; the catalog's free plan when nothing is stored.
use crate::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::UserId;
use entitle_domain::time::UnixTime;

pub async fn read(
    deps: &Deps,
    user: &UserId,
    now: UnixTime,
) -> Result<serde_json::Value, ApiError> {
    let stored = deps.entitlements.get(user).await.map_err(|e| {
        tracing::error!(error = %e, "reading entitlements failed");
        ApiError::unavailable()
    })?;
    let entitlements = match stored {
        Some(stored) => stored.effective(now, &deps.catalog),
        None => Entitlements::free(user.clone(), &deps.catalog),
    };
    Ok(serde_json::to_value(entitlements).expect("entitlements serialize"))
}
