//! `ClerkClient` against the local fake Clerk (`scripts/fake_clerk.py`), which deep-merges metadata as Clerk
//! does, and against a listener that never answers.
use entitle_core::adapters::clerk_client::replacement_patch;
use entitle_core::adapters::ClerkClient;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{ClerkError, ClerkUsers};
use entitle_test_support::clerk::FakeClerk;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const USER: &str = "user_2kX9mQ4rT7";

fn client(fake: &FakeClerk) -> ClerkClient {
    ClerkClient::new(SecretString::from(fake.secret_key.clone()), &fake.base_url)
}

fn user() -> SubjectId {
    SubjectId::parse(USER).unwrap()
}

fn public_metadata(fake: &FakeClerk) -> Value {
    fake.user(USER).expect("the user exists")["public_metadata"].clone()
}

fn pro_billing() -> Value {
    json!({
        "plan": "pro",
        "status": "past_due",
        "features": ["export", "sso"],
        "limits": {"seats": 10, "projects": 50},
        "graceUntil": "2026-12-01T00:00:00Z",
    })
}

fn assert_unavailable(result: Result<(), ClerkError>) -> ClerkError {
    let error = result.expect_err("the call must fail");
    assert!(
        matches!(error, ClerkError::Unavailable(_)) && error.is_retryable(),
        "expected Unavailable, got {error:?}"
    );
    error
}

#[tokio::test]
async fn setting_billing_metadata_patches_the_users_public_metadata_and_keeps_other_keys() {
    let fake = FakeClerk::start();
    fake.create_user_with(json!({
        "id": USER,
        "public_metadata": {"role": "admin", "onboarding": {"done": true}},
        "private_metadata": {"crm": "42"},
    }));

    client(&fake)
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();

    let stored = fake.user(USER).unwrap();
    assert_eq!(
        stored["public_metadata"],
        json!({"role": "admin", "onboarding": {"done": true}, "billing": pro_billing()})
    );
    assert_eq!(stored["private_metadata"], json!({"crm": "42"}));
    let requests = fake.requests();
    let summary: Vec<Value> = requests
        .iter()
        .map(|r| json!([r["method"], r["path"], r["status"]]))
        .collect();
    assert_eq!(
        summary,
        [
            json!(["GET", format!("/v1/users/{USER}"), 200]),
            json!(["PATCH", format!("/v1/users/{USER}/metadata"), 200]),
        ]
    );
    // Only `billing` is sent: the other keys are Clerk's merge to keep, not ours to echo back.
    assert_eq!(
        requests[1]["body"],
        json!({"public_metadata": {"billing": pro_billing()}})
    );
}

#[tokio::test]
async fn replacing_billing_with_fewer_keys_leaves_no_stale_key() {
    let fake = FakeClerk::start();
    fake.create_user_with(json!({"id": USER, "public_metadata": {"role": "admin"}}));
    let clerk = client(&fake);
    clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();

    // Back on the free plan: one limit and no grace period left, the rest absent or null.
    let free = json!({
        "plan": "free",
        "status": "free",
        "features": [],
        "limits": {"seats": 1},
        "graceUntil": null,
    });
    clerk.set_billing_metadata(&user(), &free).await.unwrap();

    assert_eq!(
        public_metadata(&fake),
        json!({
            "role": "admin",
            "billing": {"plan": "free", "status": "free", "features": [], "limits": {"seats": 1}},
        })
    );
    // What went over the wire: every key of the new billing, and null for each old key it lacks.
    assert_eq!(
        fake.requests().last().unwrap()["body"]["public_metadata"]["billing"],
        json!({
            "plan": "free",
            "status": "free",
            "features": [],
            "limits": {"seats": 1, "projects": null},
            "graceUntil": null,
        })
    );
}

#[tokio::test]
async fn setting_the_billing_clerk_already_holds_writes_nothing() {
    let fake = FakeClerk::start();
    fake.create_user(USER);
    let clerk = client(&fake);
    clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();
    let mut with_a_null = pro_billing();
    with_a_null["periodEnd"] = Value::Null;
    clerk
        .set_billing_metadata(&user(), &with_a_null)
        .await
        .unwrap();

    let patches = fake
        .requests()
        .iter()
        .filter(|r| r["method"] == "PATCH")
        .count();
    assert_eq!(patches, 1);
}

