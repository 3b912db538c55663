//! The function's entry: an SQS batch of billing events (partial batch responses), the hourly sweep, or a
//! reconcile request.
use crate::processor::maintenance::{reconcile, sweep, ReconcileTarget, INVOCATION_TIME};
use crate::processor::run::run_until;
use crate::processor::{Deps, Failure};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use entitle_domain::queue::QueueMessage;
use entitle_domain::time::UnixTime;
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

/// What the function is invoked with. Untagged: the first shape that fits wins, and an SQS batch always has
/// `Records`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Batch(SqsEvent),
    Reconcile {
        reconcile: ReconcileTarget,
    },
    /// `{"sweep": true}` by hand.
    Sweep {
        sweep: bool,
    },
    /// EventBridge's hourly schedule (`{"source": "aws.events", …}`).
    Schedule {
        source: ScheduleSource,
    },
}

#[derive(Debug, Deserialize)]
pub enum ScheduleSource {
    #[serde(rename = "aws.events")]
    AwsEvents,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Error> {
    // The context's deadline (epoch milliseconds) as an instant of this process's clock.
    let left = Duration::from_millis(event.context.deadline).saturating_sub(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    handle_until(deps, event.payload, UnixTime::now(), Instant::now() + left).await
}

/// The handler with the clock injected, in an invocation of the function's full timeout.
pub async fn handle_at(deps: &Deps, payload: Value, now: UnixTime) -> Result<Value, Error> {
    handle_until(deps, payload, now, Instant::now() + INVOCATION_TIME).await
}

/// The handler with the clock and the invocation's deadline injected.
pub async fn handle_until(
    deps: &Deps,
    payload: Value,
    now: UnixTime,
    deadline: Instant,
) -> Result<Value, Error> {
    let invocation: Invocation = serde_json::from_value(payload).map_err(|_| {
        "unrecognized invocation: expected SQS records, {\"reconcile\": {\"userId\": …} | \"all\"} or a schedule"
    })?;
    match invocation {
        Invocation::Batch(batch) => Ok(serde_json::to_value(
            process_batch(deps, batch, now, deadline).await,
        )?),
        Invocation::Reconcile { reconcile: target } => {
            Ok(serde_json::to_value(reconcile(deps, &target, now).await?)?)
        }
        Invocation::Sweep { .. } | Invocation::Schedule { .. } => {
            Ok(serde_json::to_value(sweep(deps, now, deadline).await?)?)
        }
    }
}

/// Each record succeeds or fails alone; the failures go back to SQS as `batchItemFailures`.
async fn process_batch(
    deps: &Deps,
    batch: SqsEvent,
    now: UnixTime,
    deadline: Instant,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &batch.records {
        let id = record.message_id.as_deref().unwrap_or_default();
        let outcome = process_record(deps, record, now, deadline).await;
        // Test-only (entitle_core::crash): the record is applied (or failed), the batch not yet answered.
        entitle_core::crash::point("processor_applied");
        if let Err(failure) = outcome {
            tracing::warn!(message_id = %id, error = %failure.chain(), "record will be retried");
            let mut item = BatchItemFailure::default();
            item.item_identifier = id.to_owned();
            response.batch_item_failures.push(item);
        }
    }
    response
}

/// `Err` only when the record should be retried; a permanent failure is dead-lettered here and counts as
/// handled.
async fn process_record(
    deps: &Deps,
    record: &SqsMessage,
    now: UnixTime,
    deadline: Instant,
) -> Result<(), Failure> {
    let body = record.body.as_deref().unwrap_or_default();
    let message: QueueMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => return dead_letter(deps, record, &format!("not a billing event: {e}")).await,
    };
    let (id, kind) = message.id_and_type();
    let span = tracing::info_span!("billing_event", event_id = %id, event_type = %kind);
    async {
        if let Some(at) = message.occurred_at() {
            entitle_core::metrics::count(
                "ProcessingLagSeconds",
                (now.secs() - at.secs()).max(0) as u64,
            );
        }
        let result = run_until(deps, &message, now, deadline).await;
        match result {
            Ok(()) => Ok(()),
            Err(failure) if failure.is_permanent() => {
                dead_letter(deps, record, &failure.chain()).await
            }
            // The queue's last attempt: dead-letter it here, with the reason, rather than let SQS move it
            // without one.
            Err(retry) if receive_count(record) >= MAX_RECEIVES => {
                let reason = format!(
                    "still failing after {MAX_RECEIVES} attempts: {}",
                    retry.chain()
                );
                dead_letter(deps, record, &reason).await
            }
            Err(retry) => Err(retry),
        }
    }
    .instrument(span)
    .await
}

/// The entitlement queue's `maxReceiveCount` (infra/template.yaml).
pub const MAX_RECEIVES: u32 = 5;

/// How often SQS has handed out this message, this time included.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

async fn dead_letter(deps: &Deps, record: &SqsMessage, reason: &str) -> Result<(), Failure> {
    tracing::error!(
        message_id = record.message_id.as_deref().unwrap_or_default(),
        reason,
        "dead-lettering a billing event that cannot be applied"
    );
    entitle_core::metrics::count("DeadLettered", 1);
    deps.dead_letters
        .dead_letter(record.body.as_deref().unwrap_or_default(), reason)
        .await
        .map_err(Failure::from)
}

#[cfg(test)]
mod tests;
