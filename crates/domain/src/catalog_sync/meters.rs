//! Stripe billing meters: one per limit some plan bills overage of (event name `entitle_<limit>`). Meters
//! cannot be deleted: one the catalog dropped is deactivated, and reactivated if it comes back.
use std::collections::BTreeMap;

use super::{feature_name, Action, Remote, RemoteMeter, SyncPlan, METER_PREFIX};
use crate::plans::{meter_event_name, OveragePrice};

/// The meters the overage prices bill through: event name → limit.
pub(super) fn wanted<'a>(overage: &[OveragePrice<'a>]) -> BTreeMap<String, &'a str> {
    overage
        .iter()
        .map(|o| (meter_event_name(o.limit), o.limit))
        .collect()
}

/// The meter of `event_name`: an active one wins over a deactivated one with the same event name.
pub(super) fn meter_of<'r>(remote: &'r Remote, event_name: &str) -> Option<&'r RemoteMeter> {
    let mut named: Vec<&RemoteMeter> = remote
        .meters
        .iter()
        .filter(|m| m.event_name == event_name)
        .collect();
    named.sort_by_key(|m| !m.active);
    named.first().copied()
}

/// A wanted meter is created when missing, reactivated when it was deactivated.
pub(super) fn create_or_reactivate(
    wanted: &BTreeMap<String, &str>,
    remote: &Remote,
    plan: &mut SyncPlan,
) {
    for (event_name, limit) in wanted {
        match meter_of(remote, event_name) {
            None => plan.actions.push(Action::CreateMeter {
                event_name: event_name.clone(),
                display_name: feature_name(limit),
            }),
            Some(m) if !m.active => plan.actions.push(Action::ReactivateMeter {
                id: m.id.clone(),
                event_name: event_name.clone(),
            }),
            Some(_) => {}
        }
    }
}

/// An active meter of Entitle's (its event name starts with `entitle_`) no longer wanted is deactivated.
pub(super) fn deactivate_dropped(
    wanted: &BTreeMap<String, &str>,
    remote: &Remote,
    plan: &mut SyncPlan,
) {
    for meter in remote.meters.iter().filter(|m| m.active) {
        if meter.event_name.starts_with(METER_PREFIX) && !wanted.contains_key(&meter.event_name) {
            plan.actions.push(Action::DeactivateMeter {
                id: meter.id.clone(),
                event_name: meter.event_name.clone(),
            });
        }
    }
}
