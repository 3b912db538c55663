//! `for` and `[plans.seats]`: who may buy a plan, and a team plan priced per seat.
use super::{assert_mentions, rejected};
use crate::ids::{SubjectId, SubjectKind};
use crate::plans::{Audience, PlanCatalog};

const TEAM: &str = r#"
    [limits]
    seats = { kind = "allocated" }

    [[plans]]
    id = "free"
    name = "Free"
    default = true

    [[plans]]
    id = "team"
    name = "Team"
    for = "organization"
    [plans.limits]
    seats = 50
    [[plans.prices]]
    lookup_key = "team_monthly"
    interval = "month"
    amount = 4900
    currency = "usd"
    [plans.seats]
    included = 3
    count_invitations = true
    [[plans.seats.prices]]
    lookup_key = "team_seat_monthly"
    interval = "month"
    amount = 1500
    currency = "usd"
"#;

#[test]
fn a_team_plan_includes_seats_and_bills_the_ones_beyond() {
    let catalog = PlanCatalog::parse(TEAM).unwrap();
    let team = catalog.plan("team").unwrap();
    assert_eq!(team.audience, Audience::Organization);
    let seats = team.seats.as_ref().unwrap();
    assert_eq!((seats.included, seats.count_invitations), (3, true));
    assert_eq!(seats.billed(2), 0);
    assert_eq!(seats.billed(3), 0);
    assert_eq!(seats.billed(11), 8);
    assert!(team
        .audience
        .admits(SubjectId::parse("org_1").unwrap().kind()));
    assert!(!team.audience.admits(SubjectKind::User));
    // A plan without `for` is for both.
    assert_eq!(catalog.plan("free").unwrap().audience, Audience::Both);
}

#[test]
fn seats_on_a_plan_for_people_without_a_seats_limit_or_beyond_it_are_refused() {
    for (broken, culprits) in [
        (
            TEAM.replace("for = \"organization\"", "for = \"user\""),
            vec!["team", "organization"],
        ),
        (
            TEAM.replace("seats = 50\n", ""),
            vec!["team", "`seats` limit"],
        ),
        (
            TEAM.replace("seats = 50\n", "seats = 2\n"),
            vec!["team", "includes 3"],
        ),
        (
            TEAM.replace(
                "lookup_key = \"team_seat_monthly\"\n    interval = \"month\"",
                "lookup_key = \"team_seat_yearly\"\n    interval = \"year\"",
            ),
            vec!["team_seat_yearly", "interval"],
        ),
        (
            TEAM.replace(
                "amount = 1500\n    currency = \"usd\"",
                "amount = 1500\n    currency = \"eur\"",
            ),
            vec!["team_seat_monthly", "currency"],
        ),
        (
            TEAM.replace("for = \"organization\"", "for = \"teams\""),
            vec!["for"],
        ),
    ] {
        assert_mentions(&rejected(&broken), &culprits);
    }
}

#[test]
fn catalog_apply_creates_the_seat_prices_on_the_plans_product() {
    use crate::catalog_sync::{self, Action, Remote};
    let catalog = PlanCatalog::parse(TEAM).unwrap();
    let plan = catalog_sync::plan(&catalog, &Remote::default());
    let created: Vec<(String, String, i64)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePrice {
                owner,
                lookup_key,
                amount,
                ..
            } => Some((owner.clone(), lookup_key.clone(), *amount)),
            _ => None,
        })
        .collect();
    assert!(created.contains(&("team".into(), "team_monthly".into(), 4900)));
    assert!(created.contains(&("team".into(), "team_seat_monthly".into(), 1500)));
}

#[test]
fn a_seat_item_is_no_plan_of_its_own_even_marked_with_the_plans_id() {
    let catalog = PlanCatalog::parse(TEAM).unwrap();
    // Marked `metadata.entitle = team` by catalog apply, like the plan's own price.
    assert!(catalog
        .plan_for_item("price_seat", Some("team_seat_monthly"), Some("team"))
        .is_none());
    assert_eq!(
        catalog
            .plan_for_item("price_team", Some("team_monthly"), Some("team"))
            .map(|p| p.id.as_str()),
        Some("team")
    );
    let (plan, price) = catalog
        .seat_price("price_seat", Some("team_seat_monthly"))
        .unwrap();
    assert_eq!((plan.id.as_str(), price.amount), ("team", Some(1500)));
}

/// [`TEAM`] with a metered pool and a per-member cap inside it.
fn capped() -> String {
    TEAM.replace(
        "seats = { kind = \"allocated\" }",
        "seats = { kind = \"allocated\" }\n    messages = { kind = \"metered\", resets = \"day\" }\n    credits = { kind = \"credits\" }",
    )
    .replace(
        "seats = 50\n",
        "seats = 50\n    messages = 1000\n    [plans.member_limits]\n    messages = 200\n",
    )
}

#[test]
fn a_team_plan_caps_each_member_inside_its_pool() {
    let catalog = PlanCatalog::parse(&capped()).unwrap();
    let team = catalog.plan("team").unwrap();
    assert_eq!(team.member_limits.get("messages"), Some(&200));
    assert!(crate::usage::member::capped_anywhere(&catalog, "messages"));
    assert!(!crate::usage::member::capped_anywhere(&catalog, "seats"));
}

#[test]
fn member_caps_beyond_the_pool_of_undeclared_or_counted_limits_or_for_people_are_refused() {
    for (broken, culprits) in [
        (
            capped().replace("messages = 200", "messages = 2000"),
            vec!["team", "messages", "more than the pool (1000)"],
        ),
        (
            capped().replace("messages = 200", "messages = 0"),
            vec!["messages", "positive integer"],
        ),
        (
            capped().replace("messages = 200", "messages = \"lots\""),
            vec!["messages", "positive integer"],
        ),
        (
            capped().replace("messages = 200", "messages = 200\n    agents = 3"),
            vec!["agents", "not declared"],
        ),
        (
            capped().replace("messages = 200", "messages = 200\n    credits = 3"),
            vec!["credits", "balance"],
        ),
        (
            capped().replace("messages = 200", "messages = 200\n    seats = 3"),
            vec!["seats", "Clerk"],
        ),
        (
            capped().replace("    messages = 1000\n", ""),
            vec!["messages", "does not set"],
        ),
    ] {
        assert_mentions(&rejected(&broken), &culprits);
    }
    // A plan for people only cannot cap members (there are none).
    let people = capped()
        .replace("for = \"organization\"", "for = \"user\"")
        .replace("    [plans.seats]\n    included = 3\n    count_invitations = true\n", "")
        .replace(
            "    [[plans.seats.prices]]\n    lookup_key = \"team_seat_monthly\"\n    interval = \"month\"\n    amount = 1500\n    currency = \"usd\"\n",
            "",
        );
    assert_mentions(&rejected(&people), &["team", "organization"]);
    assert!(
        rejected(&people).contains("member_limits"),
        "{}",
        rejected(&people)
    );
}
