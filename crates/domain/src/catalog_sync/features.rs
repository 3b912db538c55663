//! Stripe Entitlements features: one per catalog feature (lookup key = the feature name), attached to the
//! product of every plan that grants it.
use std::collections::{BTreeMap, BTreeSet};

use super::products::product_of;
use super::{feature_name, Action, Remote, Sold, SyncPlan};
use crate::plans::PlanCatalog;

/// Every feature some plan grants.
pub(super) fn wanted<'a>(sold: &[Sold<'a>]) -> BTreeSet<&'a str> {
    sold.iter()
        .flat_map(|s| s.features.iter().copied())
        .collect()
}

/// A feature the catalog grants is created when Stripe lacks it (named as the catalog's `[features]` names it,
/// else after its id), reactivated when it was archived.
pub(super) fn create_or_reactivate(
    catalog: &PlanCatalog,
    wanted: &BTreeSet<&str>,
    remote: &Remote,
    plan: &mut SyncPlan,
) {
    for feature in wanted {
        match remote.features.iter().find(|f| f.lookup_key == *feature) {
            None => plan.actions.push(Action::CreateFeature {
                lookup_key: (*feature).to_owned(),
                name: catalog
                    .feature_words()
                    .get(*feature)
                    .map_or_else(|| feature_name(feature), |w| w.name.clone()),
            }),
            Some(f) if !f.active => plan.actions.push(Action::ReactivateFeature {
                id: f.id.clone(),
                lookup_key: f.lookup_key.clone(),
            }),
            Some(_) => {}
        }
    }
}

/// Feature attachments of each product: the features its plan grants attached, the others detached.
pub(super) fn attach_and_detach(sold: &[Sold<'_>], remote: &Remote, plan: &mut SyncPlan) {
    for s in sold {
        let attached: BTreeMap<&str, &str> = product_of(remote, s.owner)
            .map(|p| {
                p.features
                    .iter()
                    .map(|(a, f)| (f.as_str(), a.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        for feature in &s.features {
            if !attached.contains_key(feature) {
                plan.actions.push(Action::AttachFeature {
                    owner: s.owner.to_owned(),
                    feature: (*feature).to_owned(),
                });
            }
        }
        if let Some(product) = product_of(remote, s.owner) {
            for (feature, attachment) in &attached {
                if !s.features.contains(feature) {
                    plan.actions.push(Action::DetachFeature {
                        product: product.id.clone(),
                        owner: s.owner.to_owned(),
                        attachment: (*attachment).to_owned(),
                        feature: (*feature).to_owned(),
                    });
                }
            }
        }
    }
}

/// An active feature of Entitle's that no plan grants any more is archived.
pub(super) fn archive_dropped(wanted: &BTreeSet<&str>, remote: &Remote, plan: &mut SyncPlan) {
    for feature in remote.features.iter().filter(|f| f.active && f.entitle) {
        if !wanted.contains(feature.lookup_key.as_str()) {
            plan.actions.push(Action::ArchiveFeature {
                id: feature.id.clone(),
                lookup_key: feature.lookup_key.clone(),
            });
        }
    }
}
