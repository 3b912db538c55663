//! What arrives on the entitlement processor's queue, typed: the billing-events topic's [`BillingEvent`]s
//! (SNS raw delivery) and the processor's own work messages (a full reconcile's fan-out), in one envelope
//! (docs/events.md). The processor, `entitle dlq redrive` and the fan-out that writes work messages share
//! these types, so nothing downstream matches on type names or reads `data` by key.
use crate::event::{BillingEvent, RawBillingEvent, Source, SCHEMA_VERSION};
use crate::ids::SubjectId;
use crate::ports::LapseCursor;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// One message of the processor's queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    /// A billing event from the topic (Stripe's, Clerk's, usage-api's, our own `entitlements.changed`).
    Event(Box<BillingEvent>),
    /// The processor's own work.
    Work(WorkMessage),
    /// A type this version does not know (a newer producer's): read, applied as nothing.
    Unknown { id: String, event_type: String },
}

/// A work message: the envelope's id, time and user, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkMessage {
    pub id: String,
    pub occurred_at: String,
    pub user_id: Option<SubjectId>,
    pub work: Work,
}

/// The processor's own work, by the envelope's `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// `reconcile.requested`: rebuild the envelope's user from Stripe's current state.
    ReconcileRequested(ReconcileRequested),
    /// `reconcile.page`: queue the next page of a full reconcile.
    ReconcilePage(ReconcilePage),
    /// `sweep.page`: go on with an hourly sweep that stopped before its invocation's deadline.
    SweepPage(SweepPage),
}

impl Work {
    pub fn type_name(&self) -> &'static str {
        match self {
            Work::ReconcileRequested(_) => RECONCILE_REQUESTED,
            Work::ReconcilePage(_) => RECONCILE_PAGE,
            Work::SweepPage(_) => SWEEP_PAGE,
        }
    }
}

const RECONCILE_REQUESTED: &str = "reconcile.requested";
const RECONCILE_PAGE: &str = "reconcile.page";
const SWEEP_PAGE: &str = "sweep.page";

/// `reconcile.requested`'s `data`: the run it belongs to (absent when queued by hand).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRequested {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// `reconcile.page`'s `data`: the run, the cursor, how many users earlier pages queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilePage {
    pub run: String,
    pub after: Option<SubjectId>,
    #[serde(default)]
    pub queued: u64,
}

/// `sweep.page`'s `data`: the sweep's bound (the rows that lapse by `until`, RFC 3339: the instant the sweep
/// started) and where in the lapse index it goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepPage {
    pub until: String,
    pub from: LapseCursor,
}

impl QueueMessage {
    /// The envelope's id and type, for logs and the DLQ's listing.
    pub fn id_and_type(&self) -> (&str, &str) {
        match self {
            QueueMessage::Event(event) => (event.id.as_str(), event.event_type.as_str()),
            QueueMessage::Work(work) => (work.id.as_str(), work.work.type_name()),
            QueueMessage::Unknown { id, event_type } => (id, event_type),
        }
    }

    /// When the envelope says it happened.
    pub fn occurred_at(&self) -> Option<UnixTime> {
        match self {
            QueueMessage::Event(event) => UnixTime::parse_rfc3339(&event.occurred_at),
            QueueMessage::Work(work) => UnixTime::parse_rfc3339(&work.occurred_at),
            QueueMessage::Unknown { .. } => None,
        }
    }
}

impl WorkMessage {
    /// A user's reconcile of the full reconcile `run`.
    pub fn reconcile_requested(run: &str, user: &SubjectId, at: UnixTime) -> Self {
        Self {
            id: format!("reconcile-{run}-{user}"),
            occurred_at: at.to_rfc3339(),
            user_id: Some(user.clone()),
            work: Work::ReconcileRequested(ReconcileRequested {
                run: Some(run.to_owned()),
            }),
        }
    }

