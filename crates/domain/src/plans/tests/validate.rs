//! The catalog's rules: each broken one rejects the catalog, naming the culprit.
use super::*;
use crate::plans::CatalogError;

#[test]
fn a_catalog_without_a_default_plan_is_rejected() {
    let text = BASE.replace("default = true", "");
    assert!(matches!(
        PlanCatalog::parse(&text),
        Err(CatalogError::NoDefaultPlan)
    ));
    assert!(matches!(
        PlanCatalog::parse(""),
        Err(CatalogError::NoDefaultPlan)
    ));
}

#[test]
fn a_catalog_with_two_default_plans_is_rejected_naming_both() {
    let text = format!("{BASE}\n[[plans]]\nid = \"gratis\"\nname = \"Gratis\"\ndefault = true\n");
    assert_mentions(&rejected(&text), &["\"free\"", "\"gratis\"", "default"]);
}

#[test]
fn an_addon_is_never_the_default_and_never_ranked() {
    let default_addon = BASE.replacen("default = true", "default = true\naddon = true", 1);
    assert_mentions(&rejected(&default_addon), &["\"free\"", "addon"]);
    let ranked = format!(
            "{BASE}\n[[plans]]\nid = \"extra\"\nname = \"Extra\"\naddon = true\nrank = 3\ncontact_sales = true\n"
        );
    assert_mentions(&rejected(&ranked), &["\"extra\"", "rank"]);
    let fine = format!(
        "{BASE}\n[[plans]]\nid = \"extra\"\nname = \"Extra\"\naddon = true\ncontact_sales = true\n"
    );
    assert!(
        PlanCatalog::parse(&fine)
            .unwrap()
            .plan("extra")
            .unwrap()
            .addon
    );
}

#[test]
fn a_default_plan_with_prices_is_rejected() {
    let text = BASE.replace(
        "[plans.limits]\n        agents = 1",
        "[[plans.prices]]\n        lookup_key = \"free_monthly\"\n        interval = \"month\"",
    );
    assert_mentions(&rejected(&text), &["default plan \"free\"", "prices"]);
}

#[test]
fn a_duplicate_plan_or_pack_id_is_rejected() {
    let plan =
        format!("{BASE}\n[[plans]]\nid = \"starter\"\nname = \"Again\"\ncontact_sales = true\n");
    assert_mentions(&rejected(&plan), &["\"starter\"", "more than one"]);
    let pack = format!(
            "{BASE}\n[[credit_packs]]\nid = \"starter\"\nname = \"S\"\ncredits = 1\n[[credit_packs.prices]]\nlookup_key = \"s\"\n"
        );
    assert_mentions(&rejected(&pack), &["\"starter\"", "more than one"]);
}

#[test]
fn a_price_id_or_lookup_key_used_twice_is_rejected_naming_both_owners() {
    let pack_with = |price: &str| {
        format!("{BASE}\n[[credit_packs]]\nid = \"credits_9\"\nname = \"9\"\ncredits = 9\n[[credit_packs.prices]]\n{price}\n")
    };
    for (price, reference) in [
        ("id = \"price_1Starter\"", "price_1Starter"),
        ("lookup_key = \"starter_monthly\"", "starter_monthly"),
        // An id elsewhere used as a lookup key is just as ambiguous for a checkout request.
        ("lookup_key = \"price_1Starter\"", "price_1Starter"),
    ] {
        assert_mentions(
            &rejected(&pack_with(price)),
            &[reference, "plan \"starter\"", "credit pack \"credits_9\""],
        );
    }
    let same_plan = BASE.replace(
            "interval = \"month\"",
            "interval = \"month\"\n[[plans.prices]]\nlookup_key = \"starter_monthly\"\ninterval = \"year\"",
        );
    assert_mentions(
        &rejected(&same_plan),
        &["starter_monthly", "plan \"starter\""],
    );
}

#[test]
fn a_price_with_neither_id_nor_lookup_key_is_rejected() {
    let text = BASE.replace("lookup_key = \"credits_1000\"", "amount = 1900");
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "neither"],
    );
}

