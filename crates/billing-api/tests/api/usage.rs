use crate::helpers::{TestApp, APP};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::{account, decision, LimitKind, Period};
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::http::RequestSpec;
use serde_json::{json, Value};

#[tokio::test]
async fn usage_reads_the_counters_usage_api_wrote_and_the_live_credit_balance() {
    let app = TestApp::spawn().await;
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let now = UnixTime::now();
    let catalog = PlanCatalog::builtin();

    // Nothing stored yet: the free plan's limits, nothing used.
    let free = app.call("GET", "/usage", None).await;
    assert_eq!(free.status, 200, "{}", free.body);
    assert_eq!(free.body["plan"], "free");
    let messages = of(&free.body, "messages_per_day");
    assert_eq!(
        (&messages["limit"], &messages["used"]),
        (&json!(100), &json!(0))
    );

    let starter = Entitlements::on_plan(
        user.clone(),
        catalog.plan("starter").unwrap(),
        Status::Active,
    );
    app.entitlements.put(&starter).await.unwrap();
    // 5 messages consumed today, as usage-api records them: one conditional write through the adapter.
    let kind = LimitKind::Metered(Period::Day);
    let (key, resets_at) = account::counter(&user, "messages_per_day", kind, Some(&starter), now);
    let allowance = account::allowance(catalog, &starter, "messages_per_day");
    let snapshot = app.usage.snapshot(&key, None).await.unwrap();
    let (_, change) = decision::consume(kind, allowance, &snapshot.counter, 5, None, now).unwrap();
    app.usage.write(&key, &change.unwrap(), None).await.unwrap();
    app.buy_credits(1000, &unique_id("cs_")).await;

    let reply = app.call("GET", "/usage", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["userId"], app.user_id.as_str());
    assert_eq!(reply.body["plan"], "starter");
    let messages = of(&reply.body, "messages_per_day");
    assert_eq!(
        (
            &messages["kind"],
            &messages["limit"],
            &messages["used"],
            &messages["remaining"]
        ),
        (&json!("metered"), &json!(1000), &json!(5), &json!(995))
    );
    assert_eq!(
        messages["resetsAt"],
        resets_at.unwrap().to_rfc3339().as_str()
    );
    let agents = of(&reply.body, "agents");
    assert_eq!((&agents["limit"], &agents["used"]), (&json!(3), &json!(0)));
    let credits = of(&reply.body, "credits");
    assert_eq!(
        (&credits["remaining"], &credits["limit"]),
        (&json!(1000), &Value::Null)
    );
    assert_eq!(
        app.call("GET", "/entitlements", None).await.body["credits"],
        1000,
        "GET /entitlements reports the same balance"
    );
}

#[tokio::test]
async fn usage_needs_a_session_and_only_answers_get() {
    let app = TestApp::spawn().await;
    let unsigned = billing_api::router::handle_at(
        &app.deps,
        &RequestSpec::post("/usage", b"").method("GET").build(),
        UnixTime::now(),
    )
    .await;
    assert_eq!(unsigned.status().as_u16(), 401);
    let post = RequestSpec::post("/usage", b"{}")
        .header("authorization", format!("Bearer {}", app.token()))
        .header("origin", APP)
        .build();
    let response = billing_api::router::handle_at(&app.deps, &post, UnixTime::now()).await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}

fn of(body: &Value, feature: &str) -> Value {
    body["usage"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["feature"] == feature))
        .cloned()
        .unwrap_or_else(|| panic!("{feature} in {body}"))
}

#[tokio::test]
async fn usage_reports_the_plan_plus_each_addon_times_its_quantity_as_entitlements_do() {
    let app = TestApp::spawn().await;
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let catalog = PlanCatalog::builtin();
    let mut e = Entitlements::on_plan(user, catalog.plan("starter").unwrap(), Status::Active);
    e.addons = vec![entitle_domain::entitlements::AddonGrant {
        plan: "team_pack".into(),
        quantity: 2,
        subscription_id: "sub_pack".into(),
        until: None,
    }];
    (e.features, e.limits) =
        entitle_domain::entitlements::grant(catalog.plan("starter").unwrap(), &e.addons, catalog);
    app.entitlements.put(&e).await.unwrap();
    let entitlements = app.call("GET", "/entitlements", None).await;
    assert_eq!(
        entitlements.body["limits"]["agents"], 13,
        "{}",
        entitlements.body
    );
    let usage = app.call("GET", "/usage", None).await;
    assert_eq!(usage.status, 200, "{}", usage.body);
    // Starter: 3 agents, 1,000 messages a day; each Team pack +5 agents, +1,000 messages.
    assert_eq!(of(&usage.body, "agents")["limit"], 13);
    assert_eq!(of(&usage.body, "messages_per_day")["limit"], 3000);
}
