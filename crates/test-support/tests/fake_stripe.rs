//! The fake Stripe answers like Stripe: form-encoded requests, Stripe's objects and errors, idempotency.
use entitle_test_support::stripe::FakeStripe;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;

/// What the fake answered to one raw request.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request as the production client sends it: `Authorization: Bearer <key>` (unless `key` is `None`),
/// an optional `Idempotency-Key` and a form-encoded body.
fn call(
    stripe: &FakeStripe,
    method: &str,
    path: &str,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    form: &[(&str, &str)],
) -> Reply {
    let port = stripe.base_url.rsplit(':').next().unwrap();
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head += &format!("Authorization: Bearer {key}\r\n");
    }
    if let Some(idempotency_key) = idempotency_key {
        head += &format!("Idempotency-Key: {idempotency_key}\r\n");
    }
    head += &format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stream.write_all((head + &body).as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        json: serde_json::from_str(body).unwrap(),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(
    stripe: &FakeStripe,
    path: &str,
    idempotency_key: Option<&str>,
    form: &[(&str, &str)],
) -> Reply {
    call(
        stripe,
        "POST",
        path,
        Some(&stripe.api_key),
        idempotency_key,
        form,
    )
}

fn get(stripe: &FakeStripe, path: &str) -> Reply {
    call(stripe, "GET", path, Some(&stripe.api_key), None, &[])
}

const USER_1: &[(&str, &str)] = &[
    ("email", "ada@example.com"),
    ("metadata[clerkUserId]", "user_1"),
];

#[test]
fn creating_a_customer_returns_a_cus_id_with_its_metadata() {
    let stripe = FakeStripe::start();
    let reply = post(&stripe, "/v1/customers", None, USER_1);
    assert_eq!(reply.status, 200);
    let customer = &reply.json;
    assert!(customer["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["livemode"], false);
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["metadata"], json!({"clerkUserId": "user_1"}));
    assert_eq!(
        get(
            &stripe,
            &format!("/v1/customers/{}", customer["id"].as_str().unwrap())
        )
        .json,
        *customer
    );
    assert_eq!(stripe.customers(), vec![customer.clone()]);
}

#[test]
fn a_customer_is_found_by_searching_its_metadata() {
    let stripe = FakeStripe::start();
    let created = post(&stripe, "/v1/customers", None, USER_1).json;
    post(
        &stripe,
        "/v1/customers",
        None,
        &[("metadata[clerkUserId]", "user_2")],
    );
    let query = encode("metadata['clerkUserId']:'user_1'");
    let found = get(&stripe, &format!("/v1/customers/search?query={query}")).json;
    assert_eq!(found["object"], "search_result");
    assert_eq!(found["data"], json!([created]));
}

#[test]
fn the_same_idempotency_key_with_the_same_params_replays_the_first_customer() {
    let stripe = FakeStripe::start();
    let first = post(&stripe, "/v1/customers", Some("key-1"), USER_1);
    let again = post(&stripe, "/v1/customers", Some("key-1"), USER_1);
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(first.header("Idempotent-Replayed"), None);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.json, first.json);
    assert_eq!(stripe.customers().len(), 1);
    let log = stripe.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["replayed"], true);
    assert_eq!(log[1]["idempotencyKey"], "key-1");
    assert_eq!(
        log[1]["params"],
        json!({"email": "ada@example.com", "metadata": {"clerkUserId": "user_1"}})
    );
}

#[test]
fn the_same_idempotency_key_with_other_params_is_an_idempotency_error() {
    let stripe = FakeStripe::start();
    post(&stripe, "/v1/customers", Some("key-1"), USER_1);
    let reply = post(
        &stripe,
        "/v1/customers",
        Some("key-1"),
        &[("metadata[clerkUserId]", "user_2")],
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["error"]["type"], "idempotency_error");
    assert!(reply.json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Keys for idempotent requests can only be used with the same parameters"));
    assert_eq!(stripe.customers().len(), 1);
}

#[test]
fn a_key_still_in_use_by_a_running_request_is_a_409() {
    let stripe = FakeStripe::start_with_latency(300);
    let replies = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| post(&stripe, "/v1/customers", Some("key-1"), USER_1).status))
            .collect();
        let mut statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        statuses.sort();
        statuses
    });
    assert_eq!(replies, vec![200, 409]);
    assert_eq!(stripe.customers().len(), 1);
}

