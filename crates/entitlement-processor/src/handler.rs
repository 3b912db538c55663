//! The function's entry: an SQS batch of billing events (partial batch responses), the hourly sweep, or a
//! reconcile request.
use crate::apply::{apply, Failure, Incoming};
use crate::deps::Deps;
use crate::maintenance::{reconcile, sweep};
use crate::publish::publish_changes;
use entitle_domain::time::UnixTime;
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

#[derive(Debug, Deserialize)]
struct SqsBatch {
    #[serde(rename = "Records")]
    records: Vec<SqsRecord>,
}

#[derive(Debug, Deserialize)]
struct SqsRecord {
    #[serde(rename = "messageId")]
    message_id: String,
    body: String,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Error> {
    handle_at(deps, event.payload, UnixTime::now()).await
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, payload: Value, now: UnixTime) -> Result<Value, Error> {
    if payload.get("Records").is_some() {
        let batch: SqsBatch = serde_json::from_value(payload)?;
        return Ok(process_batch(deps, batch, now).await);
    }
    if let Some(target) = payload.get("reconcile") {
        return reconcile(deps, target, now).await.map_err(Error::from);
    }
    // EventBridge's schedule ({"source": "aws.events", …}) or {"sweep": true}.
    if payload.get("sweep").is_some() || payload["source"] == "aws.events" {
        return sweep(deps, now).await.map_err(Error::from);
    }
    Err("unrecognized invocation: expected SQS records, {\"reconcile\": …} or a schedule".into())
}

/// Each record succeeds or fails alone; the failures go back to SQS as `batchItemFailures`.
async fn process_batch(deps: &Deps, batch: SqsBatch, now: UnixTime) -> Value {
    let mut failures = Vec::new();
    for record in batch.records {
        if let Err(failure) = process_record(deps, &record, now).await {
            failures.push(json!({ "itemIdentifier": record.message_id }));
            tracing::warn!(message_id = %record.message_id, error = %failure, "record will be retried");
        }
    }
    json!({ "batchItemFailures": failures })
}

/// `Err` only when the record should be retried; a permanent failure is dead-lettered here and counts as
/// handled.
async fn process_record(deps: &Deps, record: &SqsRecord, now: UnixTime) -> Result<(), Failure> {
    let event: Incoming = match serde_json::from_str(&record.body) {
        Ok(event) => event,
        Err(e) => return dead_letter(deps, record, &format!("not a billing event: {e}")).await,
    };
    let span =
        tracing::info_span!("billing_event", event_id = %event.id, event_type = %event.event_type);
    async {
        if let Some(at) = event
            .occurred_at
            .as_deref()
            .and_then(UnixTime::parse_rfc3339)
        {
            entitle_core::metrics::count(
                "ProcessingLagSeconds",
                (now.secs() - at.secs()).max(0) as u64,
            );
        }
        let result = match apply(deps, &event, now).await {
            Ok(Some(user)) => publish_changes(deps, &user, now).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(()),
            Err(Failure::Permanent(reason)) => dead_letter(deps, record, &reason).await,
            Err(retry) => Err(retry),
        }
    }
    .instrument(span)
    .await
}

async fn dead_letter(deps: &Deps, record: &SqsRecord, reason: &str) -> Result<(), Failure> {
    tracing::error!(message_id = %record.message_id, reason, "dead-lettering a billing event that cannot be applied");
    entitle_core::metrics::count("DeadLettered", 1);
    deps.dead_letters
        .dead_letter(&record.body, reason)
        .await
        .map_err(|e| Failure::Retry(format!("dead-lettering failed: {e}")))
}

#[cfg(test)]
mod tests;
