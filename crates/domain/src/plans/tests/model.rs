//! The catalog's lookups and its types' serialization.
use super::*;
use crate::plans::Limit;
use crate::usage::{LimitKind, Period};
use std::collections::BTreeMap;

#[test]
fn the_built_in_catalog_knows_the_prices_of_the_stripe_fixtures() {
    let catalog = PlanCatalog::builtin();
    let plan_of = |id, key| catalog.plan_for_price(id, Some(key)).map(|p| p.id.as_str());
    assert_eq!(
        plan_of("price_local_starter_monthly", "starter_monthly"),
        Some("starter")
    );
    assert_eq!(
        plan_of("price_local_pro_monthly", "pro_monthly"),
        Some("professional")
    );
    for (key, plan) in [
        ("starter_yearly", "starter"),
        ("pro_yearly", "professional"),
        ("enterprise_monthly", "enterprise"),
    ] {
        assert_eq!(plan_of("price_1NotInTheCatalog", key), Some(plan));
    }
}

#[test]
fn the_built_in_catalog_names_its_prices_by_lookup_key_only() {
    let catalog = PlanCatalog::builtin();
    let prices = catalog
        .plans()
        .iter()
        .flat_map(|p| &p.prices)
        .chain(catalog.credit_packs().iter().flat_map(|p| &p.prices));
    for price in prices {
        assert_eq!(
            price.id, None,
            "{price:?}: a made-up id would be sent to Stripe"
        );
        assert!(price.lookup_key.is_some(), "{price:?}");
    }
}

#[test]
fn an_unknown_price_resolves_to_nothing() {
    let catalog = PlanCatalog::builtin();
    assert!(catalog.price("price_1Unknown").is_none());
    assert!(catalog.price("").is_none());
    assert!(catalog.plan_for_price("price_1Unknown", None).is_none());
    assert!(catalog
        .plan_for_price("price_1Unknown", Some("unknown_key"))
        .is_none());
    // A pack's price is not a plan, and a plan's price is not a pack.
    assert!(catalog
        .plan_for_price("price_1X", Some("credits_1000"))
        .is_none());
    assert!(catalog
        .credit_pack_for_price("price_1X", Some("starter_monthly"))
        .is_none());
    assert!(catalog_with_price_ids()
        .credit_pack_for_price(EXISTING_STARTER, None)
        .is_none());
}

#[test]
fn a_subscription_item_is_matched_by_price_id_before_lookup_key() {
    let catalog = catalog_with_price_ids();
    // The starter price whose lookup key was moved to the professional plan's price stays starter.
    let plan = catalog
        .plan_for_price(EXISTING_STARTER, Some("pro_monthly"))
        .unwrap();
    assert_eq!(plan.id, "starter");
    // A new price carrying a catalog lookup key is that key's plan.
    let plan = catalog
        .plan_for_price("price_1NewProPrice", Some("pro_monthly"))
        .unwrap();
    assert_eq!(plan.id, "professional");
}

#[test]
fn the_free_plan_is_the_default() {
    let catalog = PlanCatalog::builtin();
    let free = catalog.free_plan();
    assert_eq!(free.id, "free");
    assert!(free.default);
    assert!(free.prices.is_empty());
    assert_eq!(catalog.plans().iter().filter(|p| p.default).count(), 1);
}

#[test]
fn unlimited_is_expressible_and_allows_any_amount() {
    assert!(Limit::Unlimited.allows(u64::MAX));
    assert!(Limit::Finite(3).allows(3));
    assert!(!Limit::Finite(3).allows(4));
    assert!(Limit::Finite(0).allows(0));
    assert!(Limit::Unlimited > Limit::Finite(u64::MAX));
    assert_eq!(Limit::Unlimited.to_string(), "unlimited");
}

#[test]
fn limits_serialize_as_an_integer_or_the_string_unlimited() {
    let limits = BTreeMap::from([
        ("agents".to_owned(), Limit::Finite(3)),
        ("seats".to_owned(), Limit::Unlimited),
    ]);
    let json = serde_json::to_string(&limits).unwrap();
    assert_eq!(json, r#"{"agents":3,"seats":"unlimited"}"#);
    let back: BTreeMap<String, Limit> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, limits);
    assert!(serde_json::from_str::<Limit>("-1").is_err());
    assert!(serde_json::from_str::<Limit>(r#""lots""#).is_err());
}

#[test]
fn a_plan_serializes_to_camel_case_json() {
    let plan = PlanCatalog::builtin().plan("starter").unwrap();
    let json = serde_json::to_value(plan).unwrap();
    assert_eq!(json["contactSales"], false);
    assert_eq!(json["limits"]["messages_per_day"], 1_000);
    assert_eq!(json["prices"][0]["lookupKey"], "starter_monthly");
    assert_eq!(json["prices"][0]["interval"], "month");
    assert!(json["prices"][1].get("id").is_none());
    let enterprise = PlanCatalog::builtin().plan("enterprise").unwrap();
    assert_eq!(
        serde_json::to_value(enterprise).unwrap()["limits"]["agents"],
        "unlimited"
    );
}

#[test]
fn every_limit_of_the_built_in_catalog_is_declared_with_its_kind() {
    let catalog = PlanCatalog::builtin();
    let kind = |name| catalog.limit_decl(name).map(|d| d.kind);
    assert_eq!(
        kind("messages_per_day"),
        Some(LimitKind::Metered(Period::Day))
    );
    assert_eq!(kind("agents"), Some(LimitKind::Allocated));
    assert_eq!(catalog.credits_limit(), Some("credits"));
    assert_eq!(
        catalog.limit_decl("credits").unwrap().low_threshold,
        Some(100)
    );
    assert!(catalog.is_feature("sso") && !catalog.is_feature("agents_per_day"));
}