#[test]
fn a_malformed_price_id_or_blank_lookup_key_is_rejected() {
    let text = BASE.replace("id = \"price_1Starter\"", "id = \"starter_monthly_id\"");
    assert_mentions(
        &rejected(&text),
        &["plan \"starter\"", "starter_monthly_id"],
    );
    let text = BASE.replace("lookup_key = \"credits_1000\"", "lookup_key = \" \"");
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "lookup_key"],
    );
}

#[test]
fn a_paid_plan_without_prices_is_rejected_unless_sales_sells_it() {
    let paid = format!("{BASE}\n[[plans]]\nid = \"team\"\nname = \"Team\"\n");
    assert_mentions(&rejected(&paid), &["plan \"team\"", "no prices"]);
    let by_sales = format!("{paid}contact_sales = true\n");
    let catalog = PlanCatalog::parse(&by_sales).unwrap();
    assert!(catalog.plan("team").unwrap().contact_sales);
}

#[test]
fn a_credit_pack_without_prices_is_rejected() {
    let text = BASE.replace(
        "[[credit_packs.prices]]\n        lookup_key = \"credits_1000\"",
        "",
    );
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "no prices"],
    );
}

#[test]
fn recurring_and_one_time_prices_are_kept_apart() {
    let text = BASE.replace("interval = \"month\"", "");
    assert_mentions(
        &rejected(&text),
        &["plan \"starter\"", "price_1Starter", "interval"],
    );
    let text = BASE.replace(
        "lookup_key = \"credits_1000\"",
        "lookup_key = \"credits_1000\"\ninterval = \"month\"",
    );
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "interval"],
    );
    let text = BASE.replace("interval = \"month\"", "interval = \"monthly\"");
    assert_mentions(&rejected(&text), &["monthly"]);
}

#[test]
fn a_credit_pack_with_no_credits_is_rejected() {
    let text = BASE.replace("credits = 1000", "credits = 0");
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "credits = 0"],
    );
}

#[test]
fn a_credit_pack_with_a_max_quantity_of_zero_is_rejected() {
    let text = BASE.replace("credits = 1000", "credits = 1000\nmax_quantity = 0");
    assert_mentions(
        &rejected(&text),
        &["credit pack \"credits_1000\"", "max_quantity = 0"],
    );
}

#[test]
fn a_limit_that_is_neither_a_count_nor_unlimited_is_rejected() {
    for (value, shown) in [
        ("\"lots\"", "\"lots\""),
        ("\"Unlimited\"", "\"Unlimited\""),
        ("-1", "-1"),
        ("1.5", "1.5"),
        ("true", "true"),
    ] {
        let text = BASE.replace("agents = 1", &format!("agents = {value}"));
        assert_mentions(&rejected(&text), &["plan \"free\"", "\"agents\"", shown]);
    }
}

#[test]
fn names_that_are_not_snake_case_are_rejected() {
    for (from, to, name) in [
        ("id = \"starter\"", "id = \"Starter Plan\"", "Starter Plan"),
        ("agents = 1", "max-agents = 1", "max-agents"),
        (
            "default = true",
            "default = true\nfeatures = [\"API access\"]",
            "API access",
        ),
    ] {
        let text = BASE.replacen(from, to, 1);
        assert_mentions(&rejected(&text), &[name, "snake_case"]);
    }
}

#[test]
fn a_limit_a_plan_sets_without_declaring_it_is_rejected() {
    let text = BASE.replace("agents = 1", "agents = 1\nseats = 2");
    assert_mentions(
        &rejected(&text),
        &["plan \"free\"", "\"seats\"", "[limits]"],
    );
}

#[test]
fn a_limit_declaration_must_make_sense_for_its_kind() {
    for (decl, culprit) in [
        ("seats = { kind = \"metered\" }", "resets"),
        (
            "seats = { kind = \"allocated\", resets = \"day\" }",
            "only a metered",
        ),
        ("seats = { kind = \"metered\", resets = \"week\" }", "week"),
        (
            "seats = { kind = \"allocated\", low_threshold = 5 }",
            "low_threshold",
        ),
        ("seats = { kind = \"counted\" }", "counted"),
        (
            "a = { kind = \"credits\" }\nb = { kind = \"credits\" }",
            "one",
        ),
    ] {
        let text = BASE.replace(
            "agents = { kind = \"allocated\" }",
            &format!("agents = {{ kind = \"allocated\" }}\n{decl}"),
        );
        assert_mentions(&rejected(&text), &[culprit]);
    }
}

