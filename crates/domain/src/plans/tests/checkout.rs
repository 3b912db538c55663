//! What a price reference resolves to and how it is sold.
use super::*;
use crate::plans::{CheckoutMode, Interval, PriceMatch};

#[test]
fn a_price_resolves_by_id_and_by_lookup_key_to_its_plan() {
    let catalog = catalog_with_price_ids();
    assert_eq!(
        catalog
            .price("starter_monthly")
            .unwrap()
            .price()
            .reference(),
        EXISTING_STARTER,
        "a price named by id is requested by its id"
    );
    for reference in [EXISTING_STARTER, "starter_monthly"] {
        let found = catalog.price(reference).unwrap();
        let PriceMatch::Subscription { plan, price } = found else {
            panic!("{reference} resolved to {found:?}");
        };
        assert_eq!(plan.id, "starter");
        assert_eq!(price.interval, Some(Interval::Month));
        assert_eq!(found.checkout_mode(), CheckoutMode::Subscription);
        assert_eq!(found.max_quantity(), 1);
        assert!(found.self_serve());
    }
    assert!(!catalog.price("enterprise_monthly").unwrap().self_serve());
}

#[test]
fn a_credit_pack_price_resolves_to_its_pack_and_is_a_one_time_payment() {
    let catalog = PlanCatalog::builtin();
    let found = catalog.price("credits_1000").unwrap();
    let PriceMatch::CreditPack { pack, .. } = found else {
        panic!("credits_1000 resolved to {found:?}");
    };
    assert_eq!((pack.id.as_str(), pack.credits), ("credits_1000", 1_000));
    assert_eq!(found.checkout_mode().as_str(), "payment");
    assert_eq!(found.max_quantity(), 10);
    assert_eq!(catalog.price("credits_5000").unwrap().max_quantity(), 1);
    assert_eq!(
        catalog
            .credit_pack_for_price("price_1Whatever", Some("credits_5000"))
            .map(|p| p.credits),
        Some(5_000)
    );
}
