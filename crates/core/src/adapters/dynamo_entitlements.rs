//! Entitlements on DynamoDB, one item collection per user (`userId` hash key, `entry` range key):
//! - `entry = "current"`: `doc` (the entitlements, JSON), `version` (bumped by every change; writes are
//!   conditional on it), `previous` (what the last change replaced), `announcedVersion`, `clerkDigest`, and
//!   `status` and `lapses` (true while something ends by itself), `lapseShard` and `lapseAt` (only while
//!   something of the grant ends by itself: the sparse `byLapse` index the hourly sweep queries; written and
//!   removed in the same write as the row), `catalog` (the catalog version it was computed under, written
//!   with each history version);
//! - `entry = "ledger#<key>"`: one row per credit change (`credits`, `reason`, `at`), written in the same
//!   transaction as the change it records, so a replayed purchase cannot add credits twice and the balance
//!   can be audited;
//! - `entry = "h#<appliedAt>#<version>"`: each version the processor wrote, with its provenance (`doc`), put in
//!   the same transaction as the version itself and never updated; `expiresAt` (TTL) after
//!   `ENTITLEMENT_HISTORY_DAYS`.
use super::dynamo::{conditional_failed, n, s};
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use entitle_domain::entitlements::history::Version;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{
    lapse_shard, Appended, EntitlementHistory, EntitlementReader, EntitlementStore, LapseCursor,
    LapseKey, Lapsing, LapsingPage, LedgerEntry, SaveOutcome, StoreError, StoredEntitlements,
    LAPSE_SHARDS,
};
use entitle_domain::time::UnixTime;
use std::collections::HashMap;

const CURRENT: &str = "current";

/// The sparse index of rows that lapse (infra/template.yaml): partition `lapseShard`
/// ([`lapse_shard`], `0..LAPSE_SHARDS`), sort `lapseAt` (Unix seconds,
/// [`Entitlements::lapses_at`]); keys only. A row is in it exactly while something of its grant ends by
/// itself.
pub const LAPSE_INDEX: &str = "byLapse";
const LAPSE_SHARD: &str = "lapseShard";
const LAPSE_AT: &str = "lapseAt";

