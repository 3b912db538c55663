//! `StripeClient` against the local fake Stripe (`scripts/fake_stripe.py`), and against a tiny canned HTTP
//! server for what the fake cannot show: the raw headers, a second page, a Stripe that never answers, a
//! proxy's page instead of JSON.
use entitle_core::stripe::client::{path_segment, STRIPE_VERSION};
use entitle_core::stripe::StripeClient;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{CustomerProfile, StripeCustomers, StripeError, StripeSubscriptions};
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn client(fake: &FakeStripe) -> StripeClient {
    StripeClient::new(SecretString::from(fake.api_key.clone()), &fake.base_url)
}

fn user() -> SubjectId {
    SubjectId::parse("user_2kX9mQ4rT7").unwrap()
}

fn last_request(fake: &FakeStripe) -> Value {
    fake.requests().pop().expect("the fake received a request")
}

fn assert_unavailable(result: Result<impl std::fmt::Debug, StripeError>) -> StripeError {
    let error = result.expect_err("the call must fail");
    assert!(
        matches!(error, StripeError::Unavailable(_)) && error.is_retryable(),
        "expected Unavailable, got {error:?}"
    );
    error
}

fn seed_subscription(fake: &FakeStripe, customer: &str, status: &str) -> String {
    fake.seed_subscription(json!({"customer": customer, "price": "price_pro", "status": status}))
        ["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_customer_is_created_with_the_clerk_user_id_in_its_metadata() {
    let fake = FakeStripe::start();
    let customer = client(&fake)
        .create_customer(&user(), "create-customer-user_2kX9mQ4rT7")
        .await
        .unwrap();

    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["id"], customer.as_str());
    assert_eq!(
        customers[0]["metadata"],
        json!({"clerkUserId": user().as_str()})
    );
    let request = last_request(&fake);
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/v1/customers");
    // Exactly this, so every retry under the key sends the same parameters.
    assert_eq!(
        request["params"],
        json!({"metadata": {"clerkUserId": user().as_str()}})
    );
    assert_eq!(request["idempotencyKey"], "create-customer-user_2kX9mQ4rT7");
    // The fake answers 401 unless `Authorization: Bearer sk_test_…` came along.
    assert_eq!(request["status"], 200);
}

#[tokio::test]
async fn creating_twice_with_the_same_idempotency_key_returns_the_same_customer_and_creates_one() {
    let fake = FakeStripe::start();
    let stripe = client(&fake);
    let first = stripe.create_customer(&user(), "key-1").await.unwrap();
    let second = stripe.create_customer(&user(), "key-1").await.unwrap();

    assert_eq!(first, second);
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(last_request(&fake)["replayed"], true);
}

#[tokio::test]
async fn a_concurrent_request_with_the_same_key_waits_for_the_first_and_gets_its_answer() {
    // The fake holds each request 300 ms, so the second arrives while the first still owns the key and is
    // answered 409; the client retries it after a pause and Stripe replays the first answer.
    let fake = FakeStripe::start_with_latency(300);
    let (stripe, user) = (client(&fake), user());
    let (a, b) = tokio::join!(
        stripe.create_customer(&user, "racing-key"),
        stripe.create_customer(&user, "racing-key"),
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(fake.customers().len(), 1);
    let statuses: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| r["status"].as_u64())
        .collect();
    assert!(
        statuses.contains(&Some(409)),
        "the race did happen: {statuses:?}"
    );
}

#[tokio::test]
async fn a_409_that_persists_is_unavailable_not_rejected() {
    let fake = FakeStripe::start();
    let stripe = client(&fake);
    fake.fail_next(4, 409, "POST", "/v1/customers");
    let error = assert_unavailable(stripe.create_customer(&user(), "busy-key").await);
    assert!(format!("{error:?}").contains("409"), "{error:?}");
    assert_eq!(fake.requests().len(), 4, "one try and three retries");
}

