//! Small helpers shared by the DynamoDB adapters.
use super::sdk_error;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::StoreError;
use std::collections::HashMap;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute of an item.
pub(crate) fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A condition of the write did not hold (for a transaction: one of its conditions).
pub(crate) fn conditional_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some("ConditionalCheckFailedException" | "TransactionCanceledException")
    )
}

/// Every `userId` a scan returns, following its pages. `scan` shapes the request (table, filter).
pub(crate) async fn scan_user_ids(
    scan: impl Fn() -> ScanFluentBuilder,
    operation: &'static str,
) -> Result<Vec<SubjectId>, StoreError> {
    let mut users = Vec::new();
    let mut start = None;
    loop {
        let out = scan()
            .projection_expression("userId")
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::new(operation, sdk_error(e)))?;
        users.extend(
            out.items()
                .iter()
                .filter_map(|item| text(item, "userId"))
                .filter_map(|u| SubjectId::parse(u).ok()),
        );
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(users),
        }
    }
}
