//! A customer's life in twelve steps: nine of billing (with cancel, resume and a previewed plan change),
//! then three of usage through usage-api, as the product's server would call it. Each step does what
//! Stripe, Clerk or the user's browser would do —
//! Stripe's state is set in the fake Stripe first, as it would be when Stripe sends the event — then lets
//! the events flow (webhook → SNS → entitlement queue → processor) and checks what the user is now entitled
//! to.
use crate::expect::{self, Expected};
use crate::wire::{self, Reply, StripeDelivery};
use crate::world::{World, APP_ORIGIN, JWT_SECRET};
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures;
use serde_json::{json, Value};
use std::time::Duration;

// The ids the fixtures use, swapped for the demo's own.
const FIXTURE_USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
const FIXTURE_CUSTOMER: &str = "cus_PqR5tUvWxYz012";
const FIXTURE_SUBSCRIPTION: &str = "sub_1QxR7tKx7Yz2LmNoA8fE3kWd";
const FIXTURE_CREDITS_SESSION: &str =
    "cs_test_b1Ihftp0O4Lq9suBPqkXuTQbmDZLr2mJSU4MAwW2mn0Le3dhosAaOBbqXG";

// The catalog's prices (config/plans.toml).
const STARTER_PRICE: &str = "price_local_starter_monthly";
const PRO_PRICE: &str = "price_local_pro_monthly";

const GRACE: Duration =
    Duration::from_secs(entitle_app::processor::deps::DEFAULT_GRACE_DAYS * 86_400);

struct Story {
    world: World,
    user: String,
    token: String,
    /// Set by the sign-up.
    customer: String,
    subscription: String,
    /// The subscription's current period end, as Stripe reports it.
    period_end: UnixTime,
    steps: usize,
}

/// Plays the story; the number of steps, or what went wrong.
pub async fn run() -> Result<usize, String> {
    let world = World::start().await?;
    let user = fixtures::unique_id("user_demo");
    let now = UnixTime::now();
    println!(
        "demo: user {user}; local AWS {}, fake Stripe {}, fake Clerk {}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        world.stripe.base_url,
        world.clerk.base_url
    );
    let mut story = Story {
        token: crate::token::session_token(&user, JWT_SECRET, now),
        subscription: fixtures::unique_id("sub_demo"),
        period_end: now.plus(Duration::from_secs(30 * 86_400)),
        customer: String::new(),
        world,
        user,
        steps: 0,
    };
    expect::header();
    story.sign_up().await?;
    story.checkout().await?;
    story.subscription_created().await?;
    story.cancel_and_resume().await?;
    story.upgrade().await?;
    story.failed_payment().await?;
    story.payment().await?;
    story.cancel().await?;
    story.credit_pack().await?;
    story.messages_until_refused().await?;
    story.hold_committed_for_less().await?;
    story.credits_spent_to_zero().await?;
    Ok(story.steps)
}

impl Story {
    /// 1. Clerk announces a new user: clerk-webhook creates their one Stripe customer.
    async fn sign_up(&mut self) -> Result<(), String> {
        // The processor mirrors entitlements into this Clerk user; Clerk answers 404 for unknown users.
        self.world.clerk.create_user_with(json!({
            "id": self.user, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
        }));
        let mut event = fixtures::json("clerk/user.created.json");
        event["data"]["id"] = self.user.clone().into();
        event["timestamp"] = (UnixTime::now().secs() * 1000).into();
        let reply = wire::clerk_webhook(&self.world, &event.to_string()).await;
        received("clerk-webhook", "user.created", &reply)?;
        let events = wire::pump(&self.world).await?;
        let user = SubjectId::parse(self.user.as_str()).map_err(|e| e.to_string())?;
        let link = self
            .world
            .billing_api
            .customers
            .get(&user)
            .await
            .map_err(|e| format!("reading the customers table: {e}"))?;
        self.customer = link
            .and_then(|l| l.customer)
            .map(|c| c.as_str().to_owned())
            .ok_or("sign up: the customers table links no Stripe customer to the user")?;
        let in_stripe = self
            .world
            .stripe
            .customers()
            .into_iter()
            .filter(|c| c["metadata"]["clerkUserId"] == self.user.as_str())
            .count();
        if in_stripe != 1 {
            return Err(format!(
                "sign up: Stripe holds {in_stripe} customers for the user, expected 1"
            ));
        }
        let detail = format!(
            "Stripe customer {} created and linked; processor got {}",
            self.customer,
            list(&events)
        );
        self.observe("sign up", Expected::free(0, false), &detail)
            .await
    }