#[test]
fn a_plan_cannot_set_the_credits_balance() {
    let text = BASE
        .replace(
            "agents = { kind = \"allocated\" }",
            "agents = { kind = \"allocated\" }\ncredits = { kind = \"credits\" }",
        )
        .replace("agents = 1", "agents = 1\ncredits = 5");
    assert_mentions(&rejected(&text), &["\"credits\"", "credit packs"]);
}

#[test]
fn overage_that_makes_no_sense_is_rejected_in_a_sentence_naming_the_key() {
    for (overage, culprits) in [
        (
            "agents = { unit_amount = 1, per = 1, currency = \"usd\" }",
            &["\"agents\"", "not a metered limit"][..],
        ),
        (
            "seats = { unit_amount = 1, per = 1, currency = \"usd\" }",
            &["\"seats\"", "not declared"],
        ),
        (
            "messages = { unit_amount = 0, per = 100, currency = \"usd\" }",
            &["`unit_amount` = 0", "at least 1"],
        ),
        (
            "messages = { unit_amount = 1, per = 0, currency = \"usd\" }",
            &["`per` = 0", "at least 1"],
        ),
        (
            "messages = { unit_amount = 1, currency = \"usd\" }",
            &["`per` is missing"],
        ),
        (
            "messages = { unit_amount = 1, per = 100 }",
            &["`currency` is missing"],
        ),
        (
            "messages = { unit_amount = 1, per = 100, currency = \"eur\" }",
            &["\"eur\"", "differs from the plan's prices", "\"usd\""],
        ),
        (
            "messages = { unit_amount = 1, per = 100, currency = \"usd\", cap = 5 }",
            &["unknown key \"cap\"", "`unit_amount`, `per` and `currency`"],
        ),
        (
            "messages = { unit_amount = 1.5, per = 100, currency = \"usd\" }",
            &["`unit_amount` = 1.5"],
        ),
        ("messages = 5", &["not a table"]),
    ] {
        let message = rejected(&with_overage(overage));
        let mut all = vec!["plan \"starter\"", "overage of \"messages\""];
        if overage.starts_with("agents") {
            all[1] = "overage of \"agents\"";
        } else if overage.starts_with("seats") {
            all[1] = "overage of \"seats\"";
        }
        all.extend_from_slice(culprits);
        assert_mentions(&message, &all);
    }
}

#[test]
fn overage_needs_a_finite_included_amount_on_a_recurring_base_plan() {
    let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"usd\" }");
    let unlimited = text.replacen("messages = 1000", "messages = \"unlimited\"", 1);
    assert_mentions(&rejected(&unlimited), &["unlimited \"messages\""]);
    let unset = text.replacen("messages = 1000\n", "", 1);
    assert_mentions(&rejected(&unset), &["does not set \"messages\""]);
    let addon = text.replacen("name = \"Starter\"", "name = \"Starter\"\naddon = true", 1);
    assert_mentions(&rejected(&addon), &["add-on", "base plans"]);
    let free = text.replacen(
            "agents = 1\n",
            "agents = 1\nmessages = 10\n[plans.overage]\nmessages = { unit_amount = 1, per = 1, currency = \"usd\" }\n",
            1,
        );
    assert_mentions(&rejected(&free), &["plan \"free\"", "free default plan"]);
}

#[test]
fn an_overage_lookup_key_already_used_by_a_price_is_rejected() {
    let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"usd\" }")
        .replacen(
            "lookup_key = \"credits_1000\"",
            "lookup_key = \"starter_messages_overage_month\"",
            1,
        );
    assert_mentions(
        &rejected(&text),
        &["starter_messages_overage_month", "may appear once"],
    );
}
