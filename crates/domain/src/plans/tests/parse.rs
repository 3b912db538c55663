//! Reading a catalog: the built-in one, a file, the TOML's shape.
use super::*;
use crate::plans::{CatalogError, Limit};

#[test]
fn the_base_catalog_of_these_tests_is_valid() {
    PlanCatalog::parse(BASE).unwrap();
}

#[test]
fn the_built_in_catalog_parses_and_validates() {
    let catalog = PlanCatalog::parse(BUILTIN_TOML).unwrap();
    assert_eq!(&catalog, PlanCatalog::builtin());

    let ids: Vec<_> = catalog.plans().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "free",
            "starter",
            "professional",
            "team",
            "enterprise",
            "team_pack"
        ]
    );
    let addons: Vec<_> = catalog.plans().iter().map(|p| p.addon).collect();
    assert_eq!(addons, [false, false, false, false, false, true]);
    let ranks: Vec<_> = catalog.plans().iter().map(|p| p.rank).collect();
    assert_eq!(ranks, [0, 1, 2, 3, 4, 5], "catalog order without `rank`");
    let limits = |id: &str| {
        let plan = catalog.plan(id).unwrap();
        (plan.limits["agents"], plan.limits["messages_per_day"])
    };
    assert_eq!(limits("free"), (Limit::Finite(1), Limit::Finite(100)));
    assert_eq!(limits("starter"), (Limit::Finite(3), Limit::Finite(1_000)));
    assert_eq!(
        limits("professional"),
        (Limit::Finite(10), Limit::Finite(10_000))
    );
    assert_eq!(limits("enterprise"), (Limit::Unlimited, Limit::Unlimited));
    // The team plan: an organization's pool, each member capped inside it, seats beyond three billed.
    let team = catalog.plan("team").unwrap();
    assert_eq!(limits("team"), (Limit::Finite(25), Limit::Finite(5_000)));
    assert_eq!(team.member_limits.get("messages_per_day"), Some(&25));
    assert_eq!(team.seats.as_ref().map(|s| s.included), Some(3));
    assert!(catalog.plan("enterprise").unwrap().contact_sales);

    let packs: Vec<_> = catalog
        .credit_packs()
        .iter()
        .map(|p| (p.id.as_str(), p.credits, p.max_quantity))
        .collect();
    assert_eq!(
        packs,
        [("credits_1000", 1_000, 10), ("credits_5000", 5_000, 1)]
    );
}

#[test]
fn unknown_fields_are_rejected() {
    for (from, to, field) in [
        (
            "default = true",
            "default = true\nfeature = [\"sso\"]",
            "feature",
        ),
        (
            "lookup_key = \"starter_monthly\"",
            "lookupkey = \"starter_monthly\"",
            "lookupkey",
        ),
        ("credits = 1000", "credits = 1000\nmax_qty = 5", "max_qty"),
    ] {
        let text = BASE.replacen(from, to, 1);
        assert_mentions(&rejected(&text), &[field, "unknown field"]);
    }
    assert_mentions(&rejected(&format!("plan = []\n{BASE}")), &["plan"]);
}

#[test]
fn load_without_a_path_is_the_built_in_catalog() {
    assert_eq!(&PlanCatalog::load(None).unwrap(), PlanCatalog::builtin());
}

#[test]
fn load_with_a_path_reads_that_file() {
    let path = std::env::temp_dir().join(format!("entitle-plans-test-{}.toml", std::process::id()));
    std::fs::write(&path, BASE).unwrap();
    let loaded = PlanCatalog::load(path.to_str());
    let broken = std::fs::write(&path, BASE.replace("credits = 1000", "credits = 0"))
        .map(|()| PlanCatalog::load(path.to_str()));
    std::fs::remove_file(&path).unwrap();

    let catalog = loaded.unwrap();
    assert_eq!(catalog.plans().len(), 2);
    assert_eq!(
        catalog.plan_for_price("price_1Starter", None).unwrap().id,
        "starter"
    );
    let message = broken.unwrap().unwrap_err().to_string();
    assert_mentions(&message, &[path.to_str().unwrap(), "credits_1000"]);
}

#[test]
fn load_of_a_missing_file_names_the_path() {
    let err = PlanCatalog::load(Some("/nonexistent/entitle/plans.toml")).unwrap_err();
    assert!(matches!(err, CatalogError::Read { .. }));
    assert_mentions(&err.to_string(), &["/nonexistent/entitle/plans.toml"]);
}