    /// 2. The user starts a Checkout for the Starter plan.
    async fn checkout(&mut self) -> Result<(), String> {
        let reply = self.checkout_session("starter_monthly", 1).await?;
        let url = reply["url"]
            .as_str()
            .ok_or("POST /checkout answered without a session url")?;
        let detail = format!("POST /checkout starter_monthly -> session {url}");
        self.observe("checkout", Expected::free(0, false), &detail)
            .await
    }

    /// 3. They pay: Stripe creates the subscription.
    async fn subscription_created(&mut self) -> Result<(), String> {
        self.seed(STARTER_PRICE, "active", false);
        let events = self
            .stripe_event("customer.subscription.created", "active", false)
            .await?;
        let expected = Expected::paid("starter", "active", &self.period_end.to_rfc3339());
        self.observe("subscription created", expected, &events)
            .await
    }

    /// 4. From the product's own buttons: cancel at the period end, then resume (routes change Stripe).
    async fn cancel_and_resume(&mut self) -> Result<(), String> {
        let period_end = self.period_end.to_rfc3339();
        let canceled = self
            .subscription_route("cancel", json!({"atPeriodEnd": true}))
            .await?;
        if canceled["status"] != "canceling" {
            return Err(format!("POST /subscription/cancel answered {canceled}"));
        }
        let events = self
            .stripe_event("customer.subscription.updated", "active", true)
            .await?;
        let number = self.steps + 1;
        let detail = format!("POST /subscription/cancel -> canceling; {events}");
        let canceling = Expected::paid("starter", "canceling", &period_end);
        self.check(&format!("{number}a"), "cancel (API)", canceling, &detail)
            .await?;
        let resumed = self.subscription_route("resume", json!({})).await?;
        if resumed["status"] != "active" {
            return Err(format!("POST /subscription/resume answered {resumed}"));
        }
        let events = self
            .stripe_event("customer.subscription.updated", "active", false)
            .await?;
        self.steps = number;
        let detail = format!("POST /subscription/resume -> active; {events}");
        let active = Expected::paid("starter", "active", &period_end);
        self.check(&format!("{number}b"), "resume (API)", active, &detail)
            .await
    }

    /// 5. They move up to Professional: the price of the change first, then the change itself.
    async fn upgrade(&mut self) -> Result<(), String> {
        let preview = self
            .subscription_route("change", json!({"price": "pro_monthly", "preview": true}))
            .await?;
        let next_invoice = preview["preview"]["nextInvoiceAmount"].clone();
        let changed = self
            .subscription_route("change", json!({"price": "pro_monthly"}))
            .await?;
        if changed["plan"] != "professional" {
            return Err(format!("POST /subscription/change answered {changed}"));
        }
        let events = self
            .stripe_event("customer.subscription.updated", "active", false)
            .await?;
        let detail = format!(
            "POST /subscription/change pro_monthly: preview next invoice {next_invoice}, then changed; {events}"
        );
        let expected = Expected::paid("professional", "active", &self.period_end.to_rfc3339());
        self.observe("upgrade", expected, &detail).await
    }

    /// 6. A renewal payment fails: the plan is kept for the grace period, counted from the failure.
    async fn failed_payment(&mut self) -> Result<(), String> {
        self.seed(PRO_PRICE, "past_due", false);
        let failed_at = UnixTime::now();
        let event = self.delivery("invoice.payment_failed", failed_at, |_| {});
        let events = self.deliver(&event).await?;
        let mut expected =
            Expected::paid("professional", "past_due", &self.period_end.to_rfc3339());
        expected.grace_until = Some(failed_at.plus(GRACE).to_rfc3339());
        self.observe("failed payment", expected, &events).await
    }

    /// 7. The retry succeeds: the grace period is over.
    async fn payment(&mut self) -> Result<(), String> {
        self.seed(PRO_PRICE, "active", false);
        let event = self.delivery("invoice.paid", UnixTime::now(), |_| {});
        let events = self.deliver(&event).await?;
        let expected = Expected::paid("professional", "active", &self.period_end.to_rfc3339());
        self.observe("payment", expected, &events).await
    }