#[test]
fn an_unknown_customer_is_a_404_resource_missing_in_stripes_error_shape() {
    let stripe = FakeStripe::start();
    let reply = get(&stripe, "/v1/customers/cus_doesnotexist1");
    assert_eq!(reply.status, 404);
    let error = &reply.json["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "resource_missing");
    assert_eq!(error["message"], "No such customer: 'cus_doesnotexist1'");
    assert_eq!(error["param"], "id");
}

#[test]
fn an_injected_500_is_not_stored_under_its_idempotency_key() {
    let stripe = FakeStripe::start();
    stripe.fail_next(1, 500, "POST", "/v1/customers");
    let failed = post(&stripe, "/v1/customers", Some("key-1"), USER_1);
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json["error"]["type"], "api_error");
    assert!(stripe.customers().is_empty());
    let retried = post(&stripe, "/v1/customers", Some("key-1"), USER_1);
    assert_eq!(retried.status, 200);
    assert_eq!(retried.header("Idempotent-Replayed"), None);
    assert_eq!(stripe.customers().len(), 1);
    let statuses: Vec<_> = stripe
        .requests()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(500), json!(200)]);
}

#[test]
fn a_missing_or_invalid_api_key_is_401() {
    let stripe = FakeStripe::start();
    for key in [None, Some("sk_live_not_a_test_key"), Some("nonsense")] {
        let reply = call(&stripe, "POST", "/v1/customers", key, None, USER_1);
        assert_eq!(reply.status, 401, "key {key:?}");
        assert_eq!(reply.json["error"]["type"], "invalid_request_error");
    }
    assert!(stripe.customers().is_empty());
}

#[test]
fn a_checkout_session_with_a_seeded_price_has_a_checkout_url_and_its_line_items() {
    let stripe = FakeStripe::start();
    stripe.seed_price(json!({"id": "price_starter", "lookup_key": "starter_monthly", "unit_amount": 4900,
                             "currency": "usd", "recurring": {"interval": "month"}, "product": "prod_starter"}));
    let customer = post(&stripe, "/v1/customers", None, USER_1).json;
    let session = post(
        &stripe,
        "/v1/checkout/sessions",
        Some("checkout-1"),
        &[
            ("mode", "subscription"),
            ("customer", customer["id"].as_str().unwrap()),
            ("client_reference_id", "user_1"),
            ("line_items[0][price]", "price_starter"),
            ("line_items[0][quantity]", "2"),
            ("success_url", "https://app.example.com/ok"),
            ("cancel_url", "https://app.example.com/cancel"),
            ("subscription_data[metadata][userId]", "user_1"),
        ],
    );
    assert_eq!(session.status, 200);
    let id = session.json["id"].as_str().unwrap();
    assert!(id.starts_with("cs_test_"));
    assert_eq!(session.json["object"], "checkout.session");
    assert_eq!(session.json["status"], "open");
    assert_eq!(session.json["amount_total"], 9800);
    assert!(session.json["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));

    let items = get(&stripe, &format!("/v1/checkout/sessions/{id}/line_items")).json;
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["price"]["id"], "price_starter");
    assert_eq!(items["data"][0]["price"]["lookup_key"], "starter_monthly");
    assert_eq!(items["data"][0]["quantity"], 2);
}

#[test]
fn a_checkout_session_with_an_unknown_price_is_a_400_naming_the_line_item() {
    let stripe = FakeStripe::start();
    let reply = post(
        &stripe,
        "/v1/checkout/sessions",
        None,
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", "price_nope"),
            ("line_items[0][quantity]", "1"),
        ],
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["error"]["code"], "resource_missing");
    assert_eq!(reply.json["error"]["param"], "line_items[0][price]");
}

#[test]
fn a_seeded_subscription_is_listed_and_can_be_canceled_at_period_end_then_now() {
    let stripe = FakeStripe::start();
    stripe.seed_price(json!({"id": "price_pro", "unit_amount": 9900}));
    let customer = post(&stripe, "/v1/customers", None, USER_1).json;
    let customer_id = customer["id"].as_str().unwrap();
    let seeded = stripe.seed_subscription(json!({"customer": customer_id, "price": "price_pro",
                                                 "metadata": {"userId": "user_1"},
                                                 "current_period_end": 1_790_000_000}));
    let sub_id = seeded["id"].as_str().unwrap();
    assert_eq!(
        seeded["items"]["data"][0]["current_period_end"],
        1_790_000_000
    );
    assert_eq!(seeded["items"]["data"][0]["price"]["id"], "price_pro");

    let listed = get(
        &stripe,
        &format!("/v1/subscriptions?customer={customer_id}&status=all"),
    )
    .json;
    assert_eq!(listed["data"], json!([seeded]));

    let path = format!("/v1/subscriptions/{sub_id}");
    let updated = post(&stripe, &path, None, &[("cancel_at_period_end", "true")]).json;
    assert_eq!(updated["status"], "active");
    assert_eq!(updated["cancel_at_period_end"], true);

    let canceled = call(&stripe, "DELETE", &path, Some(&stripe.api_key), None, &[]).json;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["ended_at"].is_i64());
    let active = get(
        &stripe,
        &format!("/v1/subscriptions?customer={customer_id}&status=active"),
    )
    .json;
    assert_eq!(active["data"], json!([]));
}
