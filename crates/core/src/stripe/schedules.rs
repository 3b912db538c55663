//! A plan change at the period end, through Stripe's subscription schedules: the schedule is made from the
//! subscription (`from_subscription`), its phases rewritten to the current phase (ending with the period)
//! and a phase on the new price, then it releases the subscription (`end_behavior: release`). async-stripe's
//! typed requests; the answers are read into the few fields we use.
use super::client::{idempotent, path_segment, StripeClient};
use super::objects::expandable_id;
use entitle_domain::ports::{PeriodEndChange, PhaseItem, PhasePrice, ScheduledChange, StripeError};
use miniserde::json::Value;
use stripe_billing::subscription_schedule::{
    CreateSubscriptionSchedule, ReleaseSubscriptionSchedule, RetrieveSubscriptionSchedule,
    UpdateSubscriptionSchedule, UpdateSubscriptionSchedulePhases,
    UpdateSubscriptionSchedulePhasesEndDate, UpdateSubscriptionSchedulePhasesItems,
    UpdateSubscriptionSchedulePhasesStartDate, UpdateSubscriptionScheduleProrationBehavior,
};
use stripe_client_core::StripeRequest;
use stripe_shared::{SubscriptionScheduleEndBehavior, SubscriptionScheduleId};

/// The part of a `subscription_schedule` we read.
#[derive(miniserde::Deserialize)]
struct Schedule {
    id: String,
    status: String,
    current_phase: Option<Bounds>,
    phases: Vec<Phase>,
}

#[derive(miniserde::Deserialize)]
struct Bounds {
    start_date: i64,
    end_date: i64,
}

#[derive(miniserde::Deserialize)]
struct Phase {
    start_date: i64,
    items: Vec<ScheduleItem>,
}

#[derive(miniserde::Deserialize)]
struct ScheduleItem {
    /// A price id, or the price itself when expanded.
    price: Value,
    quantity: Option<u64>,
}

fn schedule_id(id: &str) -> SubscriptionScheduleId {
    SubscriptionScheduleId::from(path_segment(id))
}

/// `(id, lookup key)` of a phase item's price, expanded or not.
fn price_of(item: &ScheduleItem) -> Option<(String, Option<String>)> {
    let lookup_key = match &item.price {
        Value::Object(price) => match price.get("lookup_key") {
            Some(Value::String(key)) => Some(key.clone()),
            _ => None,
        },
        _ => None,
    };
    Some((expandable_id(&item.price)?.to_owned(), lookup_key))
}

/// The phase after the current one: the change the schedule will make.
fn next_change(schedule: &Schedule) -> Option<ScheduledChange> {
    if !matches!(schedule.status.as_str(), "not_started" | "active") {
        return None;
    }
    let current_end = schedule.current_phase.as_ref()?.end_date;
    let next = schedule
        .phases
        .iter()
        .find(|phase| phase.start_date >= current_end)?;
    let items = next
        .items
        .iter()
        .filter_map(|item| {
            let (price_id, lookup_key) = price_of(item)?;
            Some(PhasePrice {
                price_id,
                lookup_key,
                quantity: item.quantity,
            })
        })
        .collect::<Vec<_>>();
    (!items.is_empty()).then_some(ScheduledChange {
        items,
        at: next.start_date,
    })
}

/// A phase on `items`, every one with its quantity (none for a metered price).
fn phase(items: &[PhaseItem]) -> UpdateSubscriptionSchedulePhases {
    UpdateSubscriptionSchedulePhases::new(
        items
            .iter()
            .map(|phase_item| {
                let mut item = UpdateSubscriptionSchedulePhasesItems::new();
                item.price = Some(phase_item.price.clone());
                item.quantity = phase_item.quantity;
                item
            })
            .collect::<Vec<_>>(),
    )
}

impl StripeClient {
    pub(crate) async fn next_scheduled_change(
        &self,
        schedule: &str,
    ) -> Result<Option<ScheduledChange>, StripeError> {
        let schedule: Schedule = RetrieveSubscriptionSchedule::new(schedule_id(schedule))
            .expand(vec!["phases.items.price".to_owned()])
            .build()
            .customize()
            .send(self)
            .await?;
        Ok(next_change(&schedule))
    }

    pub(crate) async fn schedule_change_at_period_end(
        &self,
        change: &PeriodEndChange<'_>,
        idempotency_key: &str,
    ) -> Result<ScheduledChange, StripeError> {
        let created = change.schedule.is_none();
        let schedule: Schedule = match change.schedule {
            Some(id) => {
                RetrieveSubscriptionSchedule::new(schedule_id(id))
                    .build()
                    .customize()
                    .send(self)
                    .await?
            }
            None => {
                let create = || {
                    CreateSubscriptionSchedule::new()
                        .from_subscription(change.subscription)
                        .build()
                        .customize()
                };
                let made: Schedule = idempotent(create(), &format!("{idempotency_key}/schedule"))?
                    .send(self)
                    .await?;
                // A replay answers the first attempt's schedule as it was then: read it as it is now. An
                // attempt whose phases failed released its schedule (below), which is spent: this attempt
                // makes its own.
                let now: Schedule = RetrieveSubscriptionSchedule::new(schedule_id(&made.id))
                    .build()
                    .customize()
                    .send(self)
                    .await?;
                if now.status == "released" {
                    idempotent(
                        create(),
                        &format!("{idempotency_key}/schedule/after-{}", made.id),
                    )?
                    .send(self)
                    .await?
                } else {
                    now
                }
            }
        };
        let current = schedule.current_phase.as_ref().ok_or_else(|| {
            StripeError::Unavailable(
                format!("subscription schedule {} has no current phase", schedule.id).into(),
            )
        })?;
        let mut now = phase(&change.current);
        now.start_date = Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(
            current.start_date,
        ));
        now.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(
            current.end_date,
        ));
        let next = phase(&change.next);
        let update = UpdateSubscriptionSchedule::new(schedule_id(&schedule.id))
            .phases(vec![now, next])
            .end_behavior(SubscriptionScheduleEndBehavior::Release)
            .proration_behavior(UpdateSubscriptionScheduleProrationBehavior::None)
            .expand(vec!["phases.items.price".to_owned()])
            .build()
            .customize();
        let updated: Schedule = match idempotent(update, &format!("{idempotency_key}/phases"))?
            .send(self)
            .await
        {
            Ok(updated) => updated,
            Err(error) => {
                // A schedule made here but left on its one phase would manage the subscription for nothing
                // and block every later cancel: released, so Stripe is as it was before the request.
                if created {
                    if let Err(undo) = self
                        .release(&schedule.id, &format!("{idempotency_key}/undo"))
                        .await
                    {
                        tracing::error!(schedule = %schedule.id, error = %undo, "could not release the schedule a failed change made");
                    }
                }
                return Err(error.into());
            }
        };
        next_change(&updated).ok_or_else(|| {
            StripeError::Unavailable(
                format!("subscription schedule {} shows no next phase", updated.id).into(),
            )
        })
    }

    pub(crate) async fn release(
        &self,
        schedule: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let release = ReleaseSubscriptionSchedule::new(schedule_id(schedule))
            .build()
            .customize::<Value>();
        idempotent(release, idempotency_key)?.send(self).await?;
        Ok(())
    }
}