    /// 8. They cancel: the plan runs to the end of the period paid for, then Stripe ends the subscription.
    async fn cancel(&mut self) -> Result<(), String> {
        self.seed(PRO_PRICE, "active", true);
        let events = self
            .stripe_event("customer.subscription.updated", "active", true)
            .await?;
        let canceling = Expected::paid("professional", "canceling", &self.period_end.to_rfc3339());
        let number = self.steps + 1;
        self.check(&format!("{number}a"), "cancel", canceling, &events)
            .await?;
        self.seed(PRO_PRICE, "canceled", false);
        let events = self
            .stripe_event("customer.subscription.deleted", "canceled", false)
            .await?;
        self.steps = number;
        let detail = format!("{events} (the period is over)");
        self.check(&format!("{number}b"), "", Expected::free(0, true), &detail)
            .await
    }

    /// 9. They buy two 1,000-credit packs: a one-time Checkout, paid.
    async fn credit_pack(&mut self) -> Result<(), String> {
        let session = self.checkout_session("credits_1000", 2).await?;
        let session_id = session["sessionId"]
            .as_str()
            .ok_or("POST /checkout answered without a sessionId")?
            .to_owned();
        let event = StripeDelivery::from_fixture(
            "checkout.session.completed.payment",
            &[
                (FIXTURE_CREDITS_SESSION, session_id.as_str()),
                (FIXTURE_CUSTOMER, self.customer.as_str()),
                (FIXTURE_USER, self.user.as_str()),
            ],
            UnixTime::now(),
            |event| event["data"]["object"]["payment_status"] = "paid".into(),
        );
        let events = self.deliver(&event).await?;
        // Stripe retries a delivery it thinks failed: the second copy must change nothing.
        let replay = wire::stripe_webhook(&self.world, &event).await;
        if replay.status != 200 || replay.body["duplicate"] != true {
            return Err(format!(
                "a replayed checkout.session.completed got {} {}, expected 200 with duplicate: true",
                replay.status, replay.body
            ));
        }
        let again = wire::pump(&self.world).await?;
        if !again.is_empty() {
            return Err(format!(
                "a replayed delivery reached the processor: {again:?}"
            ));
        }
        let detail = format!(
            "POST /checkout credits_1000 x2 -> session {session_id}, paid; {events}; its replay: duplicate"
        );
        self.observe("credit pack", Expected::free(2000, true), &detail)
            .await
    }

    /// 9. The product's server records each message: the free plan's daily limit allows 100, and the
    ///    101st is refused — a normal `200 {"allowed": false}` that records nothing.
    async fn messages_until_refused(&mut self) -> Result<(), String> {
        let limit = 100;
        for n in 1..=limit {
            let reply = self.consume("messages_per_day", 1, None).await?;
            if reply["allowed"] != true || reply["used"] != n {
                return Err(format!("message {n} of {limit}: {reply}"));
            }
        }
        let refused = self.consume("messages_per_day", 1, None).await?;
        if refused["allowed"] != false
            || refused["reason"] != "limit_exceeded"
            || refused["used"] != limit
        {
            return Err(format!("message {} was not refused: {refused}", limit + 1));
        }
        let detail = format!(
            "POST /v1/usage messages_per_day x{limit}: allowed, used {limit}/{limit}; the next: \
             allowed false, limit_exceeded, resets {}",
            refused["resetsAt"].as_str().unwrap_or("?")
        );
        self.usage_step("messages to the limit", &detail).await
    }

    /// 10. A model call: 500 credits held for five minutes, committed at the 120 it really cost.
    async fn hold_committed_for_less(&mut self) -> Result<(), String> {
        let held = self
            .consume("credits", 500, Some(json!({"seconds": 300})))
            .await?;
        let usage_id = held["usageId"]
            .as_str()
            .ok_or_else(|| format!("a hold answered without a usageId: {held}"))?
            .to_owned();
        if held["allowed"] != true || held["held"] != 500 || held["remaining"] != 1500 {
            return Err(format!("the hold of 500 of 2000 credits: {held}"));
        }
        let path = format!("/v1/usage/{usage_id}/commit");
        let reply = wire::usage(&self.world, "POST", &path, Some(json!({"amount": 120}))).await;
        let committed = &reply.body;
        if reply.status != 200 || committed["held"] != 0 || committed["remaining"] != 1880 {
            return Err(format!(
                "committing 120 of the 500 held: {} {committed}",
                reply.status
            ));
        }
        let credits = self.credits().await?;
        if credits != 1880 {
            return Err(format!(
                "GET /entitlements reports {credits} credits after the commit, not 1880"
            ));
        }
        self.usage_step(
            "hold, commit for less",
            "POST /v1/usage credits 500 hold 300 s: remaining 1500; commit 120: the other 380 freed, \
             remaining 1880 (GET /entitlements: 1880)",
        )
        .await
    }

