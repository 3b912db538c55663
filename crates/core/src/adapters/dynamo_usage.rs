//! Usage on DynamoDB: one table (`USAGE_TABLE`, hash `pk`, range `sk`, TTL `expiresAt`).
//! - counters: `pk = "user#<userId>"`, `sk = "<limit>"` or `"<limit>#<period>"`; `v` (count, or the credits
//!   balance), `reserved` (v ± every stored hold: the attribute the write conditions test), `spent`, one
//!   attribute `h#<holdId>` per hold (`{a, e}`: amount, expiry), flags `limitReached` / `creditsLow`, and
//!   `expiresAt` on metered counters;
//! - records: `pk = "rec#<key>"`, `sk = "rec"`: idempotency records (with `expiresAt`) and credits ledger rows
//!   (without), written in the same transaction as the change they record.
//!
//! - credits movements: `pk = "user#<userId>"`, `sk = "<counter>/l#<newest-first instant>#<record key>"`
//!   (`credits`, `reason`, `at`, `key`): one per record that changes the credits balance, put in the same
//!   transaction, so the counter and its ledger are one query (`sk` from `"<counter>"`, newest first).
//!
//! A change is one `TransactWriteItems` (record put if absent + counter update under its guard, + a member
//! counter's update inside an organization's pool: `sk = "<counter>@<userId>"`); a read is one
//! `BatchGetItem` across this table and the entitlements table.
use super::dynamo::{conditional_failed, n, s, text};
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{CounterKey, Flag, Record, Snapshot, UsageStore, WriteOutcome};
use entitle_domain::ports::StoreError;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::Guard;
use entitle_domain::usage::ledger::LedgerRow;
use entitle_domain::usage::{Change, Counter, Hold};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const HOLD_PREFIX: &str = "h#";
/// After the counter's name in a credits movement's `sk`: `/` sorts before every other character of a limit
/// name or period key (`#`, `@` and `_` sort after it), so no other counter falls inside the ledger's range.
const LEDGER_INFIX: &str = "/l#";

/// The `sk` of a credits movement: newest first (microseconds counted down from `i64::MAX`). The instant is
/// the write's wall clock, so that movements keep the order they were written in even within a second; a
/// record dated far from it (a clock injected by a test or a replayed import) sorts by its own time.
fn ledger_sk(counter: &str, record: &Record) -> String {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let dated = record.at.secs().saturating_mul(1_000_000);
    let micros = match (wall - dated).abs() <= 60_000_000 {
        true => wall,
        false => dated,
    };
    format!(
        "{counter}{LEDGER_INFIX}{:019}#{}",
        i64::MAX - micros,
        record.key
    )
}

fn ledger_put(table: &str, counter: &CounterKey, record: &Record) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .item("pk", s(format!("user#{}", counter.user.as_str())))
        .item("sk", s(ledger_sk(&counter.name, record)))
        .item("key", s(&record.key))
        .item("credits", n(record.credits))
        .item("reason", s(&record.reason))
        .item("at", s(record.at.to_rfc3339()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::new("write credits ledger", e))
}

/// A record that moves the credits balance (kept: no expiry) is a ledger movement.
fn is_movement(record: &Record) -> bool {
    record.credits != 0 && record.expires_at.is_none()
}

pub struct DynamoUsage {
    client: Client,
    table: String,
    entitlements_table: String,
}

impl DynamoUsage {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        entitlements_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            entitlements_table: entitlements_table.into(),
        }
    }

    fn counter_key(key: &CounterKey) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("user#{}", key.user.as_str()))),
            ("sk".to_owned(), s(&key.name)),
        ])
    }

    fn record_key(key: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("rec#{key}"))),
            ("sk".to_owned(), s("rec")),
        ])
    }

    fn entitlements_key(user: &SubjectId) -> Item {
        HashMap::from([
            ("userId".to_owned(), s(user.as_str())),
            ("entry".to_owned(), s("current")),
        ])
    }

    /// One consistent `BatchGetItem` over both tables; unprocessed keys (throttling) are asked again.
    async fn batch_get(
        &self,
        usage_keys: Vec<Item>,
        user: &SubjectId,
    ) -> Result<(Vec<Item>, Option<Entitlements>), StoreError> {
        let mut request: HashMap<String, KeysAndAttributes> = HashMap::from([(
            self.entitlements_table.clone(),
            keys(vec![Self::entitlements_key(user)])
                .map_err(|e| StoreError::new("read usage", e))?,
        )]);
        // DynamoDB refuses a table with an empty key list (a plan flag's check reads no counter).
        if !usage_keys.is_empty() {
            request.insert(
                self.table.clone(),
                keys(usage_keys).map_err(|e| StoreError::new("read usage", e))?,
            );
        }
        let mut usage = Vec::new();
        let mut entitlements = None;
        for _ in 0..5 {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| StoreError::new("read usage", sdk_error(e)))?;
            let mut responses = out.responses.unwrap_or_default();
            usage.extend(responses.remove(&self.table).unwrap_or_default());
            if let Some(item) = responses
                .remove(&self.entitlements_table)
                .and_then(|items| items.into_iter().next())
            {
                entitlements = match text(&item, "doc") {
                    Some(doc) => Some(
                        serde_json::from_str(&doc)
                            .map_err(|e| StoreError::new("decode entitlements", e))?,
                    ),
                    None => None,
                };
            }
            match out.unprocessed_keys {
                Some(rest) if !rest.is_empty() => request = rest,
                _ => return Ok((usage, entitlements)),
            }
        }
        Err(StoreError::new(
            "read usage",
            "DynamoDB left keys unprocessed five times",
        ))
    }
}