#[tokio::test]
async fn null_billing_removes_it_and_keeps_the_rest() {
    let fake = FakeClerk::start();
    fake.create_user_with(json!({"id": USER, "public_metadata": {"role": "admin"}}));
    let clerk = client(&fake);
    clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();
    clerk
        .set_billing_metadata(&user(), &Value::Null)
        .await
        .unwrap();

    assert_eq!(public_metadata(&fake), json!({"role": "admin"}));
}

#[test]
fn the_replacement_patch_nulls_every_key_that_is_gone_at_any_depth() {
    let current =
        json!({"a": 1, "nested": {"keep": 1, "drop": {"x": 1}}, "list": [1, 2], "gone": "x"});
    let new = json!({"a": 2, "nested": {"keep": 1}, "list": [3], "fresh": {"y": null}});

    assert_eq!(
        replacement_patch(Some(&current), &new),
        json!({"a": 2, "nested": {"keep": 1, "drop": null}, "list": [3], "fresh": {"y": null}, "gone": null})
    );
    // Nothing to clear where nothing was stored, or where the old value was not an object.
    assert_eq!(replacement_patch(None, &new), new);
    assert_eq!(replacement_patch(Some(&json!("old")), &new), new);
}

#[tokio::test]
async fn an_unknown_user_is_rejected_with_404_and_is_not_retryable() {
    let fake = FakeClerk::start();
    let error = client(&fake)
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap_err();

    assert!(!error.is_retryable());
    let ClerkError::Rejected {
        status,
        code,
        message,
    } = error
    else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (404, "resource_not_found", "Resource not found")
    );
    assert!(fake.user(USER).is_none());
}

#[tokio::test]
async fn a_503_or_429_is_unavailable_and_the_retry_succeeds() {
    let fake = FakeClerk::start();
    fake.create_user(USER);
    let clerk = client(&fake);

    fake.fail_next(1, 503, "/v1/users");
    let error = assert_unavailable(clerk.set_billing_metadata(&user(), &pro_billing()).await);
    assert!(format!("{error:?}").contains("503"), "{error:?}");
    // Only the write fails: the read went through, and nothing was stored.
    // Rate-limited past the retries inside the call (Clerk's `Retry-After: 1` waited out twice).
    fake.fail_next(3, 429, &format!("/v1/users/{USER}/metadata"));
    let error = assert_unavailable(clerk.set_billing_metadata(&user(), &pro_billing()).await);
    assert!(format!("{error:?}").contains("429"), "{error:?}");
    assert_eq!(public_metadata(&fake), json!({}));

    clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();
    assert_eq!(public_metadata(&fake), json!({"billing": pro_billing()}));
}

#[tokio::test]
async fn a_rate_limited_write_waits_out_clerks_retry_after_and_goes_through() {
    let fake = FakeClerk::start();
    fake.create_user(USER);
    let clerk = client(&fake);
    fake.fail_next(1, 429, &format!("/v1/users/{USER}/metadata"));
    let started = Instant::now();
    clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();
    // The local Clerk answers `Retry-After: 1`, as Clerk does.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(public_metadata(&fake), json!({"billing": pro_billing()}));
    let writes = fake
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/metadata")))
        .count();
    assert_eq!(writes, 2, "the rate-limited write and its retry");
}

#[tokio::test]
async fn an_unreachable_clerk_is_unavailable_quickly() {
    // A port that was free a moment ago: nothing listens there, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = "sk_test_never_in_an_error";
    let clerk = ClerkClient::new(SecretString::from(key), format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let error = assert_unavailable(clerk.set_billing_metadata(&user(), &pro_billing()).await);

    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!format!("{error} {error:?}").contains(key));
}

