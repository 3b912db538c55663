//! Entitlements on DynamoDB. Item: `userId` (key), `doc` (the entitlements as JSON), `credits` (a number of
//! its own, so credit changes can be atomic `ADD`s), `version`.
use super::sdk_error;
use crate::entitlements::Entitlements;
use crate::ids::UserId;
use crate::ports::{EntitlementReader, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub struct DynamoEntitlements {
    client: Client,
    table: String,
}

impl DynamoEntitlements {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Replaces the user's entitlements (credits included).
    pub async fn put(&self, entitlements: &Entitlements) -> Result<(), StoreError> {
        let doc = serde_json::to_string(entitlements)
            .map_err(|e| StoreError::new("write entitlements", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "userId",
                AttributeValue::S(entitlements.user_id.to_string()),
            )
            .item("doc", AttributeValue::S(doc))
            .item(
                "credits",
                AttributeValue::N(entitlements.credits.to_string()),
            )
            .send()
            .await
            .map_err(|e| StoreError::new("write entitlements", sdk_error(e)))?;
        Ok(())
    }
}

#[async_trait]
impl EntitlementReader for DynamoEntitlements {
    async fn get(&self, user: &UserId) -> Result<Option<Entitlements>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("userId", AttributeValue::S(user.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::new("read entitlements", sdk_error(e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(doc) = item.get("doc").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        let mut entitlements: Entitlements =
            serde_json::from_str(doc).map_err(|e| StoreError::new("read entitlements", e))?;
        if let Some(credits) = item.get("credits").and_then(|v| v.as_n().ok()) {
            entitlements.credits = credits.parse().unwrap_or(entitlements.credits);
        }
        Ok(Some(entitlements))
    }
}
