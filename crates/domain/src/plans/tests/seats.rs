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
