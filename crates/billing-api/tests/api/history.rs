//! `GET /entitlements/history` against the local AWS: a billing page's timeline — the signed-in user's
//! versions (written as the processor writes them: the version and its history item in one transaction), or
//! their active organization's for any member; a window by `from`/`to`; bad instants refused.
use crate::helpers::{call, TestApp};
use entitle_domain::entitlements::history::{
    catalog_version, differences, explain, reasons, Provenance,
};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{Appended, EntitlementStore, SaveOutcome};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;

/// Writes `next` over `previous` (version `previous_version`) at `at`, with its history item.
async fn write(
    app: &TestApp,
    previous: Option<(&Entitlements, u64)>,
    mut next: Entitlements,
    at: i64,
) {
    let catalog = &app.deps.catalog;
    next.updated_at = Some(UnixTime::from_secs(at).to_rfc3339());
    let before = previous.map(|(e, _)| e);
    let provenance = Provenance {
        cause: None,
        previous_version: previous.map(|(_, v)| v),
        catalog: catalog_version(catalog),
        previous_catalog: None,
        items: Vec::new(),
        grace: None,
        reasons: reasons(before, &next, false),
        changes: differences(before, &next),
        explain: explain(&next, catalog),
    };
    let appended = Appended {
        provenance: &provenance,
        expires_at: UnixTime::from_secs(at + 400 * 86_400),
    };
    let outcome = app
        .entitlements
        .save_version(
            &next,
            previous.map(|(_, v)| v),
            before,
            None,
            Some(appended),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, SaveOutcome::Saved { .. }), "{outcome:?}");
}

/// A life of two versions for `subject`: starter, then canceling; returns when each applied.
async fn life(app: &TestApp, subject: &SubjectId) -> (i64, i64) {
    let catalog = &app.deps.catalog;
    let t0 = UnixTime::now().secs() - 3_600;
    let mut starter = Entitlements::on_plan(
        subject.clone(),
        catalog.plan("starter").unwrap(),
        Status::Active,
    );
    starter.subscription_id = Some("sub_1".into());
    write(app, None, starter.clone(), t0).await;
    let mut canceling = starter.clone();
    canceling.status = Status::Canceling;
    canceling.period_end = Some(UnixTime::from_secs(t0 + 86_400).to_rfc3339());
    write(app, Some((&starter, 1)), canceling, t0 + 600).await;
    (t0, t0 + 600)
}

#[tokio::test]
async fn the_signed_in_user_reads_their_timeline_and_a_window_of_it() {
    let app = TestApp::spawn().await;
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let (t0, t1) = life(&app, &user).await;

    let reply = app.call("GET", "/entitlements/history", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["subject"], app.user_id.as_str());
    let versions = reply.body["versions"].as_array().unwrap();
    let seen: Vec<_> = versions
        .iter()
        .map(|v| (v["version"].as_u64(), v["provenance"]["reasons"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(1), serde_json::json!(["plan_changed"])),
            (Some(2), serde_json::json!(["canceled"]))
        ]
    );
    assert_eq!(versions[1]["entitlements"]["status"], "canceling");
    assert_eq!(reply.body["truncated"], false);

    // Only the versions applied inside the window.
    let from = UnixTime::from_secs(t0 + 1).to_rfc3339().replace(':', "%3A");
    let to = UnixTime::from_secs(t1 + 1).to_rfc3339();
    let window = app
        .call(
            "GET",
            &format!("/entitlements/history?from={from}&to={to}"),
            None,
        )
        .await;
    assert_eq!(window.status, 200, "{}", window.body);
    assert_eq!(window.body["versions"].as_array().unwrap().len(), 1);
    assert_eq!(window.body["versions"][0]["version"], 2);

    for query in ["from=yesterday", "to=2026-13-01T00:00:00Z"] {
        let bad = app
            .call("GET", &format!("/entitlements/history?{query}"), None)
            .await;
        assert_eq!(
            (bad.status, bad.body["error"]["code"].as_str()),
            (400, Some("invalid_time")),
            "{query}"
        );
    }
    let backwards = format!(
        "/entitlements/history?from={to}&to={}",
        UnixTime::from_secs(t0).to_rfc3339()
    );
    let bad = app.call("GET", &backwards, None).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn a_member_reads_their_active_organizations_timeline() {
    let app = TestApp::spawn().await;
    let org = SubjectId::parse(unique_id("org_")).unwrap();
    life(&app, &org).await;
    let token = app.org_token(&unique_id("user_"), org.as_str(), "member");
    let reply = call(&app.deps, "GET", "/entitlements/history", None, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["subject"], org.as_str());
    assert_eq!(reply.body["versions"].as_array().unwrap().len(), 2);
    // The user's own timeline is not the organization's.
    let own = app.call("GET", "/entitlements/history", None).await;
    assert_eq!(own.body["versions"], serde_json::json!([]));
}
