use super::*;
use crate::entitlements::{grant, AddonGrant};
use crate::ids::SubjectId;

fn on(plan: &str, packs: u64) -> Entitlements {
    let catalog = PlanCatalog::builtin();
    let user = SubjectId::parse("user_2abc").unwrap();
    let mut e = Entitlements::on_plan(user, catalog.plan(plan).unwrap(), Status::Active);
    e.subscription_id = Some("sub_base".into());
    if packs > 0 {
        e.addons = vec![AddonGrant {
            plan: "team_pack".into(),
            quantity: packs,
            subscription_id: "sub_pack".into(),
            until: None,
        }];
    }
    let (features, limits) = grant(catalog.plan(plan).unwrap(), &e.addons, catalog);
    (e.features, e.limits) = (features, limits);
    e
}

fn sum(source: &LimitSource) -> Limit {
    source
        .terms
        .iter()
        .fold(Limit::Finite(0), |acc, t| match (acc, t.per_unit) {
            (Limit::Finite(a), Limit::Finite(b)) => Limit::Finite(a + b * t.quantity),
            _ => Limit::Unlimited,
        })
}

#[test]
fn explain_sums_to_every_limit_of_every_plan_with_and_without_packs() {
    let catalog = PlanCatalog::builtin();
    for plan in ["free", "starter", "professional", "team", "enterprise"] {
        for packs in [0, 1, 3] {
            let e = on(plan, packs);
            let x = explain(&e, catalog);
            assert_eq!(x.limits.len(), e.limits.len(), "{plan} × {packs}");
            for (name, value) in &e.limits {
                assert_eq!(sum(&x.limits[name]), *value, "{plan} × {packs}: {name}");
            }
            for feature in &e.features {
                assert!(
                    !x.features[feature].is_empty(),
                    "{plan}: {feature} has a source"
                );
            }
        }
    }
    let x = explain(&on("starter", 2), catalog);
    assert_eq!(
        x.limits["agents"].text,
        "agents 13 = starter 3 (sub_base) + team_pack 5 × 2 (sub_pack)"
    );
    assert_eq!(x.features["audit_log"], ["team_pack"]);
    assert_eq!(x.status, "active on starter (sub_base)");
}

#[test]
fn reasons_name_what_changed() {
    let starter = on("starter", 0);
    let with_pack = on("starter", 1);
    assert_eq!(reasons(Some(&starter), &with_pack, false), ["addon_added"]);
    assert_eq!(
        reasons(Some(&with_pack), &starter, false),
        ["addon_removed"]
    );
    let pro = on("professional", 0);
    assert_eq!(reasons(Some(&starter), &pro, false), ["plan_changed"]);
    let mut past_due = starter.clone();
    past_due.status = Status::PastDue;
    assert_eq!(
        reasons(Some(&starter), &past_due, false),
        ["payment_failed", "grace_started"]
    );
    assert_eq!(reasons(Some(&past_due), &starter, false), ["grace_ended"]);
    let mut canceling = starter.clone();
    canceling.status = Status::Canceling;
    assert_eq!(reasons(Some(&starter), &canceling, false), ["canceled"]);
    assert_eq!(reasons(Some(&canceling), &starter, false), ["resumed"]);
    let mut trial = starter.clone();
    trial.status = Status::Trialing;
    assert_eq!(reasons(Some(&trial), &starter, false), ["trial_ended"]);
    assert_eq!(reasons(Some(&starter), &starter, true), ["catalog_changed"]);
    assert!(reasons(Some(&starter), &starter, false).is_empty());
}

#[test]
fn differences_list_each_changed_field_and_limit() {
    let d = differences(Some(&on("starter", 0)), &on("starter", 2));
    let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "features",
            "addons",
            "limits.agents",
            "limits.messages_per_day"
        ]
    );
    let agents = d.iter().find(|d| d.field == "limits.agents").unwrap();
    assert_eq!(
        (agents.from.clone(), agents.to.clone()),
        (3.into(), 13.into())
    );
}