    /// 11. Credits spent down to zero; the next spend is refused.
    async fn credits_spent_to_zero(&mut self) -> Result<(), String> {
        let mut spent = Vec::new();
        for amount in [1000, 500, 380] {
            let reply = self.consume("credits", amount, None).await?;
            if reply["allowed"] != true {
                return Err(format!("spending {amount} credits: {reply}"));
            }
            spent.push(format!("{amount} (remaining {})", reply["remaining"]));
        }
        let refused = self.consume("credits", 1, None).await?;
        if refused["allowed"] != false
            || refused["reason"] != "insufficient_credits"
            || refused["remaining"] != 0
        {
            return Err(format!("a spend of 1 credit at zero: {refused}"));
        }
        let credits = self.credits().await?;
        if credits != 0 {
            return Err(format!(
                "GET /entitlements reports {credits} credits at zero"
            ));
        }
        let detail = format!(
            "POST /v1/usage credits {}; then 1: allowed false, insufficient_credits",
            spent.join(", ")
        );
        self.usage_step("credits to zero", &detail).await
    }

    // ------------------------------------------------------------------------------------------- helpers

    /// `POST /v1/usage` for the demo's user, under a fresh idempotency key; the answer (refusals included).
    async fn consume(
        &self,
        feature: &str,
        amount: i64,
        hold: Option<Value>,
    ) -> Result<Value, String> {
        let mut body = json!({
            "userId": self.user, "feature": feature, "amount": amount,
            "idempotencyKey": fixtures::unique_id("demo-"),
        });
        if let Some(hold) = hold {
            body["hold"] = hold;
        }
        let reply = wire::usage(&self.world, "POST", "/v1/usage", Some(body)).await;
        if reply.status != 200 {
            return Err(format!(
                "POST /v1/usage {feature} {amount} answered {} {}",
                reply.status, reply.body
            ));
        }
        Ok(reply.body)
    }

    /// The live balance, as the signed-in user's `GET /entitlements` reports it.
    async fn credits(&self) -> Result<i64, String> {
        let reply = wire::api(&self.world, "GET", "/entitlements", None, &self.token).await;
        reply.body["credits"]
            .as_i64()
            .filter(|_| reply.status == 200)
            .ok_or_else(|| format!("GET /entitlements answered {} {}", reply.status, reply.body))
    }

