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
