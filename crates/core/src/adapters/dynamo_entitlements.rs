//! Entitlements on DynamoDB, one item collection per user (`userId` hash key, `entry` range key):
//! - `entry = "current"`: `doc` (the entitlements, JSON), `version` (bumped by every change; writes are
//!   conditional on it), `previous` (what the last change replaced), `announcedVersion`, `clerkDigest`, and
//!   `status` and `lapses` (true while an add-on ends by itself) for the sweep of lapsing grants;
//! - `entry = "ledger#<key>"`: one row per credit change (`credits`, `reason`, `at`), written in the same
//!   transaction as the change it records, so a replayed purchase cannot add credits twice and the balance
//!   can be audited.
use super::dynamo::{conditional_failed, n, s, scan_user_ids};
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{
    EntitlementReader, EntitlementStore, LedgerEntry, SaveOutcome, StoreError, StoredEntitlements,
};
use std::collections::HashMap;

const CURRENT: &str = "current";

pub struct DynamoEntitlements {
    client: Client,
    table: String,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::new("encode entitlements", e))
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Free => "free",
        Status::Active => "active",
        Status::Trialing => "trialing",
        Status::PastDue => "past_due",
        Status::Canceling => "canceling",
    }
}

impl DynamoEntitlements {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(user: &SubjectId, entry: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("userId".to_owned(), s(user.as_str())),
            ("entry".to_owned(), s(entry)),
        ])
    }

    /// Replaces the user's entitlements unconditionally (operators and tests; the processor uses `save`).
    pub async fn put(&self, entitlements: &Entitlements) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::key(&entitlements.user_id, CURRENT)))
            .item("doc", s(json(entitlements)?))
            .item("version", n(1))
            .item("status", s(status_name(entitlements.status)))
            .item("lapses", AttributeValue::Bool(entitlements.lapses()))
            .send()
            .await
            .map_err(|e| StoreError::new("write entitlements", sdk_error(e)))?;
        Ok(())
    }

    /// The user's ledger rows: `(key, credits)`.
    pub async fn ledger(&self, user: &SubjectId) -> Result<Vec<(String, i64)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("userId = :u AND begins_with(entry, :ledger)")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":ledger", s("ledger#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("read ledger", sdk_error(e)))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let key = item
                    .get("entry")?
                    .as_s()
                    .ok()?
                    .trim_start_matches("ledger#")
                    .to_owned();
                let credits = item.get("credits")?.as_n().ok()?.parse().ok()?;
                Some((key, credits))
            })
            .collect())
    }

    fn update(
        &self,
        next: &Entitlements,
        expected_version: Option<u64>,
        previous: Option<&Entitlements>,
    ) -> Result<Update, StoreError> {
        let version = expected_version.unwrap_or(0) + 1;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&next.user_id, CURRENT)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":doc", s(json(next)?))
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":status", s(status_name(next.status)))
            .expression_attribute_values(":lapses", AttributeValue::Bool(next.lapses()));
        let mut expression =
            String::from("SET doc = :doc, version = :version, #status = :status, lapses = :lapses");
        match previous {
            Some(previous) => {
                expression.push_str(", previous = :previous");
                update = update.expression_attribute_values(":previous", s(json(previous)?));
            }
            None => expression.push_str(" REMOVE previous"),
        }
        update = match expected_version {
            None => update.condition_expression("attribute_not_exists(userId)"),
            Some(v) => update
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        update
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError::new("write entitlements", e))
    }
}

fn item_entitlements(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<Entitlements>, StoreError> {
    match item.get(name).and_then(|v| v.as_s().ok()) {
        None => Ok(None),
        Some(doc) => serde_json::from_str(doc)
            .map(Some)
            .map_err(|e| StoreError::new("decode entitlements", e)),
    }
}

fn item_number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl EntitlementReader for DynamoEntitlements {
    async fn get(&self, user: &SubjectId) -> Result<Option<Entitlements>, StoreError> {
        Ok(self.load(user).await?.map(|stored| stored.entitlements))
    }
}

#[async_trait]
impl EntitlementStore for DynamoEntitlements {
    async fn load(&self, user: &SubjectId) -> Result<Option<StoredEntitlements>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user, CURRENT)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("read entitlements", sdk_error(e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(entitlements) = item_entitlements(&item, "doc")? else {
            return Ok(None);
        };
        Ok(Some(StoredEntitlements {
            entitlements,
            version: item_number(&item, "version"),
            previous: item_entitlements(&item, "previous")?,
            announced_version: item_number(&item, "announcedVersion"),
            clerk_digest: item.get("clerkDigest").and_then(|v| v.as_s().ok()).cloned(),
        }))
    }

    async fn save(
        &self,
        next: &Entitlements,
        expected_version: Option<u64>,
        previous: Option<&Entitlements>,
        ledger: Option<&LedgerEntry>,
    ) -> Result<SaveOutcome, StoreError> {
        let update = self.update(next, expected_version, previous)?;
        let version = expected_version.unwrap_or(0) + 1;
        let Some(entry) = ledger else {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values);
            request = request.return_values(aws_sdk_dynamodb::types::ReturnValue::None);
            return match request.send().await {
                Ok(_) => Ok(SaveOutcome::Saved { version }),
                Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                    Ok(SaveOutcome::Conflict)
                }
                Err(e) => Err(StoreError::new("write entitlements", sdk_error(e))),
            };
        };
        let ledger_key = format!("ledger#{}", entry.key);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::key(&next.user_id, &ledger_key)))
            .item("credits", n(entry.credits))
            .item("reason", s(&entry.reason))
            .item("at", s(entry.at.to_rfc3339()))
            .item("balance", n(next.credits))
            .condition_expression("attribute_not_exists(userId)")
            .build()
            .map_err(|e| StoreError::new("write ledger", e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(SaveOutcome::Saved { version }),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                // Which condition failed? The ledger row answers it.
                let existing = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&next.user_id, &ledger_key)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| StoreError::new("read ledger", sdk_error(e)))?;
                Ok(if existing.item.is_some() {
                    SaveOutcome::AlreadyApplied
                } else {
                    SaveOutcome::Conflict
                })
            }
            Err(e) => Err(StoreError::new("write entitlements", sdk_error(e))),
        }
    }

    async fn mark_announced(&self, user: &SubjectId, version: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user, CURRENT)))
            .update_expression("SET announcedVersion = :v")
            .condition_expression("attribute_not_exists(announcedVersion) OR announcedVersion < :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(()),
            Err(e) => Err(StoreError::new("mark announced", sdk_error(e))),
        }
    }

    async fn mark_clerk_synced(&self, user: &SubjectId, digest: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user, CURRENT)))
            .update_expression("SET clerkDigest = :d")
            .expression_attribute_values(":d", s(digest))
            .send()
            .await
            .map_err(|e| StoreError::new("mark Clerk synced", sdk_error(e)))?;
        Ok(())
    }

    async fn lapsing(&self) -> Result<Vec<SubjectId>, StoreError> {
        let scan = || {
            self.client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "entry = :current AND (#status IN (:past_due, :canceling) OR lapses = :yes)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":current", s(CURRENT))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":past_due", s("past_due"))
                .expression_attribute_values(":canceling", s("canceling"))
        };
        scan_user_ids(scan, "scan lapsing plans").await
    }
}
