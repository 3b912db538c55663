//! A session with an active organization acts for the organization: any member reads, only a member whose
//! role holds `org:sys_billing:manage` (read from Clerk: tokens never carry system permissions) changes its
//! billing. Every route × every kind of caller.
use super::*;
use crate::billing_api::caller::MANAGE_BILLING;
use std::sync::atomic::Ordering;

const ORG: &str = "org_2teamACME";

/// Every route that needs a session, with a body it accepts.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>, bool)> {
    vec![
        ("GET", "/entitlements", None, false),
        ("GET", "/usage", None, false),
        ("GET", "/entitlements/history", None, false),
        ("POST", "/checkout", Some(checkout("starter_monthly")), true),
        (
            "POST",
            "/portal",
            Some(json!({"returnUrl": format!("{APP}/billing")})),
            true,
        ),
        ("POST", "/subscription/cancel", Some(json!({})), true),
        ("POST", "/subscription/resume", Some(json!({})), true),
        (
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
            true,
        ),
    ]
}

/// A v1 session token of USER with ORG active (as Clerk mints it: role and custom permissions only).
fn org_token(role: &str) -> String {
    token_with(
        json!({
            "sub": USER, "iss": ISSUER, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60,
            "org_id": ORG, "org_role": role, "org_permissions": ["org:reports:read"],
        }),
        SECRET,
    )
}

async fn matrix(h: &Harness, token: &str) -> Vec<(String, u16, String)> {
    let mut answers = Vec::new();
    for (method, path, body, _) in routes() {
        let (status, answer) = call(h, method, path, body, Some(token)).await;
        answers.push((format!("{method} {path}"), status, code(&answer).to_owned()));
    }
    answers
}

#[tokio::test]
async fn a_member_without_the_billing_permission_reads_the_organization_but_cannot_change_its_billing(
) {
    for permissions in [
        vec!["org:sys_memberships:read"],
        // A billing reader: still not a manager.
        vec!["org:sys_memberships:read", "org:sys_billing:read"],
    ] {
        let h = harness();
        h.members.join(ORG, USER, &permissions);
        for ((route, status, code), (_, _, _, changes)) in matrix(&h, &org_token("org:member"))
            .await
            .into_iter()
            .zip(routes())
        {
            if changes {
                assert_eq!(
                    (status, code.as_str()),
                    (403, "billing_permission_required"),
                    "{route}"
                );
            } else {
                assert_eq!(status, 200, "{route}");
            }
        }
        // Nothing reached Stripe: no customer made, no session.
        assert!(h.stripe.checkouts().is_empty());
    }
}

#[tokio::test]
async fn a_billing_manager_changes_the_organizations_billing_on_the_organizations_customer() {
    let h = harness();
    h.members
        .join(ORG, USER, &["org:sys_memberships:read", MANAGE_BILLING]);
    for (route, status, code) in matrix(&h, &org_token("org:billing")).await {
        assert_ne!(status, 403, "{route}: {code}");
        assert_ne!(status, 401, "{route}: {code}");
    }
    // The checkout was the organization's: its own customer, the organization as the session's reference.
    assert_eq!(h.stripe.checkouts().len(), 1);
    let link = h
        .deps
        .customers
        .get(&SubjectId::parse(ORG).unwrap())
        .await
        .unwrap()
        .expect("the organization's customer is linked");
    let customer = link.customer.expect("created").to_string();
    assert_eq!(h.stripe.checkouts()[0].customer, customer);
    let made: Vec<_> = h
        .stripe
        .customers()
        .into_iter()
        .map(|(id, subject, _)| (id, subject.to_string()))
        .collect();
    assert_eq!(made, vec![(customer, ORG.to_string())]);
}