    /// The page of the full reconcile `run` after `after`.
    pub fn reconcile_page(run: &str, after: &SubjectId, queued: u64, at: UnixTime) -> Self {
        Self {
            id: format!("reconcile-page-{run}-{after}"),
            occurred_at: at.to_rfc3339(),
            user_id: None,
            work: Work::ReconcilePage(ReconcilePage {
                run: run.to_owned(),
                after: Some(after.clone()),
                queued,
            }),
        }
    }
}

impl WorkMessage {
    /// The rest of the sweep bounded by `until`, from `from`.
    pub fn sweep_page(until: UnixTime, from: &LapseCursor, at: UnixTime) -> Self {
        let after = from
            .after
            .as_ref()
            .map_or_else(|| "start".to_owned(), |a| format!("{}-{}", a.at, a.user_id));
        Self {
            id: format!("sweep-page-{}-{}-{after}", until.secs(), from.shard),
            occurred_at: at.to_rfc3339(),
            user_id: None,
            work: Work::SweepPage(SweepPage {
                until: until.to_rfc3339(),
                from: from.clone(),
            }),
        }
    }
}

/// The envelope as written: the billing event's, `source` always `entitle`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkEnvelope<'a, D: Serialize> {
    schema_version: u32,
    id: &'a str,
    source: Source,
    #[serde(rename = "type")]
    event_type: &'static str,
    occurred_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a SubjectId>,
    data: &'a D,
}

impl Serialize for WorkMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn envelope<'a, D: Serialize>(m: &'a WorkMessage, data: &'a D) -> WorkEnvelope<'a, D> {
            WorkEnvelope {
                schema_version: SCHEMA_VERSION,
                id: &m.id,
                source: Source::Entitle,
                event_type: m.work.type_name(),
                occurred_at: &m.occurred_at,
                user_id: m.user_id.as_ref(),
                data,
            }
        }
        match &self.work {
            Work::ReconcileRequested(data) => envelope(self, data).serialize(serializer),
            Work::ReconcilePage(data) => envelope(self, data).serialize(serializer),
            Work::SweepPage(data) => envelope(self, data).serialize(serializer),
        }
    }
}

/// The envelope as read: `type` decides what the rest is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyEnvelope {
    #[serde(rename = "type")]
    event_type: String,
    id: String,
}

