//! `usage.limit_reached` and `credits.low` on the billing-events topic. Each is claimed on its counter first
//! (a flag set by one conditional write), so it goes out once per user, limit and period; a failed publish
//! gives the claim back so a later request announces it.
use crate::deps::Deps;
use entitle_domain::event::{BillingEvent, EventData, EventType, Source, UsageData};
use entitle_domain::ids::{EventId, UserId};
use entitle_domain::ports::usage::{CounterKey, Flag};
use entitle_domain::time::UnixTime;

pub struct Announcement<'a> {
    pub flag: Flag,
    pub counter: &'a CounterKey,
    pub user: &'a UserId,
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
        a.counter.name.replace('#', "-"),
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
    event.user_id = Some(a.user.clone());
    if let Err(e) = deps.publisher.publish(&event).await {
        tracing::warn!(error = %e, "publishing a usage announcement failed; it will be retried");
        let _ = deps.store.clear_flag(a.counter, a.flag).await;
    }
}
