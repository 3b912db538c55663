//! `GET /usage`, and a store outage on the read routes.
use super::{buy_credits, call, code, harness, token, NOW, USER};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::UsageStore;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};

#[tokio::test]
async fn usage_shows_the_signed_in_users_counters_allowances_periods_and_credit_balance() {
    use entitle_domain::usage::{account, decision, LimitKind, Period};
    let h = harness();
    let user = SubjectId::parse(USER).unwrap();
    let now = UnixTime::from_secs(NOW);
    let catalog = PlanCatalog::builtin();
    h.usage.put_entitlements(Entitlements::on_plan(
        user.clone(),
        catalog.plan("professional").unwrap(),
        Status::Active,
    ));
    // What usage-api records: 7 messages today, 2 agents, 40 of 250 credits.
    for (name, kind, amount) in [
        ("messages_per_day", LimitKind::Metered(Period::Day), 7),
        ("agents", LimitKind::Allocated, 2),
    ] {
        let e = h.usage.counters(&user, &[]).await.unwrap().0.unwrap();
        let (key, _) = account::counter(&user, name, kind, Some(&e), now);
        let allowance = account::allowance(catalog, &e, name);
        let counter = h.usage.counter(&user, &key.name);
        let (_, change) = decision::consume(kind, allowance, &counter, amount, None, now).unwrap();
        h.usage.write(&key, &change.unwrap(), None).await.unwrap();
    }
    buy_credits(&h, 250).await;
    buy_credits(&h, -40).await;

    let (status, body) = call(&h, "GET", "/usage", None, Some(&token())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["userId"].as_str(), body["plan"].as_str()),
        (Some(USER), Some("professional"))
    );
    let of = |feature: &str| {
        body["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["feature"] == feature)
            .cloned()
            .unwrap_or_else(|| panic!("{feature} in {body}"))
    };
    let messages = of("messages_per_day");
    assert_eq!(
        (
            &messages["kind"],
            &messages["limit"],
            &messages["used"],
            &messages["remaining"]
        ),
        (&json!("metered"), &json!(10_000), &json!(7), &json!(9_993))
    );
    let midnight = UnixTime::from_secs(NOW - NOW % 86_400 + 86_400).to_rfc3339();
    assert_eq!(messages["resetsAt"], midnight.as_str());
    let agents = of("agents");
    assert_eq!(
        (&agents["used"], &agents["remaining"]),
        (&json!(2), &json!(8))
    );
    assert_eq!(agents["resetsAt"], Value::Null);
    let credits = of("credits");
    assert_eq!(
        (&credits["kind"], &credits["limit"], &credits["remaining"]),
        (&json!("credits"), &Value::Null, &json!(210))
    );
    // GET /entitlements reports the same live balance.
    let (_, e) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(e["credits"], 210);
}

#[tokio::test]
async fn a_store_outage_answers_503_on_usage_and_entitlements_and_usage_takes_only_get() {
    let h = harness();
    h.usage
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for path in ["/usage", "/entitlements"] {
        let (status, body) = call(&h, "GET", path, None, Some(&token())).await;
        assert_eq!((status, code(&body)), (503, "unavailable"), "{path}");
    }
    let (status, _) = call(&h, "POST", "/usage", Some(json!({})), Some(&token())).await;
    assert_eq!(status, 405, "browsers never consume");
}
