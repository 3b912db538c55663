//! Syncing the plan catalog to Stripe (`entitle catalog plan|apply`, `entitle setup`): read what Stripe holds,
//! plan the changes per object kind (the domain's [`catalog_sync::plan`]), and apply them one by one, each
//! under an idempotency key derived from the change, so an apply retried after a failure creates nothing twice.
use entitle_core::stripe::StripeClient;
use entitle_domain::catalog_sync::{self, Action, Remote, SyncPlan};
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::StripeError;
use std::collections::BTreeMap;

/// What Stripe holds now, and the changes that would make it match the catalog.
pub struct Planned {
    pub plan: SyncPlan,
    pub remote: Remote,
}

/// Reads Stripe's products, prices, Entitlements features and billing meters, and plans the sync.
pub async fn plan(stripe: &StripeClient, catalog: &PlanCatalog) -> Result<Planned, StripeError> {
    let remote = stripe.catalog_remote().await?;
    Ok(Planned {
        plan: catalog_sync::plan(catalog, &remote),
        remote,
    })
}

/// An action that Stripe refused or that could not be sent; the ones before it were applied.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct ApplyError {
    pub action: String,
    #[source]
    pub source: StripeError,
}

/// Applies the plan's actions in order (`before_each(n, action)` is called before the n-th, from 0), and
/// answers how many were applied. The ids an action creates (a product, a feature, a meter) are known to the
/// actions after it.
pub async fn apply(
    stripe: &StripeClient,
    planned: &Planned,
    mut before_each: impl FnMut(usize, &Action),
) -> Result<usize, ApplyError> {
    let mut ids = Ids::from(&planned.remote);
    for (n, action) in planned.plan.actions.iter().enumerate() {
        before_each(n, action);
        stripe
            .apply_catalog_action(
                action,
                &mut ids.products,
                &mut ids.features,
                &mut ids.meters,
            )
            .await
            .map_err(|source| ApplyError {
                action: action.describe(),
                source,
            })?;
    }
    Ok(planned.plan.actions.len())
}

/// The Stripe ids the actions refer to, by catalog name.
struct Ids {
    /// Catalog owner (`metadata.entitle`) → product id, active products only.
    products: BTreeMap<String, String>,
    /// Feature lookup key → feature id.
    features: BTreeMap<String, String>,
    /// Meter event name → meter id; an active meter wins over a deactivated one with the same name.
    meters: BTreeMap<String, String>,
}

impl From<&Remote> for Ids {
    fn from(remote: &Remote) -> Self {
        let products = remote
            .products
            .iter()
            .filter(|p| p.active)
            .filter_map(|p| p.entitle.clone().map(|owner| (owner, p.id.clone())))
            .collect();
        let features = remote
            .features
            .iter()
            .map(|f| (f.lookup_key.clone(), f.id.clone()))
            .collect();
        let mut meters = BTreeMap::new();
        for meter in remote.meters.iter().filter(|m| !m.active) {
            meters.insert(meter.event_name.clone(), meter.id.clone());
        }
        for meter in remote.meters.iter().filter(|m| m.active) {
            meters.insert(meter.event_name.clone(), meter.id.clone());
        }
        Ids {
            products,
            features,
            meters,
        }
    }
}
