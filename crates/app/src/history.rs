//! Reading the entitlements' history, shared by usage-api (`GET /v1/entitlements?at=&explain=`,
//! `GET /v1/entitlements/history`), billing-api (`GET /entitlements/history`) and the CLI: what a subject had
//! at any instant, why, and every version between two instants — each one query of the entitlements table.
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::history::{explain, Explanation, Provenance, Version};
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::EntitlementHistory;
use entitle_domain::ports::StoreError;
use entitle_domain::time::UnixTime;
use serde::Serialize;

/// At most this many versions per history read (the answer says when there were more).
pub const MAX_VERSIONS: usize = 500;

fn unavailable(e: StoreError) -> ApiError {
    tracing::error!(error = %e, cause = %e.source, "reading the entitlements' history failed");
    ApiError::unavailable()
}

/// The entitlements in force at an instant, and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementsAt {
    pub subject: SubjectId,
    pub at: String,
    /// The version in force (`null`: none written yet then — the free plan).
    pub version: Option<u64>,
    pub applied_at: Option<String>,
    pub entitlements: Entitlements,
    pub provenance: Option<Provenance>,
    /// With `explain=true`: each limit's sum, each feature's plans, the status in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

/// `GET /v1/entitlements?subject=&at=[&explain=true]` (without `at`: now).
pub async fn at(
    (history, catalog): (&dyn EntitlementHistory, &PlanCatalog),
    subject: &SubjectId,
    at: UnixTime,
    with_explain: bool,
) -> Result<EntitlementsAt, ApiError> {
    let version = history.version_at(subject, at).await.map_err(unavailable)?;
    Ok(match version {
        Some(v) => EntitlementsAt {
            subject: subject.clone(),
            at: at.to_rfc3339(),
            version: Some(v.version),
            applied_at: Some(v.applied_at),
            explain: with_explain.then(|| v.provenance.explain.clone()),
            entitlements: v.entitlements,
            provenance: Some(v.provenance),
        },
        None => {
            let free = Entitlements::free(subject.clone(), catalog);
            EntitlementsAt {
                subject: subject.clone(),
                at: at.to_rfc3339(),
                version: None,
                applied_at: None,
                explain: with_explain.then(|| explain(&free, catalog)),
                entitlements: free,
                provenance: None,
            }
        }
    })
}

/// The versions applied between two instants.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub subject: SubjectId,
    pub from: String,
    pub to: String,
    /// Oldest first; each with its provenance (`changes`: what differs from the version before it).
    pub versions: Vec<Version>,
    /// More than [`MAX_VERSIONS`] in the window: ask again from the last one's `appliedAt`.
    pub truncated: bool,
}

/// `GET /v1/entitlements/history?subject=&from=&to=`.
pub async fn history(
    history: &dyn EntitlementHistory,
    subject: &SubjectId,
    from: UnixTime,
    to: UnixTime,
) -> Result<History, ApiError> {
    if from > to {
        return Err(ApiError::bad_request(
            "invalid_time",
            "`from` is after `to`",
        ));
    }
    let mut versions = history
        .versions(subject, from, to, MAX_VERSIONS + 1)
        .await
        .map_err(unavailable)?;
    let truncated = versions.len() > MAX_VERSIONS;
    versions.truncate(MAX_VERSIONS);
    Ok(History {
        subject: subject.clone(),
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        versions,
        truncated,
    })
}
