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
use entitle_domain::lifecycle;
use entitle_domain::plans::{Plan, PriceMatch};
use entitle_domain::ports::usage::CounterKey;
use entitle_domain::ports::{Proration, SeatQuantity};
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
    let counter = seats_counter(org);
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

/// On a seat plan, the plan subscription's seat item set to the stored seats beyond the included ones — the
/// absolute number, never ±1 — adding the item when there is none. Additions are prorated and invoiced now,
/// removals take effect without a credit (the seat stays paid until the period ends, the next invoice bills
/// fewer). Each write's idempotency key is made from the count's version and the quantities from and to, so a
/// retried message is the same Stripe write (never billed twice) and a newer count is a new one. After each
/// write the stored count is read again: a recount that landed meanwhile is billed too, so the quantity ends
/// on the newest count even when two processors race. Off a seat plan, a seat item left on the subscription
/// is set to 0. Answers the quantity billed, `None` when there is nothing to bill seats on.
pub async fn bill(deps: &Deps, org: &SubjectId) -> Result<Option<u64>, Failure> {
    let counter = seats_counter(org);
    for _ in 0..ATTEMPTS {
        let Some(stored) = deps.store.load(org).await? else {
            return Ok(None);
        };
        let Some(plan) = deps.catalog.plan(&stored.entitlements.plan) else {
            return Ok(None);
        };
        let Some(subscription) = stored.entitlements.subscription_id.as_deref() else {
            return Ok(None);
        };
        // Off a seat plan (changed in the portal, say) a seat item left behind bills nothing more.
        let seats = plan.seats.as_ref();
        let (count, version) = deps.usage.counted(&counter).await?;
        let Some(details) = deps.lifecycle.subscription(subscription).await? else {
            return Ok(None);
        };
        if !lifecycle::can_charge(&details) {
            return Ok(None);
        }
        let want = seats.map_or(0, |s| s.billed(u64::try_from(count).unwrap_or(0)));
        let seat_item = details.items.iter().find(|item| {
            deps.catalog
                .seat_price(&item.price_id, item.lookup_key.as_deref())
                .is_some()
        });
        let have = seat_item.map_or(0, |item| item.quantity);
        if seats.is_none() && seat_item.is_none() {
            return Ok(None);
        }
        if have != want {
            // The seat price of the plan item's interval (else the plan's first one).
            let interval = details.plan_item(&deps.catalog).ok().and_then(|item| {
                let reference = item.lookup_key.as_deref().unwrap_or(&item.price_id);
                match deps.catalog.price(reference) {
                    Some(PriceMatch::Subscription { price, .. }) => price.interval,
                    _ => None,
                }
            });
            let prices = seats.map(|s| s.prices.as_slice()).unwrap_or_default();
            let price = prices
                .iter()
                .find(|p| interval.is_some() && p.interval == interval)
                .or_else(|| prices.first());
            let lookup_key = price
                .and_then(|p| p.lookup_key.as_deref())
                .or_else(|| seat_item.and_then(|item| item.lookup_key.as_deref()));
            let Some(lookup_key) = lookup_key else {
                return Err(Failure::Permanent(format!(
                    "plan {} has no seat price with a lookup key to bill {org}'s seats with",
                    plan.id
                )));
            };
            let change = SeatQuantity {
                subscription,
                item_id: seat_item.map(|item| item.id.as_str()),
                lookup_key,
                quantity: want,
                proration: if want > have {
                    Proration::AlwaysInvoice
                } else {
                    Proration::None
                },
            };
            let key = format!("entitle-seats-{subscription}-v{version}-{have}-{want}");
            deps.lifecycle.set_seat_quantity(&change, &key).await?;
            tracing::info!(
                subscription_id = subscription,
                from = have,
                to = want,
                "set the seat quantity"
            );
        }
        // Billed the count of `version`: done unless a newer count landed meanwhile.
        if deps.usage.counted(&counter).await?.1 == version {
            return Ok(Some(want));
        }
    }
    Err(Failure::Contention(
        "the seat count kept changing while its quantity was billed",
    ))
}

fn seats_counter(org: &SubjectId) -> CounterKey {
    CounterKey {
        user: org.clone(),
        name: SEATS.into(),
        expires_at: None,
    }
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
    event.set_subject(org);
    deps.publisher
        .publish(&event)
        .await
        .map_err(Failure::Publish)
}