#[tokio::test]
async fn a_user_removed_from_the_organization_is_refused_a_billing_change_and_only_clerk_is_asked()
{
    let h = harness();
    for (route, status, code) in matrix(&h, &org_token("org:admin")).await {
        if route.starts_with("POST") {
            assert_eq!((status, code.as_str()), (403, "not_a_member"), "{route}");
        } else {
            // Reads take the token's word for the membership (Clerk mints it for members only; a removal
            // reaches the next token, within a minute).
            assert_eq!(status, 200, "{route}");
        }
    }
    // One membership read per billing change, none per read.
    assert_eq!(h.members.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn without_an_active_organization_the_user_acts_for_themself_and_clerk_is_never_asked() {
    let h = harness();
    for (route, status, code) in matrix(&h, &token()).await {
        assert_ne!(status, 403, "{route}: {code}");
    }
    assert_eq!(h.members.calls.load(Ordering::SeqCst), 0);
    let made: Vec<_> = h
        .stripe
        .customers()
        .into_iter()
        .map(|(_, subject, _)| subject.to_string())
        .collect();
    assert_eq!(made, vec![USER.to_string()]);
}

#[tokio::test]
async fn the_organizations_entitlements_are_its_own_not_the_members() {
    let h = harness();
    // The user has Pro personally; the organization has nothing.
    let mut mine = Entitlements::on_plan(
        SubjectId::parse(USER).unwrap(),
        PlanCatalog::builtin().plan("professional").unwrap(),
        Status::Active,
    );
    mine.subscription_id = Some("sub_mine".into());
    h.usage.put_entitlements(mine);
    let (_, personal) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    let (_, team) = call(
        &h,
        "GET",
        "/entitlements",
        None,
        Some(&org_token("org:member")),
    )
    .await;
    assert_eq!(personal["plan"], "professional");
    assert_eq!(team["plan"], "free");
    assert_eq!(team["userId"], ORG);
}

#[tokio::test]
async fn two_members_sending_the_same_idempotency_key_get_their_own_answers() {
    let h = harness();
    const OTHER: &str = "user_2otherMEMBER";
    h.members.join(ORG, USER, &[MANAGE_BILLING]);
    h.members.join(ORG, OTHER, &[MANAGE_BILLING]);
    let other = token_with(
        json!({
            "sub": OTHER, "iss": ISSUER, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60,
            "org_id": ORG, "org_role": "org:admin",
        }),
        SECRET,
    );
    let mut answers = Vec::new();
    for (token, price) in [
        (org_token("org:admin"), "starter_monthly"),
        (other, "pro_monthly"),
    ] {
        let body = checkout(price).to_string();
        let spec = RequestSpec::post("/checkout", body.as_bytes())
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", "checkout-1");
        let response = handle_at(&h.deps, &spec.build(), UnixTime::from_secs(NOW)).await;
        answers.push(response.status().as_u16());
    }
    // The second member's request is not "this key was used with another request" (409): it is theirs.
    assert_eq!(answers, vec![200, 200]);
    assert_eq!(h.stripe.checkouts().len(), 2);
}

#[tokio::test]
async fn a_plan_for_organizations_is_refused_to_a_person_and_a_plan_for_people_to_an_organization()
{
    let mut h = harness();
    h.members.join(ORG, USER, &[MANAGE_BILLING]);
    let text = include_str!("../../../../../config/plans.toml")
        .replacen(
            "id = \"starter\"\n",
            "id = \"starter\"\nfor = \"organization\"\n",
            1,
        )
        .replacen(
            "id = \"professional\"\n",
            "id = \"professional\"\nfor = \"user\"\n",
            1,
        );
    h.deps.catalog = PlanCatalog::parse(&text).unwrap();
    let (status, body) = post(&h, "/checkout", Some(checkout("starter_monthly"))).await;
    assert_eq!((status, code(&body)), (400, "plan_not_for_subject"));
    let team = org_token("org:admin");
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("pro_monthly")),
        Some(&team),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "plan_not_for_subject"));
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&team),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.stripe.checkouts().len(), 1);
}