impl<'de> Deserialize<'de> for QueueMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let head = AnyEnvelope::deserialize(&value).map_err(D::Error::custom)?;
        let work = match head.event_type.as_str() {
            kind @ (RECONCILE_REQUESTED | RECONCILE_PAGE | SWEEP_PAGE) => Some(kind),
            _ => None,
        };
        if let Some(kind) = work {
            let raw = RawWork::deserialize(value).map_err(D::Error::custom)?;
            let work = match kind {
                RECONCILE_REQUESTED => Work::ReconcileRequested(
                    Option::<ReconcileRequested>::deserialize(raw.data)
                        .map_err(D::Error::custom)?
                        .unwrap_or_default(),
                ),
                RECONCILE_PAGE => Work::ReconcilePage(
                    ReconcilePage::deserialize(raw.data).map_err(D::Error::custom)?,
                ),
                _ => Work::SweepPage(SweepPage::deserialize(raw.data).map_err(D::Error::custom)?),
            };
            return Ok(QueueMessage::Work(WorkMessage {
                id: raw.id,
                occurred_at: raw.occurred_at,
                user_id: raw.user_id,
                work,
            }));
        }
        // A type the billing-events contract does not name: a newer producer's event.
        if serde_json::from_value::<crate::event::EventType>(serde_json::Value::String(
            head.event_type.clone(),
        ))
        .is_err()
        {
            return Ok(QueueMessage::Unknown {
                id: head.id,
                event_type: head.event_type,
            });
        }
        let raw = RawBillingEvent::deserialize(value).map_err(D::Error::custom)?;
        let event = BillingEvent::try_from(raw).map_err(D::Error::custom)?;
        Ok(QueueMessage::Event(Box::new(event)))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWork {
    id: String,
    occurred_at: String,
    #[serde(default)]
    user_id: Option<SubjectId>,
    #[serde(default)]
    data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventData;

    #[test]
    fn a_work_message_reads_back_as_what_was_written() {
        let at = UnixTime::from_secs(1_795_341_600);
        let user = SubjectId::parse("user_fan000").unwrap();
        for message in [
            WorkMessage::reconcile_requested("17", &user, at),
            WorkMessage::reconcile_page("17", &user, 100, at),
            WorkMessage::sweep_page(at, &LapseCursor::default(), at),
            WorkMessage::sweep_page(
                at,
                &LapseCursor {
                    shard: 3,
                    after: Some(crate::ports::LapseKey {
                        user_id: user.clone(),
                        at: at.secs() - 60,
                    }),
                },
                at,
            ),
        ] {
            let json = serde_json::to_string(&message).unwrap();
            assert!(json.contains(r#""source":"entitle""#), "{json}");
            let read: QueueMessage = serde_json::from_str(&json).unwrap();
            assert_eq!(read, QueueMessage::Work(message));
        }
    }

    #[test]
    fn events_are_read_by_their_type_and_unknown_types_are_kept_apart() {
        let event = r#"{"schemaVersion":1,"id":"evt_1","source":"stripe","type":"invoice.paid",
            "occurredAt":"2026-11-22T10:00:00Z","data":{"invoiceId":"in_1","subscriptionId":"sub_1"}}"#;
        match serde_json::from_str::<QueueMessage>(event).unwrap() {
            QueueMessage::Event(e) => {
                assert!(
                    matches!(e.data, EventData::Invoice(ref i) if i.subscription_id.as_deref() == Some("sub_1"))
                )
            }
            other => panic!("not an event: {other:?}"),
        }
        let newer = r#"{"id":"evt_2","type":"subscription.paused","data":{}}"#;
        assert_eq!(
            serde_json::from_str::<QueueMessage>(newer).unwrap(),
            QueueMessage::Unknown {
                id: "evt_2".into(),
                event_type: "subscription.paused".into()
            }
        );
        // A known type whose data does not fit is an error (dead-lettered with the reason), not "unknown".
        let broken = event.replace(r#""invoiceId":"in_1","#, "");
        assert!(serde_json::from_str::<QueueMessage>(&broken).is_err());
        assert!(serde_json::from_str::<QueueMessage>(
            r#"{"type":"reconcile.page","id":"x","occurredAt":"t","data":{}}"#
        )
        .is_err());
    }
}

/// The delays (seconds) that pace a page of `users` reconciles at `per_second` users a second: user `i` after
/// `i / per_second` s, and the next page after the whole page's time — so a full reconcile calls Stripe at a
/// steady rate instead of in one burst. `per_second = 0`: unpaced (every delay 0). Capped at 900 s (SQS).
pub fn paced(users: usize, per_second: u32) -> (Vec<u32>, u32) {
    if per_second == 0 {
        return (vec![0; users], 0);
    }
    let delays = (0..users)
        .map(|i| ((i as u64 / u64::from(per_second)) as u32).min(900))
        .collect();
    let page = (users as u64).div_ceil(u64::from(per_second)).clamp(1, 900) as u32;
    (delays, page)
}

#[cfg(test)]
mod pacing_tests {
    use super::paced;

    #[test]
    fn a_page_is_spread_over_its_time_and_the_next_one_waits_for_it() {
        let (delays, next) = paced(100, 5);
        assert_eq!(&delays[..6], &[0, 0, 0, 0, 0, 1]);
        assert_eq!(delays[99], 19);
        assert_eq!(next, 20);
        // Never more than `per_second` users in any one second.
        for second in 0..20 {
            assert_eq!(delays.iter().filter(|d| **d == second).count(), 5);
        }
        assert_eq!(paced(3, 0), (vec![0, 0, 0], 0));
        assert_eq!(paced(0, 5), (vec![], 1));
        assert_eq!(paced(100, 1).0[99], 99);
        assert_eq!(paced(10_000, 1).1, 900);
    }
}