/// A history item's range key: after `h#`, the instant and the version, so both sort by time.
fn history_entry(applied_at: &str, version: u64) -> String {
    format!("h#{applied_at}#{version:012}")
}

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

    /// The history item of `version`: `entry = "h#<appliedAt>#<version>"` (sorted by time, so the version in
    /// force at an instant is one query), `doc` the [`Version`], `expiresAt` its retention (TTL).
    fn history_put(
        &self,
        next: &Entitlements,
        version: u64,
        appended: Appended<'_>,
    ) -> Result<Put, StoreError> {
        let applied_at = next.updated_at.clone().unwrap_or_default();
        let doc = Version {
            version,
            applied_at: applied_at.clone(),
            entitlements: next.clone(),
            provenance: appended.provenance.clone(),
        };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::key(
                &next.user_id,
                &history_entry(&applied_at, version),
            )))
            .item("doc", s(json(&doc)?))
            .item("expiresAt", n(appended.expires_at.secs()))
            .condition_expression("attribute_not_exists(userId)")
            .build()
            .map_err(|e| StoreError::new("write history", e))
    }

    async fn query_history(
        &self,
        subject: &SubjectId,
        (low, high): (String, String),
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        let mut versions = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("userId = :u AND #e BETWEEN :low AND :high")
                .expression_attribute_names("#e", "entry")
                .expression_attribute_values(":u", s(subject.as_str()))
                .expression_attribute_values(":low", s(&low))
                .expression_attribute_values(":high", s(&high))
                .scan_index_forward(!newest_first)
                .limit(limit.min(1000) as i32)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::new("read history", sdk_error(e)))?;
            for item in out.items.unwrap_or_default() {
                let doc = super::dynamo::text(&item, "doc").unwrap_or_default();
                versions.push(
                    serde_json::from_str(&doc).map_err(|e| StoreError::new("decode history", e))?,
                );
            }
            start = out.last_evaluated_key;
            if start.is_none() || versions.len() >= limit {
                versions.truncate(limit);
                return Ok(versions);
            }
        }
    }

    /// Replaces the user's entitlements unconditionally (operators and tests; the processor uses `save`).
    pub async fn put(&self, entitlements: &Entitlements) -> Result<(), StoreError> {
        let mut item = Self::key(&entitlements.user_id, CURRENT);
        item.insert("doc".into(), s(json(entitlements)?));
        item.insert("version".into(), n(1));
        item.insert("status".into(), s(status_name(entitlements.status)));
        item.insert("lapses".into(), AttributeValue::Bool(entitlements.lapses()));
        if let Some(at) = entitlements.lapses_at() {
            item.insert(LAPSE_SHARD.into(), n(lapse_shard(&entitlements.user_id)));
            item.insert(LAPSE_AT.into(), n(at.secs()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
        catalog: Option<&str>,
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
        let mut set = vec![
            "doc = :doc",
            "version = :version",
            "#status = :status",
            "lapses = :lapses",
        ];
        let mut remove = Vec::new();
        match previous {
            Some(previous) => {
                set.push("previous = :previous");
                update = update.expression_attribute_values(":previous", s(json(previous)?));
            }
            None => remove.push("previous"),
        }
        if let Some(catalog) = catalog {
            // `catalog` is one of DynamoDB's reserved words.
            set.push("#catalog = :catalog");
            update = update
                .expression_attribute_names("#catalog", "catalog")
                .expression_attribute_values(":catalog", s(catalog));
        }
        // The lapse index's entry, in the same write as the row: set while something lapses, removed
        // (out of the sparse index) when nothing does.
        match next.lapses_at() {
            Some(at) => {
                set.extend(["#lapseShard = :lapseShard", "#lapseAt = :lapseAt"]);
                update = update
                    .expression_attribute_values(":lapseShard", n(lapse_shard(&next.user_id)))
                    .expression_attribute_values(":lapseAt", n(at.secs()));
            }
            None => remove.extend(["#lapseShard", "#lapseAt"]),
        }
        update = update
            .expression_attribute_names("#lapseShard", LAPSE_SHARD)
            .expression_attribute_names("#lapseAt", LAPSE_AT);
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
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
            catalog: item.get("catalog").and_then(|v| v.as_s().ok()).cloned(),
            indexed_lapse: item
                .get(LAPSE_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .map(UnixTime::from_secs),
        }))
    }

    async fn save_version(
        &self,
        next: &Entitlements,
        expected_version: Option<u64>,
        previous: Option<&Entitlements>,
        ledger: Option<&LedgerEntry>,
        history: Option<Appended<'_>>,
    ) -> Result<SaveOutcome, StoreError> {
        let update = self.update(
            next,
            expected_version,
            previous,
            history.map(|h| h.provenance.catalog.as_str()),
        )?;
        let version = expected_version.unwrap_or(0) + 1;
        let appended = history
            .map(|h| self.history_put(next, version, h))
            .transpose()?;
        if let (None, Some(put)) = (ledger, appended.clone()) {
            // The new version and its history item, together or not at all.
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(TransactWriteItem::builder().update(update).build())
                .send()
                .await;
            return match result {
                Ok(_) => Ok(SaveOutcome::Saved { version }),
                Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                    Ok(SaveOutcome::Conflict)
                }
                Err(e) => Err(StoreError::new("write entitlements", sdk_error(e))),
            };
        }
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
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(appended.map(|put| TransactWriteItem::builder().put(put).build()));
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
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

    async fn reindex(&self, entitlements: &Entitlements, version: u64) -> Result<(), StoreError> {
        let user = &entitlements.user_id;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user, CURRENT)))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(version))
            .expression_attribute_names("#lapseShard", LAPSE_SHARD)
            .expression_attribute_names("#lapseAt", LAPSE_AT);
        request = match entitlements.lapses_at() {
            Some(at) => request
                .update_expression("SET #lapseShard = :shard, #lapseAt = :at")
                .expression_attribute_values(":shard", n(lapse_shard(user)))
                .expression_attribute_values(":at", n(at.secs())),
            None => request.update_expression("REMOVE #lapseShard, #lapseAt"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(()),
            Err(e) => Err(StoreError::new("reindex entitlements", sdk_error(e))),
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

    async fn lapsing(
        &self,
        until: UnixTime,
        from: &LapseCursor,
        limit: usize,
    ) -> Result<LapsingPage, StoreError> {
        let start = from.after.as_ref().map(|after| {
            let mut key = Self::key(&after.user_id, CURRENT);
            key.insert(LAPSE_SHARD.to_owned(), n(from.shard));
            key.insert(LAPSE_AT.to_owned(), n(after.at));
            key
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LAPSE_INDEX)
            .key_condition_expression("#shard = :shard AND #at <= :until")
            .expression_attribute_names("#shard", LAPSE_SHARD)
            .expression_attribute_names("#at", LAPSE_AT)
            .expression_attribute_values(":shard", n(from.shard))
            .expression_attribute_values(":until", n(until.secs()))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::new("query lapsing plans", sdk_error(e)))?;
        let rows: Vec<Lapsing> = out
            .items()
            .iter()
            .filter_map(|item| {
                let user = SubjectId::parse(super::dynamo::text(item, "userId")?).ok()?;
                let at: i64 = item.get(LAPSE_AT)?.as_n().ok()?.parse().ok()?;
                Some(Lapsing {
                    resume: LapseCursor {
                        shard: from.shard,
                        after: Some(LapseKey {
                            user_id: user.clone(),
                            at,
                        }),
                    },
                    user,
                    at: UnixTime::from_secs(at),
                })
            })
            .collect();
        // Where DynamoDB stopped (its last evaluated key: the row's and the index's keys), else the next shard.
        let next = match out
            .last_evaluated_key
            .as_ref()
            .filter(|key| !key.is_empty())
        {
            Some(key) => Some(LapseCursor {
                shard: from.shard,
                after: Some(LapseKey {
                    user_id: super::dynamo::text(key, "userId")
                        .and_then(|u| SubjectId::parse(u).ok())
                        .ok_or_else(|| {
                            StoreError::new("query lapsing plans", "a key without userId")
                        })?,
                    at: key
                        .get(LAPSE_AT)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| {
                            StoreError::new("query lapsing plans", "a key without lapseAt")
                        })?,
                }),
            }),
            None => (from.shard + 1 < LAPSE_SHARDS).then(|| LapseCursor {
                shard: from.shard + 1,
                after: None,
            }),
        };
        Ok(LapsingPage { rows, next })
    }
}

#[async_trait]
impl EntitlementHistory for DynamoEntitlements {
    async fn version_at(
        &self,
        subject: &SubjectId,
        at: UnixTime,
    ) -> Result<Option<Version>, StoreError> {
        // `h#<at>#~` sorts after every version applied at `at` (digits sort before `~`).
        let range = ("h#".to_owned(), format!("h#{}#~", at.to_rfc3339()));
        Ok(self
            .query_history(subject, range, true, 1)
            .await?
            .into_iter()
            .next())
    }

    async fn latest(&self, subject: &SubjectId, limit: usize) -> Result<Vec<Version>, StoreError> {
        // Every version's entry sorts between `h#` and `h#~`.
        let range = ("h#".to_owned(), "h#~".to_owned());
        self.query_history(subject, range, true, limit).await
    }

    async fn versions(
        &self,
        subject: &SubjectId,
        from: UnixTime,
        to: UnixTime,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        let range = (
            format!("h#{}", from.to_rfc3339()),
            format!("h#{}#~", to.to_rfc3339()),
        );
        self.query_history(subject, range, false, limit).await
    }
}