#[tokio::test]
async fn a_seat_plans_checkout_starts_at_the_current_count_and_another_count_is_another_session() {
    let mut h = harness();
    h.members.join(ORG, USER, &[MANAGE_BILLING]);
    for n in 0..4 {
        h.members.join(ORG, &format!("user_member{n}"), &[]);
    }
    // The built-in catalog declares `seats` (its team plan's); starter becomes a seat plan here.
    let text = include_str!("../../../../../config/plans.toml")
        .replacen("id = \"starter\"\n", "id = \"starter\"\nfor = \"organization\"\n", 1)
        .replacen(
            "[[plans]]\nid = \"professional\"",
            "[plans.seats]\nincluded = 2\n[[plans.seats.prices]]\nlookup_key = \"starter_seat_monthly\"\ninterval = \"month\"\n\n[[plans]]\nid = \"professional\"",
            1,
        )
        .replacen("agents = 3\n", "agents = 3\nseats = 20\n", 1);
    h.deps.catalog = PlanCatalog::parse(&text).unwrap();
    h.stripe
        .add_price("starter_seat_monthly", "price_starter_seat");
    let team = org_token("org:admin");
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&team),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Five members, two included: three seats on the seat price, beside the plan's one unit.
    let sessions = h.stripe.checkouts();
    assert_eq!(sessions[0].quantity, 1);
    assert_eq!(sessions[0].seats, Some(("price_starter_seat".into(), 3)));
    // A member joins before the admin retries: a new intent, not the first session again.
    h.members.join(ORG, "user_member9", &[]);
    let (status, _) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&team),
    )
    .await;
    assert_eq!(status, 200);
    let sessions = h.stripe.checkouts();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[1].seats, Some(("price_starter_seat".into(), 4)));
    assert_ne!(sessions[0].idempotency_key, sessions[1].idempotency_key);
}

#[tokio::test]
async fn a_change_to_a_seat_plan_is_refused_rather_than_billed_wrong() {
    let mut h = harness();
    // Professional becomes a seat plan here (it is just before the team plan in the built-in catalog).
    let text = include_str!("../../../../../config/plans.toml")
        .replacen(
            "# A team plan, bought by",
            "[plans.seats]\nincluded = 2\n[[plans.seats.prices]]\nlookup_key = \"pro_seat_monthly\"\ninterval = \"month\"\n\n# A team plan, bought by",
            1,
        )
        .replacen("agents = 10\n", "agents = 10\nseats = 20\n", 1);
    h.deps.catalog = PlanCatalog::parse(&text).unwrap();
    subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "plan_change_unsupported"));
    assert!(h
        .stripe
        .calls()
        .iter()
        .all(|c| !c.starts_with("change_plan")));
}

#[tokio::test]
async fn the_timeline_is_the_active_organizations_or_the_users_own() {
    use entitle_domain::entitlements::history::{catalog_version, explain, Provenance};
    use entitle_domain::ports::{Appended, EntitlementStore};
    let h = harness();
    let catalog = PlanCatalog::builtin();
    for (subject, plan) in [(ORG, "team"), (USER, "professional")] {
        let mut e = Entitlements::on_plan(
            SubjectId::parse(subject).unwrap(),
            catalog.plan(plan).unwrap(),
            Status::Active,
        );
        e.updated_at = Some(UnixTime::from_secs(NOW - 100).to_rfc3339());
        let provenance = Provenance {
            cause: None,
            previous_version: None,
            catalog: catalog_version(catalog),
            previous_catalog: None,
            items: Vec::new(),
            grace: None,
            reasons: vec!["plan_changed".into()],
            changes: Vec::new(),
            explain: explain(&e, catalog),
        };
        let appended = Appended {
            provenance: &provenance,
            expires_at: UnixTime::from_secs(NOW + 86_400),
        };
        h.history
            .save_version(&e, None, None, None, Some(appended))
            .await
            .unwrap();
    }
    h.members.join(ORG, USER, &[]);
    let (status, team) = call(
        &h,
        "GET",
        "/entitlements/history",
        None,
        Some(&org_token("org:member")),
    )
    .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["subject"], ORG);
    assert_eq!(team["versions"][0]["entitlements"]["plan"], "team");
    let (_, mine) = call(&h, "GET", "/entitlements/history", None, Some(&token())).await;
    assert_eq!(mine["versions"][0]["entitlements"]["plan"], "professional");
    assert_eq!(mine["versions"].as_array().unwrap().len(), 1);
    let (status, bad) = call(
        &h,
        "GET",
        "/entitlements/history?from=soon",
        None,
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&bad)), (400, "invalid_time"));
}