fn keys(keys: Vec<Item>) -> Result<KeysAndAttributes, aws_sdk_dynamodb::error::BuildError> {
    KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(true)
        .build()
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn counter_of(item: &Item) -> Counter {
    let holds = item
        .iter()
        .filter_map(|(name, value)| {
            let id = name.strip_prefix(HOLD_PREFIX)?;
            let hold = value.as_m().ok()?;
            Some((
                id.to_owned(),
                Hold {
                    amount: number(hold, "a"),
                    expires_at: UnixTime::from_secs(number(hold, "e")),
                },
            ))
        })
        .collect();
    Counter {
        value: number(item, "v"),
        reserved: number(item, "reserved"),
        spent: number(item, "spent"),
        holds,
    }
}

fn record_of(item: &Item) -> Option<Record> {
    let key = text(item, "pk")?.strip_prefix("rec#")?.to_owned();
    Some(Record {
        key,
        user: SubjectId::parse(text(item, "userId")?).ok()?,
        fingerprint: text(item, "fingerprint").unwrap_or_default(),
        response: text(item, "response").unwrap_or_default(),
        credits: number(item, "credits"),
        reason: text(item, "reason").unwrap_or_default(),
        at: UnixTime::parse_rfc3339(&text(item, "at").unwrap_or_default())
            .unwrap_or(UnixTime::from_secs(0)),
        expires_at: item
            .contains_key("expiresAt")
            .then(|| UnixTime::from_secs(number(item, "expiresAt"))),
    })
}

fn is_counter_of(item: &Item, key: &CounterKey) -> bool {
    text(item, "sk").as_deref() == Some(key.name.as_str())
        && text(item, "pk").as_deref() == Some(&format!("user#{}", key.user.as_str()))
}

fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::LimitReached => "limitReached",
        Flag::CreditsLow => "creditsLow",
    }
}

/// The counter update for `change`: deltas by `ADD`, the hold by `SET`, removed holds by `REMOVE`, under the
/// guard and the existence of every hold it removes.
fn update_of(table: &str, key: &CounterKey, change: &Change) -> Result<Update, StoreError> {
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(DynamoUsage::counter_key(key)))
        .expression_attribute_names("#v", "v")
        .expression_attribute_names("#reserved", "reserved")
        .expression_attribute_values(":dv", n(change.value))
        .expression_attribute_values(":dr", n(change.reserved))
        .expression_attribute_values(":ds", n(change.spent))
        .expression_attribute_values(":user", s(key.user.as_str()));
    let mut set = vec!["userId = :user".to_owned()];
    if let Some(at) = key.expires_at {
        set.push("expiresAt = :ttl".into());
        builder = builder.expression_attribute_values(":ttl", n(at.secs()));
    }
    if let Some((id, hold)) = &change.add_hold {
        set.push("#hnew = :hold".into());
        builder = builder
            .expression_attribute_names("#hnew", format!("{HOLD_PREFIX}{id}"))
            .expression_attribute_values(
                ":hold",
                AttributeValue::M(HashMap::from([
                    ("a".to_owned(), n(hold.amount)),
                    ("e".to_owned(), n(hold.expires_at.secs())),
                ])),
            );
    }
    let mut conditions = Vec::new();
    let mut remove = Vec::new();
    for (i, id) in change.remove_holds.iter().enumerate() {
        let name = format!("#h{i}");
        conditions.push(format!("attribute_exists({name})"));
        remove.push(name.clone());
        builder = builder.expression_attribute_names(name, format!("{HOLD_PREFIX}{id}"));
    }
    let (attribute, op, bound) = match change.guard {
        Guard::None => ("", "", 0),
        Guard::ReservedAtMost(max) => ("#reserved", "<=", max),
        Guard::ReservedAtLeast(min) => ("#reserved", ">=", min),
        Guard::ValueAtLeast(min) => ("#v", ">=", min),
        Guard::ValueAtMost(max) => ("#v", "<=", max),
        Guard::ValueIs(v) => ("#v", "=", v),
    };
    if !attribute.is_empty() {
        builder = builder.expression_attribute_values(":bound", n(bound));
        // A counter not yet written is zero, and an absent attribute fails every comparison.
        let zero_passes = match op {
            "<=" => 0 <= bound,
            "=" => bound == 0,
            _ => 0 >= bound,
        };
        conditions.push(if zero_passes {
            format!("(attribute_not_exists({attribute}) OR {attribute} {op} :bound)")
        } else {
            format!("{attribute} {op} :bound")
        });
    }
    let mut expression = format!(
        "ADD #v :dv, #reserved :dr, spent :ds SET {}",
        set.join(", ")
    );
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    if !conditions.is_empty() {
        builder = builder.condition_expression(conditions.join(" AND "));
    }
    builder
        .update_expression(expression)
        .build()
        .map_err(|e| StoreError::new("write usage", e))
}