#[test]
fn the_catalog_version_changes_with_what_it_grants() {
    let builtin = PlanCatalog::builtin();
    let raised = PlanCatalog::parse(&crate::plans::BUILTIN_TOML_FOR_TESTS.replacen(
        "agents = 3\n",
        "agents = 4\n",
        1,
    ))
    .unwrap();
    assert_ne!(catalog_version(builtin), catalog_version(&raised));
    assert_eq!(catalog_version(builtin), catalog_version(builtin));
    assert!(catalog_version(builtin).starts_with("cat_"));
}

fn item(sub: &str, id: &str, plan: &str, price: &str, key: Option<&str>, old: bool) -> ItemSource {
    ItemSource {
        subscription_id: sub.into(),
        status: "active".into(),
        item_id: Some(id.into()),
        price: price.into(),
        lookup_key: key.map(str::to_owned),
        plan: Some(plan.into()),
        addon: plan == "team_pack",
        quantity: 1,
        grandfathered: old,
    }
}

#[test]
fn explain_with_items_names_each_terms_item_and_price_and_a_grandfathered_one() {
    let catalog = PlanCatalog::builtin();
    let e = on("starter", 2);
    let items = [
        item(
            "sub_base",
            "si_base",
            "starter",
            "price_1",
            Some("starter_monthly"),
            false,
        ),
        item(
            "sub_pack",
            "si_pack",
            "team_pack",
            "price_2",
            Some("team_pack_monthly"),
            false,
        ),
    ];
    let x = explain_with(&e, catalog, &items);
    assert_eq!(
        x.limits["agents"].text,
        "agents 13 = starter 3 (sub_base, si_base, starter_monthly) + team_pack 5 × 2 (sub_pack, si_pack, \
         team_pack_monthly)"
    );
    assert_eq!(
        x.limits["agents"].terms[1].item_id.as_deref(),
        Some("si_pack")
    );
    // The same sums as without items: the items only name the sources.
    assert_eq!(sum(&x.limits["agents"]), e.limits["agents"]);

    let old = [item(
        "sub_base",
        "si_base",
        "starter",
        "price_2019",
        None,
        true,
    )];
    let x = explain_with(&on("starter", 0), catalog, &old);
    assert_eq!(
        x.limits["agents"].text,
        "agents 3 = starter 3 (sub_base, si_base, price_2019 grandfathered)"
    );
    assert!(x.limits["agents"].terms[0].grandfathered);
    // An item of another subscription is not this term's source.
    let other = [item(
        "sub_other",
        "si_x",
        "starter",
        "price_1",
        Some("starter_monthly"),
        false,
    )];
    let x = explain_with(&on("starter", 0), catalog, &other);
    assert_eq!(x.limits["agents"].text, "agents 3 = starter 3 (sub_base)");
}

#[test]
fn a_catalog_change_moves_a_subject_only_when_it_changes_their_plan_or_add_ons() {
    let catalog = PlanCatalog::builtin();
    let e = on("starter", 1);
    assert!(
        !catalog_moves(&e, catalog),
        "the catalog it was computed under"
    );
    let raised = PlanCatalog::parse(&include_str!("../../../../../config/plans.toml").replacen(
        "agents = 3",
        "agents = 4",
        1,
    ))
    .unwrap();
    assert!(catalog_moves(&e, &raised));
    // Every read grants from the catalog in force: the raise applies before any write records it.
    let read = e
        .clone()
        .effective(crate::time::UnixTime::from_secs(0), &raised);
    assert_eq!(read.limits["agents"], Limit::Finite(4 + 5));
    assert_eq!(
        e.clone()
            .effective(crate::time::UnixTime::from_secs(0), catalog),
        e
    );
    // Another plan's change does not move a starter customer.
    let pro_raised = PlanCatalog::parse(
        &include_str!("../../../../../config/plans.toml").replacen("agents = 10", "agents = 11", 1),
    )
    .unwrap();
    assert!(!catalog_moves(&e, &pro_raised));
    assert!(catalog_moves(&on("professional", 0), &pro_raised));
    assert_eq!(reasons(Some(&e), &e, true), ["catalog_changed"]);
    assert_ne!(catalog_version(catalog), catalog_version(&raised));
}
