//! `[features]` and the limits' `name` and `unit`: the words pages show instead of identifiers.
use super::{assert_mentions, rejected, BASE};
use crate::plans::PlanCatalog;

/// BASE with words: one feature granted and described, its limit named.
fn described(features: &str, agents: &str) -> String {
    BASE.replace(
        "agents = { kind = \"allocated\" }",
        &format!("agents = {{ kind = \"allocated\"{agents} }}\n[features]\n{features}"),
    )
    .replace(
        "name = \"Starter\"",
        "name = \"Starter\"\nfeatures = [\"api_access\"]",
    )
}

const AGENTS_WORDS: &str = ", name = \"Agents\", unit = { one = \"agent\", other = \"agents\" }";
const API_ACCESS: &str =
    "api_access = { name = \"API access\", description = \"Call it from code.\" }";

#[test]
fn the_builtin_catalog_describes_every_feature_and_limit() {
    let catalog = PlanCatalog::builtin();
    for plan in catalog.plans() {
        for feature in &plan.features {
            let words = &catalog.feature_words()[feature];
            assert_ne!(words.name, *feature, "{feature} is shown as its id");
            assert!(!words.description.is_empty());
        }
    }
    for name in catalog.limit_decls().keys() {
        assert!(
            catalog.limit_words().contains_key(name),
            "{name} has no words"
        );
    }
    assert_eq!(catalog.feature_name("sso"), "Single sign-on (SSO)");
    assert_eq!(catalog.limit_words()["agents"].unit.of(1), "agent");
    assert_eq!(catalog.limit_words()["agents"].unit.of(3), "agents");
}

#[test]
fn a_catalog_with_words_parses_and_serves_them() {
    let catalog = PlanCatalog::parse(&described(API_ACCESS, AGENTS_WORDS)).unwrap();
    assert_eq!(catalog.feature_words()["api_access"].name, "API access");
    assert_eq!(catalog.limit_words()["agents"].name, "Agents");
    let starter = catalog.plan("starter").unwrap();
    let words = catalog.words_for(
        starter.features.iter().map(String::as_str),
        ["agents", "seats"],
    );
    assert_eq!(words.features["api_access"], "API access");
    assert_eq!(words.limits["agents"].unit.other, "agents");
    assert!(
        !words.limits.contains_key("seats"),
        "an undeclared limit has no words"
    );
}

#[test]
fn a_catalog_without_words_still_parses_and_names_features_by_id() {
    let catalog = PlanCatalog::parse(BASE).unwrap();
    assert!(catalog.feature_words().is_empty());
    assert!(catalog.limit_words().is_empty());
    assert_eq!(catalog.feature_name("api_access"), "api_access");
}

#[test]
fn a_granted_feature_that_features_does_not_describe_is_rejected() {
    let text = described(API_ACCESS, AGENTS_WORDS).replace(
        "features = [\"api_access\"]",
        "features = [\"api_access\", \"sso\"]",
    );
    assert_mentions(&rejected(&text), &["starter", "\"sso\"", "[features]"]);
}

#[test]
fn a_misspelt_entry_leaves_its_feature_undescribed_and_an_entry_no_plan_grants_is_kept() {
    let typo = described(
        "api_acess = { name = \"API access\", description = \"Typo.\" }",
        AGENTS_WORDS,
    );
    assert_mentions(
        &rejected(&typo),
        &["starter", "\"api_access\"", "[features]"],
    );
    // A plan dropped from the catalog may leave its feature's words behind (as `entitle catalog plan` of a
    // catalog without the enterprise plan does): they are kept, and served with the rest.
    let kept = described(
        &format!(
            "{API_ACCESS}\nsso = {{ name = \"SSO\", description = \"Sign in with your IdP.\" }}"
        ),
        AGENTS_WORDS,
    );
    let catalog = PlanCatalog::parse(&kept).unwrap();
    assert_eq!(catalog.feature_words()["sso"].name, "SSO");
    assert!(!catalog.is_feature("sso"));
}

#[test]
fn blank_words_and_unknown_keys_are_rejected() {
    for (features, culprit) in [
        (
            "api_access = { name = \"\", description = \"Call it.\" }",
            "`name`",
        ),
        (
            "api_access = { name = \"API\", description = \" \" }",
            "`description`",
        ),
        (
            "api_access = { name = \" API\", description = \"x\" }",
            "`name`",
        ),
    ] {
        assert_mentions(
            &rejected(&described(features, AGENTS_WORDS)),
            &["api_access", culprit],
        );
    }
    let unknown = "api_access = { name = \"API\", description = \"x\", icon = \"key\" }";
    assert_mentions(&rejected(&described(unknown, AGENTS_WORDS)), &["icon"]);
    let long = format!(
        "api_access = {{ name = \"{}\", description = \"x\" }}",
        "A".repeat(81)
    );
    assert_mentions(
        &rejected(&described(&long, AGENTS_WORDS)),
        &["api_access", "80 characters"],
    );
    let fits = format!(
        "api_access = {{ name = \"{}\", description = \"x\" }}",
        "A".repeat(80)
    );
    assert!(PlanCatalog::parse(&described(&fits, AGENTS_WORDS)).is_ok());
    let missing = "api_access = { name = \"API\" }";
    assert_mentions(
        &rejected(&described(missing, AGENTS_WORDS)),
        &["description"],
    );
}

#[test]
fn a_limit_needs_both_name_and_unit_and_both_once_features_are_described() {
    for (agents, culprit) in [
        (", name = \"Agents\"", "no `unit`"),
        (
            ", unit = { one = \"agent\", other = \"agents\" }",
            "no `name`",
        ),
        ("", "needs a `name` and a `unit`"),
        (
            ", name = \"Agents\", unit = { one = \"agent\", other = \"\" }",
            "`unit.other`",
        ),
        (", name = \"Agents\", unit = { one = \"agent\" }", "other"),
    ] {
        assert_mentions(
            &rejected(&described(API_ACCESS, agents)),
            &["agents", culprit],
        );
    }
    // Without [features], a limit may go without words, but not with half of them.
    let half = BASE.replace(
        "agents = { kind = \"allocated\" }",
        "agents = { kind = \"allocated\", name = \"Agents\" }",
    );
    assert_mentions(&rejected(&half), &["agents", "no `unit`"]);
}

#[test]
fn catalog_apply_names_a_new_stripe_feature_as_the_catalog_does() {
    let plan = crate::catalog_sync::plan(PlanCatalog::builtin(), &Default::default());
    let names: Vec<(&str, &str)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            crate::catalog_sync::Action::CreateFeature { lookup_key, name } => {
                Some((lookup_key.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();
    assert!(names.contains(&("api_access", "API access")), "{names:?}");
    assert!(
        names.contains(&("sso", "Single sign-on (SSO)")),
        "{names:?}"
    );
}
