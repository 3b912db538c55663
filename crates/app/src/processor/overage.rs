//! `usage.recorded` → one Stripe billing meter event, exactly once per usage.
//!
//! Three things make "once" hold whatever the redeliveries: the meter event's `identifier` derives from the
//! usage id alone (Stripe refuses a second event with it, which we take as "recorded"); the request carries
//! the same value as its idempotency key; and once Stripe has it, a ledger row `metered#<usageId>` in the
//! usage table says so, so a redelivery after Stripe's de-duplication window (a DLQ redrive days later)
//! sends nothing. A failure before the ledger row is written is retried; the retry is one of the two cases
//! above.
use super::deps::Deps;
use super::failure::Failure;
use entitle_domain::event::UsageRecordedData;
use entitle_domain::plans::meter_event_name;
use entitle_domain::ports::usage::{CounterKey, Record, WriteOutcome};
use entitle_domain::ports::{MeterEvent, Reported};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::Change;
use sha2::{Digest, Sha256};

/// Stripe takes meter events up to 35 days old; the ledger row is kept a little longer than that.
const LEDGER_RETENTION_SECS: i64 = 40 * 86_400;
/// Stripe refuses a timestamp more than 5 minutes ahead of its clock.
const MAX_AHEAD_SECS: i64 = 60;

/// The meter event's identifier: `entitle_` and 40 hex digits of SHA-256 of the usage id (usage ids can
/// be longer than the 100 characters Stripe allows; the digest is stable and fits).
pub fn meter_identifier(usage_id: &str) -> String {
    let digest = Sha256::digest(usage_id.as_bytes());
    format!("entitle_{}", &hex::encode(digest)[..40])
}

fn ledger_key(usage_id: &str) -> String {
    format!("metered#{usage_id}")
}

/// Reports the overage of one usage to Stripe. `Permanent` for an event that can never be reported (no
/// Stripe customer, a limit without a meter); Stripe's and the store's outages are retried.
/// `occurred_at`: when the usage happened (the event's time).
pub async fn report(
    deps: &Deps,
    data: &UsageRecordedData,
    occurred_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<(), Failure> {
    if data.overage <= 0 {
        return Err(Failure::Permanent(format!(
            "usage.recorded of usage {} has no overage ({})",
            data.usage_id, data.overage
        )));
    }
    let key = ledger_key(&data.usage_id);
    if deps.usage.record(&key).await?.is_some() {
        tracing::info!(usage_id = %data.usage_id, "overage already reported");
        return Ok(());
    }
    let customer = match data.stripe_customer_id.clone() {
        Some(customer) => customer,
        None => deps
            .customers
            .get(&data.user_id)
            .await?
            .and_then(|link| link.customer)
            .ok_or_else(|| {
                Failure::Permanent(format!(
                    "no Stripe customer for user {} to bill overage to",
                    data.user_id
                ))
            })?,
    };
    // When the usage happened (the meter's period is decided by it), never ahead of now.
    let at = occurred_at.unwrap_or(now);
    let timestamp = UnixTime::from_secs(at.secs().min(now.secs() + MAX_AHEAD_SECS));
    let meter_event = MeterEvent {
        event_name: meter_event_name(&data.feature),
        identifier: meter_identifier(&data.usage_id),
        customer,
        value: data.overage,
        timestamp,
    };
    let reported = deps.meter.report(&meter_event).await?;
    let row = Record {
        key,
        user: data.user_id.clone(),
        fingerprint: meter_event.identifier.clone(),
        response: String::new(),
        credits: 0,
        reason: format!("overage of {} reported to Stripe", data.feature),
        at: now,
        expires_at: Some(UnixTime::from_secs(now.secs() + LEDGER_RETENTION_SECS)),
    };
    // The row sits next to the usage's counter, written with a change of nothing.
    let counter = CounterKey {
        user: data.user_id.clone(),
        name: format!("{}#{}", data.feature, data.period),
        expires_at: None,
    };
    match deps
        .usage
        .write(&counter, &Change::none(), Some(&row))
        .await?
    {
        // Conflict: the row exists (a concurrent delivery wrote it). Either way it is recorded.
        WriteOutcome::Applied | WriteOutcome::Conflict => {}
    }
    entitle_core::metrics::count("OverageReported", data.overage as u64);
    tracing::info!(
        user_id = %data.user_id,
        usage_id = %data.usage_id,
        identifier = %meter_event.identifier,
        value = data.overage,
        resend = reported == Reported::AlreadyRecorded,
        "overage reported to Stripe"
    );
    Ok(())
}
