//! `EventLog` on DynamoDB: one item per delivery, claimed with a conditional write.
//!
//! Item: `pk` (`stripe#evt_…`), `status` (`in_progress` | `completed`), `claimToken`, `leaseUntil`,
//! `eventType`, `payload` (the verified raw body, the audit trail), `claimedAt`, `completedAt`, and
//! `expiresAt` (the table's TTL attribute: 30 days after the last change).
use super::dynamo::{n, s};
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use entitle_domain::ports::{Claim, ClaimRequest, ClaimToken, EventLog, StoreError};
use entitle_domain::time::UnixTime;
use std::time::Duration;

pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

pub struct DynamoEventLog {
    client: Client,
    table: String,
}

impl DynamoEventLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn new_token() -> ClaimToken {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    ClaimToken(hex::encode(bytes))
}

#[async_trait]
impl EventLog for DynamoEventLog {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let token = new_token();
        let now = request.now.secs();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(request.key))
            .item("status", s(IN_PROGRESS))
            .item("claimToken", s(&token.0))
            .item("leaseUntil", n(request.now.plus(request.lease).secs()))
            .item("claimedAt", n(now))
            .item("eventType", s(request.event_type))
            .item("payload", s(request.payload))
            .item("expiresAt", n(request.now.plus(RETENTION).secs()))
            // A new event, or one whose earlier claim was abandoned (its lease ran out).
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND leaseUntil < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed(token)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.existing(request.key).await
            }
            Err(e) => Err(StoreError::new("claim", sdk_error(e))),
        }
    }

    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(
                "SET #status = :completed, completedAt = :now, expiresAt = :expires REMOVE leaseUntil",
            )
            .condition_expression("claimToken = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_values(":expires", n(now.plus(RETENTION).secs()))
            .expression_attribute_values(":token", s(&token.0))
            .send()
            .await
            .map_err(|e| StoreError::new("complete", sdk_error(e)))?;
        Ok(())
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("claimToken = :token AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(&token.0))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now: nothing of ours to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::new("release", sdk_error(e))),
        }
    }
}

impl DynamoEventLog {
    async fn existing(&self, key: &str) -> Result<Claim, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .projection_expression("#status")
            .expression_attribute_names("#status", "status")
            .send()
            .await
            .map_err(|e| StoreError::new("read claim", sdk_error(e)))?;
        let completed = item
            .item()
            .and_then(|i| i.get("status"))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|status| status == COMPLETED);
        Ok(if completed {
            Claim::Duplicate
        } else {
            Claim::InProgress
        })
    }
}
