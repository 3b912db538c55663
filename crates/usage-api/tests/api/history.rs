//! `GET /v1/entitlements?at=&explain=` and `GET /v1/entitlements/history` against the local AWS: versions
//! written as the processor writes them (the version and its history item in one transaction), read back
//! at instants between them, explained, listed with what changed; bad instants refused.
use crate::helpers::TestApp;
use entitle_domain::entitlements::history::{
    catalog_version, differences, explain, reasons, Provenance,
};
use entitle_domain::entitlements::{grant, AddonGrant, Entitlements, Status};
use entitle_domain::ports::{Appended, EntitlementStore};
use entitle_domain::time::UnixTime;
use serde_json::Value;

/// Writes `next` as version `expected + 1` at `at`, with its history item.
async fn write(app: &TestApp, previous: Option<&Entitlements>, mut next: Entitlements, at: i64) {
    let catalog = &app.deps.catalog;
    next.updated_at = Some(UnixTime::from_secs(at).to_rfc3339());
    let provenance = Provenance {
        cause: None,
        previous_version: previous.map(|_| 1),
        catalog: catalog_version(catalog),
        previous_catalog: None,
        items: Vec::new(),
        grace: None,
        reasons: reasons(previous, &next, false),
        changes: differences(previous, &next),
        explain: explain(&next, catalog),
    };
    let outcome = app
        .entitlements
        .save_version(
            &next,
            previous.map(|_| 1),
            previous,
            None,
            Some(Appended {
                provenance: &provenance,
                expires_at: UnixTime::from_secs(at + 400 * 86_400),
            }),
        )
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        entitle_domain::ports::SaveOutcome::Saved { .. }
    ));
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    app.call_at("GET", path, Value::Null, UnixTime::now()).await
}

#[tokio::test]
async fn the_version_in_force_at_an_instant_is_read_back_explained_and_listed() {
    let app = TestApp::spawn().await;
    let catalog = &app.deps.catalog;
    let pro = Entitlements::on_plan(
        app.user.clone(),
        catalog.plan("pro").unwrap(),
        Status::Active,
    );
    let mut packed = pro.clone();
    packed.addons = vec![AddonGrant {
        plan: "team_pack".into(),
        quantity: 2,
        subscription_id: "sub_pack".into(),
        until: None,
    }];
    (packed.features, packed.limits) = grant(catalog.plan("pro").unwrap(), &packed.addons, catalog);
    let t0 = UnixTime::now().secs() - 10 * 86_400;
    write(&app, None, pro.clone(), t0).await;
    write(&app, Some(&pro), packed, t0 + 3600).await;
    let user = app.user.as_str();

    let before_t0 = UnixTime::from_secs(t0 - 1).to_rfc3339();
    let (status, before) = get(
        &app,
        &format!("/v1/entitlements?subject={user}&at={before_t0}"),
    )
    .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        (
            before["version"].clone(),
            before["entitlements"]["plan"].clone()
        ),
        (Value::Null, "free".into())
    );
    // The colon percent-encoded, as most clients send it.
    let at = UnixTime::from_secs(t0 + 1800)
        .to_rfc3339()
        .replace(':', "%3A");
    let (_, first) = get(
        &app,
        &format!("/v1/entitlements?subject={user}&at={at}&explain=true"),
    )
    .await;
    assert_eq!(first["version"], 1, "{first}");
    assert_eq!(first["entitlements"]["limits"]["agents"], 100);
    assert_eq!(
        first["explain"]["limits"]["agents"]["text"],
        "agents 100 = pro 100"
    );
    let (_, now) = get(
        &app,
        &format!("/v1/entitlements?subject={user}&explain=true"),
    )
    .await;
    assert_eq!(now["version"], 2);
    assert_eq!(
        now["explain"]["limits"]["agents"]["text"],
        "agents 110 = pro 100 + team_pack 5 × 2 (sub_pack)"
    );
    assert_eq!(
        now["provenance"]["reasons"],
        serde_json::json!(["addon_added"])
    );

    let (status, history) = get(&app, &format!("/v1/entitlements/history?subject={user}")).await;
    assert_eq!(status, 200, "{history}");
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(history["truncated"], false);
    let changed: Vec<&str> = versions[1]["provenance"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"addons") && changed.contains(&"limits.agents"),
        "{changed:?}"
    );
    // A window holding only the first.
    let to = UnixTime::from_secs(t0 + 60).to_rfc3339();
    let (_, early) = get(
        &app,
        &format!("/v1/entitlements/history?subject={user}&to={to}"),
    )
    .await;
    assert_eq!(early["versions"].as_array().unwrap().len(), 1);

    for (path, code) in [
        (format!("/v1/entitlements?subject={user}&at=yesterday"), "invalid_time"),
        (format!("/v1/entitlements?subject={user}&explain=yes"), "invalid_flag"),
        (format!("/v1/entitlements/history?subject={user}&from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z"), "invalid_time"),
        ("/v1/entitlements/history?subject=cus_1".to_owned(), "invalid_user_id"),
    ] {
        let (status, body) = get(&app, &path).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{path}");
    }
}

#[tokio::test]
async fn the_entitlements_read_names_the_limits_it_sets_in_the_catalogs_words() {
    let app = TestApp::spawn().await;
    app.on_plan("pro", "2099-01-01T00:00:00Z").await;
    let (status, body) = get(
        &app,
        &format!("/v1/entitlements?subject={}", app.user.as_str()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "pro");
    // `messages` has words in this catalog; `tokens` and `agents` have none (a catalog without [features] may
    // leave them out), so only `messages` is named.
    assert_eq!(
        body["words"]["limits"],
        serde_json::json!({"messages": {"name": "Messages", "unit": {"one": "message", "other": "messages"}}})
    );
    assert_eq!(body["words"]["features"], serde_json::json!({}));
    // A version read (`at`) is the stored history: no words.
    let at = UnixTime::now().to_rfc3339();
    let (status, body) = get(
        &app,
        &format!("/v1/entitlements?subject={}&at={at}", app.user.as_str()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["entitlements"].get("words").is_none());
}