fn record_put(table: &str, record: &Record) -> Result<Put, StoreError> {
    let mut item = DynamoUsage::record_key(&record.key);
    item.insert("userId".into(), s(record.user.as_str()));
    item.insert("fingerprint".into(), s(&record.fingerprint));
    item.insert("response".into(), s(&record.response));
    item.insert("credits".into(), n(record.credits));
    item.insert("reason".into(), s(&record.reason));
    item.insert("at".into(), s(record.at.to_rfc3339()));
    if let Some(at) = record.expires_at {
        item.insert("expiresAt".into(), n(at.secs()));
    }
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::new("write usage record", e))
}

#[async_trait]
impl UsageStore for DynamoUsage {
    async fn snapshot_with(
        &self,
        counter: &CounterKey,
        member: Option<&CounterKey>,
        record_key: Option<&str>,
    ) -> Result<Snapshot, StoreError> {
        let mut usage_keys = vec![Self::counter_key(counter)];
        usage_keys.extend(member.map(Self::counter_key));
        usage_keys.extend(record_key.map(Self::record_key));
        let (items, entitlements) = self.batch_get(usage_keys, &counter.user).await?;
        let mut snapshot = Snapshot {
            entitlements,
            ..Snapshot::default()
        };
        for item in &items {
            if is_counter_of(item, counter) {
                snapshot.counter = counter_of(item);
            } else if member.is_some_and(|m| is_counter_of(item, m)) {
                snapshot.member = counter_of(item);
            } else {
                snapshot.record = record_of(item);
            }
        }
        Ok(snapshot)
    }

    async fn counters(
        &self,
        user: &SubjectId,
        keys: &[CounterKey],
    ) -> Result<(Option<Entitlements>, Vec<Counter>), StoreError> {
        let usage_keys = keys.iter().map(Self::counter_key).collect();
        let (items, entitlements) = self.batch_get(usage_keys, user).await?;
        let counters = keys
            .iter()
            .map(|key| {
                items
                    .iter()
                    .find(|item| is_counter_of(item, key))
                    .map(counter_of)
                    .unwrap_or_default()
            })
            .collect();
        Ok((entitlements, counters))
    }