    /// Counts and prints a usage step: the user's entitlements (credits live) and the usage picture.
    async fn usage_step(&mut self, step: &str, detail: &str) -> Result<(), String> {
        self.steps += 1;
        let reply = wire::api(&self.world, "GET", "/entitlements", None, &self.token).await;
        let clerk_user = self.world.clerk.user(&self.user);
        expect::row(
            &self.steps.to_string(),
            step,
            &reply.body,
            clerk_user.as_ref(),
            detail,
        );
        let usage = wire::api(&self.world, "GET", "/usage", None, &self.token).await;
        if usage.status != 200 {
            return Err(format!(
                "step {} ({step}): GET /usage answered {} {}",
                self.steps, usage.status, usage.body
            ));
        }
        let picture: Vec<String> = usage.body["usage"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                format!(
                    "{} {}/{}",
                    u["feature"].as_str().unwrap_or("?"),
                    u["used"],
                    u["limit"]
                )
            })
            .collect();
        println!("    GET /usage: {}", picture.join(", "));
        Ok(())
    }

    /// Stripe's current state of the demo's subscription (what the processor will read).
    fn seed(&self, price: &str, status: &str, cancel_at_period_end: bool) {
        self.world.stripe.seed_subscription(json!({
            "id": self.subscription,
            "customer": self.customer,
            "price": price,
            "status": status,
            "cancel_at_period_end": cancel_at_period_end,
            "current_period_end": self.period_end.secs(),
            "metadata": { "userId": self.user },
        }));
    }

    /// A `customer.subscription.*` event whose object says what Stripe's state now says.
    async fn stripe_event(
        &self,
        fixture: &str,
        status: &str,
        cancel_at_period_end: bool,
    ) -> Result<String, String> {
        let event = self.delivery(fixture, UnixTime::now(), |event| {
            let object = &mut event["data"]["object"];
            object["status"] = status.into();
            object["cancel_at_period_end"] = cancel_at_period_end.into();
        });
        self.deliver(&event).await
    }

    fn delivery(
        &self,
        fixture: &str,
        created: UnixTime,
        patch: impl FnOnce(&mut Value),
    ) -> StripeDelivery {
        StripeDelivery::from_fixture(
            fixture,
            &[
                (FIXTURE_SUBSCRIPTION, self.subscription.as_str()),
                (FIXTURE_CUSTOMER, self.customer.as_str()),
                (FIXTURE_USER, self.user.as_str()),
            ],
            created,
            patch,
        )
    }

    /// Through stripe-webhook, then the queue to the processor; what the processor got, for the log.
    async fn deliver(&self, event: &StripeDelivery) -> Result<String, String> {
        let reply = wire::stripe_webhook(&self.world, event).await;
        received("stripe-webhook", &event.event_type, &reply)?;
        let events = wire::pump(&self.world).await?;
        Ok(format!(
            "{} -> processor got {}",
            event.event_type,
            list(&events)
        ))
    }

    /// `POST /subscription/{action}` with `body`: its 200 answer.
    async fn subscription_route(&self, action: &str, body: Value) -> Result<Value, String> {
        let path = format!("/subscription/{action}");
        let reply = wire::api(&self.world, "POST", &path, Some(body), &self.token).await;
        if reply.status != 200 {
            return Err(format!(
                "POST {path} answered {} {}",
                reply.status, reply.body
            ));
        }
        Ok(reply.body)
    }

    /// `POST /checkout` for `price`; the reply, which must be for the user's own customer.
    async fn checkout_session(&self, price: &str, quantity: u32) -> Result<Value, String> {
        let body = json!({
            "price": price,
            "quantity": quantity,
            "successUrl": format!("{APP_ORIGIN}/welcome?session={{CHECKOUT_SESSION_ID}}"),
            "cancelUrl": format!("{APP_ORIGIN}/pricing"),
        });
        let reply = wire::api(&self.world, "POST", "/checkout", Some(body), &self.token).await;
        if reply.status != 200 {
            return Err(format!(
                "POST /checkout {price} answered {} {}",
                reply.status, reply.body
            ));
        }
        if reply.body["customerId"] != self.customer.as_str() {
            return Err(format!(
                "POST /checkout used customer {}, not the user's {}",
                reply.body["customerId"], self.customer
            ));
        }
        Ok(reply.body)
    }

    /// Counts, prints and checks one of the story's steps.
    async fn observe(
        &mut self,
        step: &str,
        expected: Expected,
        detail: &str,
    ) -> Result<(), String> {
        self.steps += 1;
        self.check(&self.steps.to_string(), step, expected, detail)
            .await
    }

    /// Prints the line of step `label` and checks what the user now has.
    async fn check(
        &self,
        label: &str,
        step: &str,
        expected: Expected,
        detail: &str,
    ) -> Result<(), String> {
        let dead = wire::dead_letters(&self.world).await?;
        if let Some((event_type, reason)) = dead.first() {
            return Err(format!(
                "step {label} ({step}): the processor dead-lettered {event_type}: {reason}"
            ));
        }
        let reply = wire::api(&self.world, "GET", "/entitlements", None, &self.token).await;
        if reply.status != 200 {
            return Err(format!(
                "step {label} ({step}): GET /entitlements answered {} {}",
                reply.status, reply.body
            ));
        }
        let clerk_user = self.world.clerk.user(&self.user);
        expect::row(label, step, &reply.body, clerk_user.as_ref(), detail);
        let wrong = expected.mismatches(&reply.body, clerk_user.as_ref());
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("step {label} ({step}): {}", wrong.join("; ")))
        }
    }
}

/// A webhook answer must be a fresh, handled delivery.
fn received(function: &str, event: &str, reply: &Reply) -> Result<(), String> {
    let handled = reply.status == 200
        && reply.body["received"] == true
        && reply.body.get("duplicate").is_none()
        && reply.body.get("ignored").is_none();
    if handled {
        Ok(())
    } else {
        Err(format!(
            "{function} answered {event} with {} {}",
            reply.status, reply.body
        ))
    }
}

fn list(events: &[String]) -> String {
    if events.is_empty() {
        "nothing".to_owned()
    } else {
        events.join(", ")
    }
}