#[tokio::test]
async fn a_5xx_or_429_is_unavailable_and_retryable() {
    let fake = FakeStripe::start();
    let stripe = client(&fake);
    fake.fail_next(1, 500, "POST", "/v1/customers");
    assert_unavailable(stripe.create_customer(&user(), "key-1").await);
    fake.fail_next(1, 503, "POST", "/v1/customers");
    assert_unavailable(stripe.create_customer(&user(), "key-1").await);
    // Rate-limited past the retries inside the call (one try and two retries): unavailable, for the caller
    // to retry later.
    fake.fail_next(3, 429, "POST", "/v1/customers");
    let before = fake.requests().len();
    assert_unavailable(stripe.create_customer(&user(), "key-1").await);
    assert_eq!(fake.requests().len() - before, 3);
    assert!(fake.customers().is_empty());

    // Stripe does not keep 5xx or 429 answers under the key: the retry runs for real, once.
    let customer = stripe.create_customer(&user(), "key-1").await.unwrap();
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(fake.customers()[0]["id"], customer.as_str());
}

#[tokio::test]
async fn a_rate_limited_request_is_sent_again_after_a_backoff_under_the_same_key() {
    let fake = FakeStripe::start();
    let stripe = client(&fake);
    fake.fail_next(2, 429, "POST", "/v1/customers");
    let started = Instant::now();
    let customer = stripe.create_customer(&user(), "key-429").await.unwrap();
    // Two waits of exponential backoff (500 ms, then 1 s, each with up to 100 ms of jitter).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let sent: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/v1/customers")
        .collect();
    assert_eq!(
        sent.len(),
        3,
        "two rate-limited tries and the one that went through"
    );
    let keys: BTreeSet<&str> = sent
        .iter()
        .map(|r| r["idempotencyKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, BTreeSet::from(["key-429"]));
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(fake.customers()[0]["id"], customer.as_str());
}

#[tokio::test]
async fn a_4xx_is_rejected_with_stripes_code() {
    let fake = FakeStripe::start();
    let missing = StripeCustomerId::parse("cus_doesNotExist").unwrap();
    let profile = CustomerProfile {
        email: Some("ada@example.com".into()),
        name: None,
    };
    let error = client(&fake)
        .update_customer(&missing, &profile, "key-1")
        .await
        .unwrap_err();

    assert!(!error.is_retryable());
    let StripeError::Rejected {
        status,
        code,
        message,
    } = error
    else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(status, 404);
    assert_eq!(code, "resource_missing");
    assert_eq!(message, "No such customer: 'cus_doesNotExist'");
}

#[tokio::test]
async fn a_4xx_without_a_code_is_rejected_with_its_type() {
    let fake = FakeStripe::start();
    fake.fail_next(1, 400, "POST", "/v1/customers");
    let error = client(&fake)
        .create_customer(&user(), "key-1")
        .await
        .unwrap_err();

    let StripeError::Rejected { status, code, .. } = error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!((status, code.as_str()), (400, "invalid_request_error"));
}

#[tokio::test]
async fn a_wrong_key_is_rejected_and_the_error_does_not_repeat_it() {
    let fake = FakeStripe::start();
    let key = "live_key_that_must_stay_secret";
    let stripe = StripeClient::new(SecretString::from(key), &fake.base_url);
    let error = stripe.create_customer(&user(), "key-1").await.unwrap_err();

    assert!(matches!(error, StripeError::Rejected { status: 401, .. }));
    assert!(!format!("{error} {error:?}").contains(key));
    assert!(!format!("{stripe:?}").contains(key));
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    // A port that was free a moment ago: nothing listens there, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = "sk_test_never_in_an_error";
    let stripe = StripeClient::new(SecretString::from(key), format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let error = assert_unavailable(stripe.create_customer(&user(), "key-1").await);

    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!format!("{error:?}").contains(key));
}

#[tokio::test]
async fn a_stripe_that_does_not_answer_is_unavailable_after_the_timeout() {
    let silent = Canned::start(|_| None);
    let stripe = StripeClient::new(SecretString::from("sk_test_x"), &silent.base_url)
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = assert_unavailable(stripe.get("/v1/customers/cus_1").await);

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
async fn a_proxy_page_instead_of_json_is_unavailable_on_a_5xx_and_rejected_on_a_4xx() {
    let proxy = Canned::start(|request| {
        let status = if request.contains("/v1/gateway") {
            502
        } else if request.contains("/v1/ok") {
            200
        } else {
            403
        };
        Some((status, "<html>nope</html>".into()))
    });
    let stripe = StripeClient::new(SecretString::from("sk_test_x"), &proxy.base_url);

    assert_unavailable(stripe.get("/v1/gateway").await);
    // A 2xx that is not JSON may hide an effect that happened: retry it under the key.
    assert_unavailable(stripe.get("/v1/ok").await);
    let StripeError::Rejected {
        status,
        code,
        message,
    } = stripe.get("/v1/forbidden").await.unwrap_err()
    else {
        panic!("a 403 must be rejected");
    };
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (403, "http_403", "<html>nope</html>")
    );
}

#[tokio::test]
async fn every_request_carries_the_bearer_key_the_pinned_version_and_the_user_agent() {
    let recorder = Canned::start(|_| Some((200, r#"{"id":"cus_1","object":"customer"}"#.into())));
    let stripe = StripeClient::new(SecretString::from("sk_test_headers"), &recorder.base_url);
    stripe
        .post_form("/v1/customers", &[("name", "Ada L".into())], "post-key")
        .await
        .unwrap();
    stripe.get("/v1/customers/cus_1").await.unwrap();
    stripe
        .delete("/v1/customers/cus_1", "delete-key")
        .await
        .unwrap();

    let requests = recorder.requests();
    let [post, get, delete] = requests.as_slice() else {
        panic!("expected three requests, got {requests:?}");
    };
    assert!(
        post.starts_with("POST /v1/customers HTTP/1.1\r\n"),
        "{post}"
    );
    assert!(
        get.starts_with("GET /v1/customers/cus_1 HTTP/1.1\r\n"),
        "{get}"
    );
    assert!(
        delete.starts_with("DELETE /v1/customers/cus_1 HTTP/1.1\r\n"),
        "{delete}"
    );
    let user_agent = format!("entitle/{}", env!("CARGO_PKG_VERSION"));
    for request in &requests {
        assert_eq!(
            header(request, "authorization").as_deref(),
            Some("Bearer sk_test_headers")
        );
        assert_eq!(
            header(request, "stripe-version").as_deref(),
            Some(STRIPE_VERSION)
        );
        assert_eq!(header(request, "user-agent"), Some(user_agent.clone()));
    }
    assert_eq!(
        header(post, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(post.ends_with("\r\n\r\nname=Ada+L"), "{post}");
    assert_eq!(header(post, "idempotency-key").as_deref(), Some("post-key"));
    assert_eq!(
        header(delete, "idempotency-key").as_deref(),
        Some("delete-key")
    );
    assert_eq!(header(get, "idempotency-key"), None);
    assert_eq!(header(get, "content-type"), None);
}

#[tokio::test]
async fn update_sends_only_the_given_fields() {
    let fake = FakeStripe::start();
    let stripe = client(&fake);
    let customer = stripe.create_customer(&user(), "create").await.unwrap();
    let email_only = CustomerProfile {
        email: Some("ada@example.com".into()),
        name: None,
    };
    stripe
        .update_customer(&customer, &email_only, "update-1")
        .await
        .unwrap();

    let request = last_request(&fake);
    assert_eq!(request["path"], format!("/v1/customers/{customer}"));
    assert_eq!(request["params"], json!({"email": "ada@example.com"}));
    assert_eq!(request["idempotencyKey"], "update-1");

    let name_only = CustomerProfile {
        email: None,
        name: Some("Ada Lovelace".into()),
    };
    stripe
        .update_customer(&customer, &name_only, "update-2")
        .await
        .unwrap();
    assert_eq!(
        last_request(&fake)["params"],
        json!({"name": "Ada Lovelace"})
    );
    let stored = &fake.customers()[0];
    assert_eq!(
        (&stored["email"], &stored["name"]),
        (&json!("ada@example.com"), &json!("Ada Lovelace"))
    );
    assert_eq!(stored["metadata"], json!({"clerkUserId": user().as_str()}));
}

#[tokio::test]
async fn a_profile_with_nothing_to_change_makes_no_request() {
    let fake = FakeStripe::start();
    let customer = StripeCustomerId::parse("cus_anything").unwrap();
    client(&fake)
        .update_customer(&customer, &CustomerProfile::default(), "key-1")
        .await
        .unwrap();

    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn chargeable_subscriptions_skip_canceled_ones() {
    let fake = FakeStripe::start();
    fake.seed_price(json!({"id": "price_pro", "unit_amount": 4900}));
    let chargeable: BTreeSet<String> = ["active", "trialing", "past_due", "unpaid", "incomplete"]
        .into_iter()
        .map(|status| seed_subscription(&fake, "cus_ada", status))
        .collect();
    seed_subscription(&fake, "cus_ada", "canceled");
    seed_subscription(&fake, "cus_ada", "incomplete_expired");
    seed_subscription(&fake, "cus_someone_else", "active");

    let customer = StripeCustomerId::parse("cus_ada").unwrap();
    let found = client(&fake)
        .chargeable_subscriptions(&customer)
        .await
        .unwrap();

    assert_eq!(found.iter().cloned().collect::<BTreeSet<_>>(), chargeable);
    assert_eq!(found.len(), chargeable.len());
    let request = last_request(&fake);
    assert_eq!(request["method"], "GET");
    assert_eq!(request["query"], "customer=cus_ada&status=all&limit=100");
}

#[tokio::test]
async fn more_than_a_page_of_subscriptions_is_followed_with_starting_after() {
    let stripe_pages = Canned::start(|request| {
        let page = if request.contains("starting_after=sub_2 ") {
            json!({"object": "list", "url": "/v1/subscriptions", "has_more": false, "data": [
                subscription("sub_3", "past_due"),
            ]})
        } else {
            json!({"object": "list", "url": "/v1/subscriptions", "has_more": true, "data": [
                subscription("sub_1", "active"),
                subscription("sub_2", "canceled"),
            ]})
        };
        Some((200, page.to_string()))
    });
    let stripe = StripeClient::new(SecretString::from("sk_test_x"), &stripe_pages.base_url);
    let customer = StripeCustomerId::parse("cus_ada").unwrap();

    assert_eq!(
        stripe.chargeable_subscriptions(&customer).await.unwrap(),
        ["sub_1", "sub_3"]
    );
    let requests = stripe_pages.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].starts_with(
        "GET /v1/subscriptions?customer=cus_ada&status=all&limit=100&starting_after=sub_2 "
    ));
}

#[tokio::test]
async fn cancel_at_period_end_keeps_the_subscription_until_the_period_ends() {
    let fake = FakeStripe::start();
    fake.seed_price(json!({"id": "price_pro"}));
    let id = seed_subscription(&fake, "cus_ada", "active");
    let stripe = client(&fake);
    stripe
        .cancel_subscription(&id, true, "cancel-1")
        .await
        .unwrap();

    let request = last_request(&fake);
    assert_eq!(
        (&request["method"], &request["path"]),
        (&json!("POST"), &json!(format!("/v1/subscriptions/{id}")))
    );
    assert_eq!(request["params"], json!({"cancel_at_period_end": "true"}));
    assert_eq!(request["idempotencyKey"], "cancel-1");
    let subscription = stripe
        .get(&format!("/v1/subscriptions/{id}"))
        .await
        .unwrap();
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["cancel_at_period_end"], true);
}

#[tokio::test]
async fn cancel_now_ends_the_subscription() {
    let fake = FakeStripe::start();
    fake.seed_price(json!({"id": "price_pro"}));
    let id = seed_subscription(&fake, "cus_ada", "active");
    let stripe = client(&fake);
    stripe
        .cancel_subscription(&id, false, "cancel-1")
        .await
        .unwrap();

    let request = last_request(&fake);
    assert_eq!(
        (&request["method"], &request["path"]),
        (&json!("DELETE"), &json!(format!("/v1/subscriptions/{id}")))
    );
    assert_eq!(request["idempotencyKey"], "cancel-1");
    let subscription = stripe
        .get(&format!("/v1/subscriptions/{id}"))
        .await
        .unwrap();
    assert_eq!(subscription["status"], "canceled");
    let customer = StripeCustomerId::parse("cus_ada").unwrap();
    assert!(stripe
        .chargeable_subscriptions(&customer)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn canceling_an_already_canceled_subscription_succeeds() {
    let fake = FakeStripe::start();
    fake.seed_price(json!({"id": "price_pro"}));
    let id = seed_subscription(&fake, "cus_ada", "active");
    let stripe = client(&fake);
    stripe
        .cancel_subscription(&id, false, "cancel-1")
        .await
        .unwrap();

    // A new key, as a second webhook delivery or another function would use: Stripe answers 404.
    stripe
        .cancel_subscription(&id, false, "cancel-2")
        .await
        .unwrap();
    // Asking a canceled subscription to end at its period end: Stripe answers 400; it has ended anyway.
    stripe
        .cancel_subscription(&id, true, "cancel-3")
        .await
        .unwrap();
    let statuses: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [200, 404, 200, 400, 200]);
}

#[tokio::test]
async fn canceling_a_subscription_that_never_existed_is_rejected() {
    let fake = FakeStripe::start();
    let error = client(&fake)
        .cancel_subscription("sub_neverExisted", false, "cancel-1")
        .await
        .unwrap_err();

    let StripeError::Rejected { status, code, .. } = error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!((status, code.as_str()), (404, "resource_missing"));
}

#[tokio::test]
async fn an_id_from_data_stays_one_path_segment() {
    let fake = FakeStripe::start();
    let error = client(&fake)
        .cancel_subscription("sub_1/../../customers?x=1#y", false, "cancel-1")
        .await
        .unwrap_err();

    assert!(matches!(error, StripeError::Rejected { status: 404, .. }));
    assert_eq!(
        fake.requests()[0]["path"],
        "/v1/subscriptions/sub_1%2F%2E%2E%2F%2E%2E%2Fcustomers%3Fx%3D1%23y"
    );
    assert_eq!(path_segment("sub_1AbC-x~"), "sub_1AbC-x~");
    assert_eq!(path_segment("a b/é"), "a%20b%2F%C3%A9");
}

/// A subscription of `cus_ada` as Stripe's API reference documents it (every field the client's typed
/// parsing requires), for the canned pages.
fn subscription(id: &str, status: &str) -> Value {
    let price = json!({
        "id": "price_pro", "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": 1_760_000_000, "currency": "usd", "livemode": false, "lookup_key": "pro_monthly",
        "metadata": {}, "nickname": null, "product": "prod_pro",
        "recurring": {"interval": "month", "interval_count": 1, "meter": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "type": "recurring", "unit_amount": 4900, "unit_amount_decimal": "4900"
    });
    let plan = json!({
        "id": "price_pro", "object": "plan", "active": true, "amount": 4900, "billing_scheme": "per_unit",
        "created": 1_760_000_000, "currency": "usd", "interval": "month", "interval_count": 1,
        "livemode": false, "metadata": {}, "product": "prod_pro", "usage_type": "licensed"
    });
    json!({
        "id": id, "object": "subscription", "automatic_tax": {"enabled": false, "liability": null},
        "billing_cycle_anchor": 1_760_000_000, "billing_mode": {"type": "classic"}, "billing_schedules": [],
        "cancel_at_period_end": false, "collection_method": "charge_automatically", "created": 1_760_000_000,
        "currency": "usd", "customer": "cus_ada", "discounts": [],
        "invoice_settings": {"issuer": {"type": "self"}},
        "items": {"object": "list", "url": format!("/v1/subscription_items?subscription={id}"),
                  "has_more": false, "data": [{
            "id": format!("si_{id}"), "object": "subscription_item", "created": 1_760_000_000,
            "current_period_end": 1_762_592_000, "current_period_start": 1_760_000_000, "discounts": [],
            "metadata": {}, "plan": plan, "price": price, "quantity": 1, "subscription": id, "tax_rates": []
        }]},
        "livemode": false, "metadata": {}, "start_date": 1_760_000_000, "status": status
    })
}

/// What the fake Stripe cannot do: record each raw request, and answer with `answer(request)` — (status,
/// body), or `None` to read the request and never answer. Every answer closes its connection.
struct Canned {
    base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

type Answer = dyn Fn(&str) -> Option<(u16, String)> + Send + Sync;

impl Canned {
    fn start(answer: impl Fn(&str) -> Option<(u16, String)> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let answer: Arc<Answer> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                std::thread::spawn(move || serve(stream, &*answer, &log));
            }
        });
        Self { base_url, requests }
    }

    /// Each request as `request line + headers + blank line + body`.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, answer: &Answer, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        request.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = header(&request, "content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    request.push_str(&String::from_utf8_lossy(&body));
    log.lock().unwrap().push(request.clone());
    match answer(&request) {
        Some((status, body)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Canned\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        None => std::thread::sleep(Duration::from_secs(60)),
    }
}

/// A header's value in a raw request (hyper sends names in lower case; compare without case anyway).
fn header(request: &str, name: &str) -> Option<String> {
    let head = request.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
