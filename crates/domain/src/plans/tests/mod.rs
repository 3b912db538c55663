//! The plan catalog's unit tests, by the concern they test, on the fixtures below.
use super::parse::BUILTIN_TOML;
use super::PlanCatalog;

mod checkout;
mod model;
mod naming;
mod parse;
mod seats;
mod validate;
mod words;

/// A valid catalog to build the failing cases from.
const BASE: &str = r#"
        [limits]
        agents = { kind = "allocated" }

        [[plans]]
        id = "free"
        name = "Free"
        default = true
        [plans.limits]
        agents = 1

        [[plans]]
        id = "starter"
        name = "Starter"
        [[plans.prices]]
        id = "price_1Starter"
        lookup_key = "starter_monthly"
        interval = "month"

        [[credit_packs]]
        id = "credits_1000"
        name = "1,000 credits"
        credits = 1000
        [[credit_packs.prices]]
        lookup_key = "credits_1000"
    "#;

fn rejected(text: &str) -> String {
    match PlanCatalog::parse(text) {
        Ok(_) => panic!("the catalog was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, culprits: &[&str]) {
    for culprit in culprits {
        assert!(
            message.contains(culprit),
            "{message:?} does not name {culprit:?}"
        );
    }
}

/// The built-in catalog as a team with prices already in Stripe writes it: the monthly prices also
/// named by id.
fn catalog_with_price_ids() -> PlanCatalog {
    let text = BUILTIN_TOML
        .replace(
            "lookup_key = \"starter_monthly\"",
            &format!("id = \"{EXISTING_STARTER}\"\nlookup_key = \"starter_monthly\""),
        )
        .replace(
            "lookup_key = \"pro_monthly\"",
            &format!("id = \"{EXISTING_PRO}\"\nlookup_key = \"pro_monthly\""),
        );
    PlanCatalog::parse(&text).unwrap()
}

const EXISTING_STARTER: &str = "price_1ExistingStarterMonthly";
const EXISTING_PRO: &str = "price_1ExistingProMonthly";

/// A catalog whose starter plan (monthly and yearly, in usd) includes 1,000 messages a month and
/// declares `overage`.
fn with_overage(overage: &str) -> String {
    format!(
        r#"
        [limits]
        agents = {{ kind = "allocated" }}
        messages = {{ kind = "metered", resets = "month" }}

        [[plans]]
        id = "free"
        name = "Free"
        default = true
        [plans.limits]
        agents = 1

        [[plans]]
        id = "starter"
        name = "Starter"
        [plans.limits]
        agents = 3
        messages = 1000
        [plans.overage]
        {overage}
        [[plans.prices]]
        lookup_key = "starter_monthly"
        interval = "month"
        amount = 900
        currency = "usd"
        [[plans.prices]]
        lookup_key = "starter_yearly"
        interval = "year"

        [[credit_packs]]
        id = "credits_1000"
        name = "1,000 credits"
        credits = 1000
        [[credit_packs.prices]]
        lookup_key = "credits_1000"
    "#
    )
}
