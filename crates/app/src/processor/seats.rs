//! An organization's seats: recounted from Clerk whenever a membership or invitation event prompts it —
//! never incremented per event. Each recount reads the stored count and its version first, then Clerk's
//! count (the lists' `total_count`), and writes it only if the version is still the one it read (a
//! compare-and-set; on a conflict it starts over). So the handler of the last membership change, which
//! reads Clerk after that change, always leaves Clerk's count stored, whatever the order and number of
//! deliveries and however the recounts race — no clocks involved. A changed count is announced once per
//! version as `seats.changed`.
use super::deps::Deps;
use super::failure::Failure;
use entitle_domain::event::{BillingEvent, EventData, EventType, SeatsData, Source};
use entitle_domain::ids::{EventId, SubjectId};
use entitle_domain::plans::Plan;
use entitle_domain::ports::usage::CounterKey;
use entitle_domain::time::UnixTime;

/// The counter usage-api's `POST /v1/check {"feature": "seats"}` reads: the seats taken now.
pub const SEATS: &str = "seats";

/// Compare-and-set attempts before the message is retried later (each attempt lost to another recount).
const ATTEMPTS: u32 = 5;

/// What a recount left stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recounted {
    pub seats: u64,
    /// The count this recount replaced; `None` when it found Clerk's count already stored.
    pub previous: Option<u64>,
    /// The stored count's version (how many times it changed).
    pub version: i64,
}

/// Recounts `org`'s seats (members, plus pending invitations when its plan counts them) and stores them.
pub async fn recount(deps: &Deps, org: &SubjectId, now: UnixTime) -> Result<Recounted, Failure> {
    let Some(org_id) = org.organization() else {
        return Err(Failure::Permanent(format!(
            "{org} is not an organization: it has no seats"
        )));
    };
    let plan = deps
        .store
        .load(org)
        .await?
        .and_then(|stored| deps.catalog.plan(&stored.entitlements.plan).cloned());
    let invitations = plan
        .as_ref()
        .and_then(|p| p.seats.as_ref())
        .is_some_and(|s| s.count_invitations);
    let counter = CounterKey {
        user: org.clone(),
        name: SEATS.into(),
        expires_at: None,
    };
    for _ in 0..ATTEMPTS {
        // The stored version first, Clerk second: a write on this version is then never older than Clerk.
        let (stored, version) = deps.usage.counted(&counter).await?;
        let seats = deps
            .members
            .count(&org_id, invitations)
            .await
            .map_err(Failure::Clerk)?;
        let value = i64::try_from(seats).unwrap_or(i64::MAX);
        if value == stored && version > 0 {
            return Ok(Recounted {
                seats,
                previous: None,
                version,
            });
        }
        if deps.usage.set_count(&counter, value, version).await? {
            let recounted = Recounted {
                seats,
                previous: Some(u64::try_from(stored).unwrap_or(0)),
                version: version + 1,
            };
            if value != stored {
                announce(deps, org, &recounted, plan.as_ref(), now).await?;
            }
            return Ok(recounted);
        }
    }
    Err(Failure::Contention(
        "the seat count kept changing under the recount",
    ))
}

async fn announce(
    deps: &Deps,
    org: &SubjectId,
    recounted: &Recounted,
    plan: Option<&Plan>,
    now: UnixTime,
) -> Result<(), Failure> {
    // One id per version: a retried message that finds its count stored announces nothing more.
    let id = EventId::parse(format!("seats-{org}-v{}", recounted.version))
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    let mut event = BillingEvent::occurred(
        id,
        Source::Entitle,
        EventType::SeatsChanged,
        now,
        EventData::Seats(SeatsData {
            seats: recounted.seats,
            previous: recounted.previous,
            version: recounted.version,
            billed_quantity: plan
                .and_then(|p| p.seats.as_ref())
                .map(|s| s.billed(recounted.seats)),
        }),
    );
    event.user_id = Some(org.clone());
    deps.publisher
        .publish(&event)
        .await
        .map_err(Failure::Publish)
}
