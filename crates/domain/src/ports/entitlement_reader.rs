//! Reading a user's stored entitlements.
use super::StoreError;
use crate::entitlements::Entitlements;
use crate::ids::SubjectId;
use async_trait::async_trait;

/// Reads a user's stored entitlements.
#[async_trait]
pub trait EntitlementReader: Send + Sync {
    async fn get(&self, user: &SubjectId) -> Result<Option<Entitlements>, StoreError>;
}