#[tokio::test]
async fn a_clerk_that_does_not_answer_is_unavailable_after_the_timeout() {
    // Bound but never accepted: the kernel completes the handshake, the request is sent, nothing answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let clerk = ClerkClient::new(SecretString::from("sk_test_x"), base)
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = assert_unavailable(clerk.set_billing_metadata(&user(), &pro_billing()).await);

    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(
        std::error::Error::source(&error)
            .unwrap()
            .to_string()
            .contains("no answer"),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_request_carries_bearer_auth_json_and_the_user_agent() {
    let fake = FakeClerk::start();
    fake.create_user(USER);
    client(&fake)
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let user_agent = format!("entitle/{}", env!("CARGO_PKG_VERSION"));
    for request in &requests {
        assert_eq!(request["authorization"], "Bearer sk_test_entitle_fake");
        assert_eq!(request["userAgent"], user_agent.as_str());
    }
    let (get, patch) = (&requests[0], &requests[1]);
    assert_eq!(
        (&get["contentType"], &get["body"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(patch["contentType"], "application/json");
    assert!(patch["body"].is_object(), "the body is JSON: {patch}");
}

#[tokio::test]
async fn a_wrong_key_is_rejected_and_the_error_does_not_repeat_it() {
    let fake = FakeClerk::start();
    fake.create_user(USER);
    let key = "live_key_that_must_stay_secret";
    let clerk = ClerkClient::new(SecretString::from(key), &fake.base_url);
    let error = clerk
        .set_billing_metadata(&user(), &pro_billing())
        .await
        .unwrap_err();

    assert!(
        matches!(error, ClerkError::Rejected { status: 401, ref code, .. } if code == "authentication_invalid"),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(key));
    assert!(!format!("{clerk:?}").contains(key));
}

mod organizations {
    use super::*;
    use entitle_domain::ids::{OrgId, UserId};
    use entitle_domain::ports::OrganizationMembers;

    const ORG: &str = "org_2teamACME";

    fn org() -> OrgId {
        OrgId::parse(ORG).unwrap()
    }

    #[tokio::test]
    async fn a_members_permissions_come_from_clerks_membership_system_permissions_included() {
        let fake = FakeClerk::start();
        fake.create_organization(ORG, "Acme");
        for user in [
            "user_admin1",
            "user_member1",
            "user_biller1",
            "user_outsider1",
        ] {
            fake.create_user(user);
        }
        fake.add_member(ORG, "user_admin1", "org:admin");
        fake.add_member(ORG, "user_member1", "org:member");
        fake.add_member_with_permissions(
            ORG,
            "user_biller1",
            "org:billing",
            &["org:sys_billing:manage", "org:sys_billing:read"],
        );
        let client = client(&fake);
        let permissions = |user: &'static str| {
            let client = &client;
            async move {
                client
                    .permissions(&org(), &UserId::parse(user).unwrap())
                    .await
                    .unwrap()
            }
        };
        let admin = permissions("user_admin1").await.unwrap();
        assert!(admin.contains(&"org:sys_billing:manage".to_string()));
        let member = permissions("user_member1").await.unwrap();
        assert!(!member.contains(&"org:sys_billing:manage".to_string()));
        let biller = permissions("user_biller1").await.unwrap();
        assert!(biller.contains(&"org:sys_billing:manage".to_string()));
        assert_eq!(permissions("user_outsider1").await, None);
    }

    #[tokio::test]
    async fn the_seat_count_is_the_lists_total_not_a_page_of_it() {
        let fake = FakeClerk::start();
        fake.create_organization(ORG, "Acme");
        for n in 0..12 {
            let user = format!("user_m{n:02}");
            fake.create_user(&user);
            fake.add_member(ORG, &user, "org:member");
        }
        let client = client(&fake);
        assert_eq!(client.count(&org(), false).await.unwrap(), 12);
        let invitation = fake.invite(ORG, "new@example.com", "org:member");
        fake.invite(ORG, "other@example.com", "org:member");
        assert_eq!(client.count(&org(), true).await.unwrap(), 14);
        fake.revoke_invitation(ORG, invitation["id"].as_str().unwrap());
        fake.remove_member(ORG, "user_m03");
        assert_eq!(client.count(&org(), true).await.unwrap(), 12);
        assert_eq!(client.count(&org(), false).await.unwrap(), 11);
        // One request per list and count (six in all), never a walk through pages: the total comes from
        // total_count.
        let lists: Vec<String> = fake
            .requests()
            .into_iter()
            .filter_map(|r| r["path"].as_str().map(str::to_owned))
            .filter(|p| p.contains("/memberships") || p.contains("/invitations"))
            .collect();
        assert_eq!(lists.len(), 6, "{lists:?}");
    }

    #[tokio::test]
    async fn an_organizations_billing_mirror_is_its_own_public_metadata() {
        let fake = FakeClerk::start();
        fake.create_organization(ORG, "Acme");
        let client = client(&fake);
        let subject = SubjectId::parse(ORG).unwrap();
        client
            .set_billing_metadata(&subject, &json!({"plan": "team", "limits": {"seats": 20}}))
            .await
            .unwrap();
        let stored = fake.organization(ORG).unwrap();
        assert_eq!(stored["public_metadata"]["billing"]["plan"], "team");
        client
            .set_billing_metadata(&subject, &json!({"plan": "free"}))
            .await
            .unwrap();
        let stored = fake.organization(ORG).unwrap();
        assert_eq!(
            stored["public_metadata"]["billing"],
            json!({"plan": "free"})
        );
    }
}