    async fn write_with(
        &self,
        counter: &CounterKey,
        change: &Change,
        member: Option<(&CounterKey, &Change)>,
        record: Option<&Record>,
    ) -> Result<WriteOutcome, StoreError> {
        let update = update_of(&self.table, counter, change)?;
        let mut items = Vec::with_capacity(4);
        if let Some(record) = record {
            items.push(
                TransactWriteItem::builder()
                    .put(record_put(&self.table, record)?)
                    .build(),
            );
            if is_movement(record) {
                items.push(
                    TransactWriteItem::builder()
                        .put(ledger_put(&self.table, counter, record)?)
                        .build(),
                );
            }
        }
        if let Some((key, change)) = member {
            let member_update = update_of(&self.table, key, change)?;
            items.push(TransactWriteItem::builder().update(member_update).build());
        }
        let result = match items.is_empty() {
            false => self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .transact_items(TransactWriteItem::builder().update(update).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    if e.as_service_error().is_some_and(conditional_failed) {
                        None
                    } else {
                        Some(sdk_error(e))
                    }
                }),
            true => self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    if e.as_service_error().is_some_and(conditional_failed) {
                        None
                    } else {
                        Some(sdk_error(e))
                    }
                }),
        };
        match result {
            Ok(()) => Ok(WriteOutcome::Applied),
            Err(None) => Ok(WriteOutcome::Conflict),
            Err(Some(e)) => Err(StoreError::new("write usage", e)),
        }
    }

    async fn ledger(
        &self,
        counter: &CounterKey,
        limit: usize,
    ) -> Result<(Counter, Vec<LedgerRow>), StoreError> {
        let pk = format!("user#{}", counter.user.as_str());
        let prefix = format!("{}{LEDGER_INFIX}", counter.name);
        let mut found = Counter::default();
        let mut rows = Vec::new();
        let mut start = None;
        // The counter's own item, then its movements newest first: `limit + 1` items at most.
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":low", s(&counter.name))
                .expression_attribute_values(":high", s(format!("{prefix}~")))
                .consistent_read(true)
                .limit((limit + 1 - rows.len()).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::new("read credits ledger", sdk_error(e)))?;
            for item in out.items.unwrap_or_default() {
                match text(&item, "sk") {
                    Some(sk) if sk == counter.name => found = counter_of(&item),
                    Some(sk) if sk.starts_with(&prefix) && rows.len() < limit => {
                        rows.push(LedgerRow {
                            key: text(&item, "key").unwrap_or_default(),
                            credits: number(&item, "credits"),
                            reason: text(&item, "reason").unwrap_or_default(),
                            at: UnixTime::parse_rfc3339(&text(&item, "at").unwrap_or_default())
                                .unwrap_or(UnixTime::from_secs(0)),
                        })
                    }
                    // Another counter whose name sorts in between (a period key): not this ledger.
                    _ => {}
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() || rows.len() >= limit {
                break;
            }
        }
        Ok((found, rows))
    }

    async fn set_flag(&self, counter: &CounterKey, flag: Flag) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::counter_key(counter)))
            .expression_attribute_names("#flag", flag_name(flag))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .condition_expression("attribute_not_exists(#flag)");
        request = match counter.expires_at {
            Some(at) => request
                .update_expression("SET #flag = :yes, expiresAt = :ttl")
                .expression_attribute_values(":ttl", n(at.secs())),
            None => request.update_expression("SET #flag = :yes"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(StoreError::new("set usage flag", sdk_error(e))),
        }
    }

    async fn clear_flag(&self, counter: &CounterKey, flag: Flag) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::counter_key(counter)))
            .expression_attribute_names("#flag", flag_name(flag))
            .update_expression("REMOVE #flag")
            .send()
            .await
            .map_err(|e| StoreError::new("clear usage flag", sdk_error(e)))?;
        Ok(())
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::record_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("read usage record", sdk_error(e)))?;
        Ok(out.item.as_ref().and_then(record_of))
    }

    async fn put_record(&self, record: &Record) -> Result<WriteOutcome, StoreError> {
        let put = record_put(&self.table, record)?;
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(WriteOutcome::Applied),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                Ok(WriteOutcome::Conflict)
            }
            Err(e) => Err(StoreError::new("write usage record", sdk_error(e))),
        }
    }

    async fn counted(&self, counter: &CounterKey) -> Result<(i64, i64), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::counter_key(counter)))
            .projection_expression("#v, countVersion")
            .expression_attribute_names("#v", "v")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("read a counted value", sdk_error(e)))?;
        Ok(out
            .item
            .as_ref()
            .map(|item| (number(item, "v"), number(item, "countVersion")))
            .unwrap_or((0, 0)))
    }

    /// `SET v = reserved = :value, countVersion = :expected + 1`, on the version read before.
    async fn set_count(
        &self,
        counter: &CounterKey,
        value: i64,
        expected: i64,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::counter_key(counter)))
            .update_expression("SET #v = :value, #reserved = :value, countVersion = :next")
            .expression_attribute_names("#v", "v")
            .expression_attribute_names("#reserved", "reserved")
            .expression_attribute_values(":value", n(value))
            .expression_attribute_values(":next", n(expected + 1));
        let request = if expected == 0 {
            request.condition_expression("attribute_not_exists(countVersion)")
        } else {
            request
                .condition_expression("countVersion = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(StoreError::new("set a counted value", sdk_error(e))),
        }
    }
}
