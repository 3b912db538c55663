//! The changes the sync makes in Stripe, and how each reads to a human.
use crate::plans::Interval;
use serde::Serialize;

/// One change to make in Stripe. Catalog ids (`owner`) name the product of objects not created yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateFeature {
        lookup_key: String,
        name: String,
    },
    ReactivateFeature {
        id: String,
        lookup_key: String,
    },
    CreateProduct {
        owner: String,
        name: String,
    },
    UpdateProduct {
        id: String,
        owner: String,
        name: String,
        reactivate: bool,
    },
    CreatePrice {
        owner: String,
        lookup_key: String,
        amount: i64,
        currency: String,
        interval: Option<Interval>,
        /// The price that holds the lookup key now, archived after the new one takes it.
        replaces: Option<String>,
    },
    ArchivePrice {
        id: String,
        lookup_key: Option<String>,
        reason: String,
    },
    AttachFeature {
        owner: String,
        feature: String,
    },
    DetachFeature {
        product: String,
        owner: String,
        attachment: String,
        feature: String,
    },
    ArchiveProduct {
        id: String,
        owner: String,
    },
    ArchiveFeature {
        id: String,
        lookup_key: String,
    },
    CreateMeter {
        event_name: String,
        display_name: String,
    },
    ReactivateMeter {
        id: String,
        event_name: String,
    },
    DeactivateMeter {
        id: String,
        event_name: String,
    },
    /// A metered price on the plan's product, backed by the meter of `event_name`.
    CreateMeteredPrice {
        owner: String,
        limit: String,
        event_name: String,
        lookup_key: String,
        unit_amount: i64,
        per: u64,
        currency: String,
        interval: Interval,
        /// The price that holds the lookup key now, archived after the new one takes it.
        replaces: Option<String>,
    },
}

impl Action {
    /// One line for humans: `+ price pro_monthly (professional): 19900 usd / month`.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateFeature { lookup_key, .. } => format!("+ feature {lookup_key}"),
            Action::ReactivateFeature { lookup_key, .. } => {
                format!("~ feature {lookup_key}: reactivate")
            }
            Action::CreateProduct { owner, name } => format!("+ product {owner} ({name})"),
            Action::UpdateProduct {
                owner,
                name,
                reactivate,
                ..
            } => format!(
                "~ product {owner}: {}name {name:?}",
                if *reactivate { "reactivate, " } else { "" }
            ),
            Action::CreatePrice {
                owner,
                lookup_key,
                amount,
                currency,
                interval: i,
                replaces,
            } => format!(
                "+ price {lookup_key} ({owner}): {amount} {currency}{}{}",
                interval(i),
                replacing(replaces)
            ),
            Action::ArchivePrice {
                id,
                lookup_key,
                reason,
            } => format!(
                "- price {} ({id}): archive, {reason}",
                lookup_key.as_deref().unwrap_or("-")
            ),
            Action::AttachFeature { owner, feature } => {
                format!("+ feature {feature} on product {owner}")
            }
            Action::DetachFeature { owner, feature, .. } => {
                format!("- feature {feature} off product {owner}")
            }
            Action::ArchiveProduct { id, owner } => {
                format!("- product {owner} ({id}): archive, no longer in the catalog")
            }
            Action::ArchiveFeature { lookup_key, .. } => {
                format!("- feature {lookup_key}: archive, no longer in the catalog")
            }
            Action::CreateMeter {
                event_name,
                display_name,
            } => format!("+ meter {event_name} ({display_name})"),
            Action::ReactivateMeter { event_name, .. } => {
                format!("~ meter {event_name}: reactivate")
            }
            Action::DeactivateMeter { id, event_name } => {
                format!("- meter {event_name} ({id}): deactivate, no longer in the catalog")
            }
            Action::CreateMeteredPrice {
                owner,
                limit,
                lookup_key,
                unit_amount,
                per,
                currency,
                interval,
                replaces,
                ..
            } => format!(
                "+ metered price {lookup_key} ({owner}): {unit_amount} {currency} per {per} {limit} beyond the plan / {}{}",
                interval.as_str(),
                replacing(replaces)
            ),
        }
    }
}

/// ` / month` for a recurring price, ` one-time` for the others.
fn interval(interval: &Option<Interval>) -> String {
    match interval {
        Some(i) => format!(
            " / {}",
            serde_json::to_value(i)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
        ),
        None => " one-time".to_owned(),
    }
}

/// `, replacing price_…` when a new price takes an old one's lookup key.
fn replacing(replaces: &Option<String>) -> String {
    replaces
        .as_ref()
        .map(|old| format!(", replacing {old}"))
        .unwrap_or_default()
}
