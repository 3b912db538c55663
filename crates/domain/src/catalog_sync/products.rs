//! Stripe products: one per paid plan and per credit pack, found by `metadata.entitle = <catalog id>`.
use std::collections::BTreeSet;

use super::{Action, Remote, RemoteProduct, Sold, SyncPlan};

/// The product of `owner`: an active one marked with the owner's id wins over an archived one.
pub(super) fn product_of<'r>(remote: &'r Remote, owner: &str) -> Option<&'r RemoteProduct> {
    let mut marked: Vec<&RemoteProduct> = remote
        .products
        .iter()
        .filter(|p| p.entitle.as_deref() == Some(owner))
        .collect();
    marked.sort_by_key(|p| !p.active);
    marked.first().copied()
}

/// A product is created when missing, renamed when its name differs, reactivated when it was archived.
pub(super) fn create_or_update(sold: &[Sold<'_>], remote: &Remote, plan: &mut SyncPlan) {
    for s in sold {
        match product_of(remote, s.owner) {
            None => plan.actions.push(Action::CreateProduct {
                owner: s.owner.to_owned(),
                name: s.name.to_owned(),
            }),
            Some(p) if !p.active || p.name != s.name => plan.actions.push(Action::UpdateProduct {
                id: p.id.clone(),
                owner: s.owner.to_owned(),
                name: s.name.to_owned(),
                reactivate: !p.active,
            }),
            Some(_) => {}
        }
    }
}

/// An active product marked with a catalog id the catalog no longer sells is archived.
pub(super) fn archive_dropped(sold: &[Sold<'_>], remote: &Remote, plan: &mut SyncPlan) {
    let owners: BTreeSet<&str> = sold.iter().map(|s| s.owner).collect();
    for product in remote.products.iter().filter(|p| p.active) {
        if let Some(owner) = product.entitle.as_deref().filter(|o| !owners.contains(o)) {
            plan.actions.push(Action::ArchiveProduct {
                id: product.id.clone(),
                owner: owner.to_owned(),
            });
        }
    }
}
