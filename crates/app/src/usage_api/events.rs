//! `usage.limit_reached` and `credits.low` on the billing-events topic. Each is claimed on its counter first
//! (a flag set by one conditional write), so it goes out once per user, limit and period; a failed publish
//! gives the claim back so a later request announces it. `usage.recorded` (overage) goes out once per usage.
use crate::usage_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::event::{
    BillingEvent, EventData, EventType, Source, UsageData, UsageRecordedData,
};
use entitle_domain::ids::{EventId, SubjectId};
use entitle_domain::ports::usage::{CounterKey, Flag, Record};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::Guard;
use entitle_domain::usage::Change;

pub struct Announcement<'a> {
    pub flag: Flag,
    pub counter: &'a CounterKey,
    pub user: &'a SubjectId,
    pub data: UsageData,
}

pub async fn announce(deps: &Deps, a: Announcement<'_>, now: UnixTime) {
    match deps.store.set_flag(a.counter, a.flag).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "claiming a usage announcement failed");
            return;
        }
    }
    let event_type = match a.flag {
        Flag::LimitReached => EventType::UsageLimitReached,
        Flag::CreditsLow => EventType::CreditsLow,
    };
    let id = format!(
        "{}-{}-{}-{}",
        event_type.as_str().replace('.', "-"),
        a.user,
        a.counter.name.replace(['#', '@'], "-"),
        now.secs()
    );
    let Ok(id) = EventId::parse(id) else {
        return;
    };
    let mut event = BillingEvent::occurred(
        id,
        Source::Entitle,
        event_type,
        now,
        EventData::Usage(a.data),
    );
    event.set_subject(a.user);
    if let Err(e) = deps.publisher.publish(&event).await {
        tracing::warn!(error = %e, "publishing a usage announcement failed; it will be retried");
        let _ = deps.store.clear_flag(a.counter, a.flag).await;
    }
}

/// The overage part of one usage, to announce as `usage.recorded`.
pub struct Recorded<'a> {
    pub counter: &'a CounterKey,
    pub user: &'a SubjectId,
    pub feature: &'a str,
    pub usage_id: &'a str,
    pub overage: i64,
    /// When the usage happened (the first request's time, on a replay too).
    pub at: UnixTime,
}

fn published_key(usage_id: &str) -> String {
    format!("published#{usage_id}")
}

/// `usage.recorded`, exactly once per usage: the event's id derives from the usage id (a republished copy is
/// the same event, and the processor applies an event once), and once it is out a `published#<usageId>`
/// record says so, so a replay of the request publishes only what never went out. `Err` when it did not go
/// out: the caller answers 5xx and the client's retry (same idempotency key) publishes it.
pub async fn recorded(deps: &Deps, r: Recorded<'_>) -> Result<(), ApiError> {
    let marker = published_key(r.usage_id);
    match deps.store.record(&marker).await {
        Ok(Some(_)) => return Ok(()),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "reading the usage.recorded marker failed");
            return Err(ApiError::unavailable());
        }
    }
    let period = r
        .counter
        .name
        .split_once('#')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    let id = EventId::parse(format!("usage-recorded-{}", r.usage_id)).map_err(|e| {
        tracing::error!(error = %e, "a usage id makes no event id");
        ApiError::unavailable()
    })?;
    let data = UsageRecordedData {
        user_id: r.user.clone(),
        stripe_customer_id: None,
        feature: r.feature.to_owned(),
        usage_id: r.usage_id.to_owned(),
        overage: r.overage,
        period,
    };
    let mut event = BillingEvent::occurred(
        id,
        Source::Entitle,
        EventType::UsageRecorded,
        r.at,
        EventData::Recorded(data),
    );
    event.set_subject(r.user);
    if let Err(e) = deps.publisher.publish(&event).await {
        tracing::error!(error = %e, "publishing usage.recorded failed; the client's retry publishes it");
        return Err(ApiError::unavailable());
    }
    let mark = Record {
        key: marker,
        user: r.user.clone(),
        fingerprint: String::new(),
        response: String::new(),
        credits: 0,
        reason: "published".into(),
        at: r.at,
        expires_at: Some(UnixTime::from_secs(r.at.secs() + MARKER_RETENTION_SECS)),
    };
    let nothing = Change {
        value: 0,
        reserved: 0,
        spent: 0,
        guard: Guard::None,
        add_hold: None,
        remove_holds: Vec::new(),
    };
    if let Err(e) = deps.store.write(r.counter, &nothing, Some(&mark)).await {
        // It went out; a replay would publish the same event again, which the processor applies once.
        tracing::warn!(error = %e, "marking usage.recorded as published failed");
    }
    Ok(())
}

/// As long as the idempotency records whose replays it answers.
const MARKER_RETENTION_SECS: i64 = 72 * 3600;
