"""Tests of the stateful parts of scripts/fake_stripe.py: the hosted Checkout and portal pages, the events and
their signed, retried delivery, the test clock (renewals, dunning, trials, schedule phases), portal
configurations, previews of a new subscription, idempotent replays and targeted failure injection.

    .venv/bin/python -m unittest scripts/test_fake_stripe.py

Each test starts its own fake (`--port 0`) as a subprocess and a small local HTTP receiver for its webhooks.
"""

from __future__ import annotations

import hmac
import json
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standins.signing import stripe_v1  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "fake_stripe.py"
SECRET = "whsec_test_fake_stripe_secret"
KEY = "sk_test_entitle_fake"
DAY = 86400
SUBSCRIPTION_CHECKOUT_EVENTS = [
    "customer.updated", "customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid",
    "invoice.payment_succeeded", "payment_intent.succeeded", "checkout.session.completed"]


def pinned_version() -> str:
    """STRIPE_VERSION: the API version Entitle's requests and webhook endpoint are pinned to."""
    client = Path(__file__).resolve().parent.parent / "crates/core/src/stripe/client.rs"
    return re.search(r'pub const STRIPE_VERSION: &str = "([^"]+)";', client.read_text()).group(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def poll(check, timeout: float = 5.0, what: str = "condition"):
    """`check()`'s first truthy answer, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Elements(HTMLParser):
    """Every start tag's attributes, and the text of elements with an id."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list = []
        self.text: dict = {}
        self.open: list = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("input", "link", "meta", "br"):
            self.open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self.open and tag not in ("input", "link", "meta", "br"):
            self.open.pop()

    def handle_data(self, data):
        for id_ in self.open:
            if id_:
                self.text[id_] = self.text.get(id_, "") + data

    def by_id(self, id_):
        return next((attrs for _, attrs in self.tags if attrs.get("id") == id_), None)

    def find(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


class Receiver:
    """A local webhook endpoint: records every delivery; answers the queued statuses first, then 200."""

    def __init__(self):
        self.received: list = []
        self.statuses: list = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"body": body, "signature": self.headers.get("Stripe-Signature"),
                                              "event": json.loads(body), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, ok_only: bool = True) -> list:
        with self.lock:
            return [r["event"] for r in self.received if not ok_only or r["status"] < 300]

    def types(self) -> list:
        return [e["type"] for e in self.events()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Fake:
    def __init__(self, *flags: str):
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", "0", *flags],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"the fake did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[-1])}"

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def raw(self, method, url, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(url if url.startswith("http") else self.base + url, data=data,
                                         method=method, headers=headers or {})
        try:
            with OPENER.open(request, timeout=10) as reply:
                return reply.status, reply.read().decode(), dict(reply.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def api(self, method, path, form: dict | None = None, idempotency_key: str | None = None, key: str = KEY):
        headers = {"Authorization": f"Bearer {key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        if method == "GET" and form:
            path, data = f"{path}?{data.decode()}", None
        status, text, headers = self.raw(method, path, data, headers)
        return status, json.loads(text), headers

    def ok(self, method, path, form=None, **kw):
        status, body, _ = self.api(method, path, form, **kw)
        assert status == 200, (status, body)
        return body

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        status, text, _ = self.raw(method, path, data, {"Content-Type": "application/json"})
        assert status == 200, (status, text)
        return json.loads(text)

    def page(self, method, url, form: dict | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
        return self.raw(method, url, data, headers)


def check_signature(test: unittest.TestCase, delivery: dict, secret: str = SECRET):
    parts = dict(part.split("=", 1) for part in delivery["signature"].split(","))
    expected = stripe_v1(secret, parts["t"], delivery["body"])
    test.assertTrue(hmac.compare_digest(parts["v1"], expected), "the v1 signature verifies")
    test.assertLess(abs(int(parts["t"]) - time.time()), 60, "signed with the real time")


class FakeStripeCase(unittest.TestCase):
    flags: tuple = ("--hosted-pages", "--retry-scale", "0.01")

    def setUp(self):
        self.fake = Fake(*self.flags)
        self.addCleanup(self.fake.close)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        for product, name in (("prod_s", "Starter"), ("prod_p", "Pro"), ("prod_c", "1000 credits"),
                              ("prod_t", "Team pack")):
            self.fake.ok("POST", "/v1/products", {"id": product, "name": name})
        self.fake.control("POST", "/__fake/prices", {"id": "price_starter", "lookup_key": "starter_monthly",
                                                     "unit_amount": 4900, "currency": "usd",
                                                     "recurring": {"interval": "month"}, "product": "prod_s",
                                                     "nickname": "Starter"})
        self.fake.control("POST", "/__fake/prices", {"id": "price_pro", "lookup_key": "pro_monthly",
                                                     "unit_amount": 9900, "currency": "usd",
                                                     "recurring": {"interval": "month"}, "product": "prod_p",
                                                     "nickname": "Pro"})
        self.fake.control("POST", "/__fake/prices", {"id": "price_credits", "lookup_key": "credits_1000",
                                                     "unit_amount": 1000, "currency": "usd", "recurring": None,
                                                     "product": "prod_c", "nickname": "1000 credits"})
        self.fake.control("POST", "/__fake/prices", {"id": "price_team", "lookup_key": "team_pack_monthly",
                                                     "unit_amount": 2900, "currency": "usd",
                                                     "recurring": {"interval": "month"}, "product": "prod_t",
                                                     "nickname": "Team pack"})

    def listen(self):
        self.fake.control("POST", "/__fake/listen", {"url": self.receiver.url, "secret": SECRET})

    def customer(self) -> dict:
        return self.fake.ok("POST", "/v1/customers", {"email": "ada@example.com", "metadata[userId]": "user_1"})

    def session(self, customer: dict | None, mode: str = "subscription", **extra) -> dict:
        form = {"mode": mode, "line_items[0][price]": "price_starter" if mode == "subscription" else "price_credits",
                "line_items[0][quantity]": "1", "success_url": "https://app.example.com/ok?s={CHECKOUT_SESSION_ID}",
                "cancel_url": "https://app.example.com/cancel", **extra}
        if customer is not None:
            form["customer"] = customer["id"]
        if mode == "subscription":
            form["subscription_data[metadata][userId]"] = "user_1"
        else:
            form["payment_intent_data[metadata][userId]"] = "user_1"
        return self.fake.ok("POST", "/v1/checkout/sessions", form)

    def pay(self, session: dict, card: str = "4242 4242 4242 4242"):
        return self.fake.page("POST", session["url"], {"card": card, "action": "pay"})

    def subscribed(self, **extra) -> tuple:
        """A customer who paid a subscription checkout: (customer, session, subscription)."""
        customer = self.customer()
        session = self.session(customer, **extra)
        status, _, headers = self.pay(session)
        self.assertEqual(status, 303)
        session = self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")
        return customer, session, self.fake.ok("GET", f"/v1/subscriptions/{session['subscription']}")

    def entitle_configuration(self, **extra) -> dict:
        """A portal configuration as `entitle setup` creates it: Starter and Pro offered, cancel at period end."""
        return self.fake.ok("POST", "/v1/billing_portal/configurations", {
            "features[subscription_update][enabled]": "true",
            "features[subscription_update][proration_behavior]": "create_prorations",
            "features[subscription_update][default_allowed_updates][]": "price",
            "features[subscription_update][products][0][product]": "prod_s",
            "features[subscription_update][products][0][prices][]": "price_starter",
            "features[subscription_update][products][1][product]": "prod_p",
            "features[subscription_update][products][1][prices][]": "price_pro",
            "features[subscription_cancel][enabled]": "true", "features[subscription_cancel][mode]": "at_period_end",
            "features[payment_method_update][enabled]": "true", "features[invoice_history][enabled]": "true",
            "metadata[entitle]": "setup", **extra})

    def portal(self, customer: dict, configuration: str | None = None) -> str:
        configuration = configuration or self.entitle_configuration()["id"]
        portal = self.fake.ok("POST", "/v1/billing_portal/sessions",
                              {"customer": customer["id"], "return_url": "https://app.example.com/account",
                               "configuration": configuration})
        self.assertEqual(portal["url"], f"{self.fake.base}/portal/{portal['id']}")
        self.assertEqual(portal["configuration"], configuration)
        return portal["url"]

    def seeded_subscription(self, customer: dict, items: list) -> dict:
        """A subscription seeded with `items` [(price id, quantity)] for `customer` (charged to its card)."""
        return self.fake.control("POST", "/__fake/subscriptions", {
            "customer": customer["id"], "status": "active",
            "items": [{"price": price, "quantity": quantity} for price, quantity in items]})

    def error(self, method, path, form=None, status: int = 400, **kw) -> dict:
        got, body, _ = self.api_call(method, path, form, **kw)
        self.assertEqual(got, status, body)
        return body["error"]

    def api_call(self, method, path, form=None, **kw):
        return self.fake.api(method, path, form, **kw)

    def portal_click(self, url: str, **form) -> Elements:
        status, _, headers = self.fake.page("POST", url, form)
        self.assertEqual(status, 303, "a portal action redirects back to the portal")
        self.assertEqual(headers["Location"], url)
        status, html, _ = self.fake.page("GET", url)
        self.assertEqual(status, 200)
        page = Elements(html)
        self.assertIsNone(page.by_id("error"), page.text.get("error"))
        return page

    def events(self, **filters) -> list:
        return self.fake.ok("GET", "/v1/events", {"limit": "100", **filters})["data"]

    def advance(self, days: float) -> dict:
        return self.fake.control("POST", "/__fake/clock/advance", {"days": days})


class CheckoutPage(FakeStripeCase):
    def test_the_page_shows_the_items_the_total_a_prefilled_card_and_the_buttons(self):
        session = self.session(self.customer())
        self.assertEqual(session["url"], f"{self.fake.base}/checkout/{session['id']}")
        status, html, headers = self.fake.page("GET", session["url"])
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        page = Elements(html)
        self.assertEqual(page.by_id("card")["value"], "4242 4242 4242 4242")
        for button in ("pay", "decline", "back"):
            self.assertIsNotNone(page.by_id(button), button)
        self.assertEqual(page.find("link", rel="icon")[0]["href"], "data:,")
        self.assertIn("Starter", html)
        self.assertIn("per month", html)
        self.assertIn("49.00 USD", page.text["total"])
        self.assertNotIn("<script", html)
        # What a person reads: the plan and how often, never Stripe's mode or the price's lookup key.
        self.assertEqual(page.text["line-items"].split("per month")[0].strip(), "Starter, monthly")
        self.assertIn("Subscribe to Starter, monthly", html)
        self.assertNotIn("Mode", html)
        self.assertNotIn("starter_monthly", html)
        self.assertEqual(page.by_id("pay").get("value"), "pay")

    def test_paying_a_subscription_creates_it_and_delivers_the_events_in_stripes_order_signed(self):
        customer = self.customer()
        self.listen()
        session = self.session(customer)
        status, _, headers = self.pay(session)
        self.assertEqual(status, 303)
        self.assertEqual(headers["Location"], f"https://app.example.com/ok?s={session['id']}")

        session = self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")
        self.assertEqual((session["status"], session["payment_status"]), ("complete", "paid"))
        sub = self.fake.ok("GET", f"/v1/subscriptions/{session['subscription']}")
        self.assertEqual(sub["status"], "active")
        self.assertEqual(sub["metadata"], {"userId": "user_1"})
        self.assertEqual(sub["customer"], customer["id"])
        item = sub["items"]["data"][0]
        self.assertEqual(item["price"]["id"], "price_starter")
        self.assertEqual(item["current_period_end"] - item["current_period_start"], 30 * DAY)
        card = self.fake.ok("GET", f"/v1/payment_methods/{sub['default_payment_method']}")
        self.assertEqual(card["card"]["last4"], "4242")
        customer = self.fake.ok("GET", f"/v1/customers/{customer['id']}")
        self.assertEqual(customer["invoice_settings"]["default_payment_method"], card["id"])
        invoice = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual((invoice["status"], invoice["billing_reason"], invoice["amount_paid"]),
                         ("paid", "subscription_create", 4900))
        self.assertEqual(invoice["parent"]["subscription_details"]["subscription"], sub["id"])
        pi = self.fake.ok("GET", f"/v1/payment_intents/{invoice['payments']['data'][0]['payment']['payment_intent']}")
        self.assertEqual((pi["status"], pi["amount_received"]), ("succeeded", 4900))

        poll(lambda: "checkout.session.completed" in self.receiver.types(), what="checkout.session.completed")
        self.assertEqual(self.receiver.types(), SUBSCRIPTION_CHECKOUT_EVENTS)
        for delivery in self.receiver.received:
            check_signature(self, delivery)
        completed = self.receiver.events()[-1]
        self.assertEqual(completed["object"], "event")
        self.assertTrue(completed["id"].startswith("evt_"))
        self.assertEqual(completed["api_version"], pinned_version())
        self.assertFalse(completed["livemode"])
        self.assertEqual(completed["pending_webhooks"], 1)
        self.assertEqual(completed["request"], {"id": None, "idempotency_key": None})
        self.assertEqual(completed["data"]["object"]["subscription"], sub["id"])
        self.assertEqual(completed["data"]["object"]["status"], "complete")
        created = self.receiver.events()[1]
        self.assertEqual(created["data"]["object"]["metadata"], {"userId": "user_1"})
        stored = self.fake.ok("GET", f"/v1/events/{completed['id']}")
        self.assertEqual(stored["type"], "checkout.session.completed")
        poll(lambda: stored["id"] in [e["id"] for e in self.events() if e["pending_webhooks"] == 0],
             what="pending_webhooks to drop to 0")
        deliveries = self.fake.control("GET", "/__fake/deliveries")
        self.assertEqual([d["type"] for d in deliveries], SUBSCRIPTION_CHECKOUT_EVENTS)
        self.assertTrue(all(d["status"] == 200 and d["attempt"] == 1 and d["url"] == self.receiver.url
                            for d in deliveries))

    def test_a_declined_card_completes_nothing(self):
        customer = self.customer()
        self.listen()
        session = self.session(customer)
        status, html, _ = self.fake.page("POST", session["url"], {"card": "4242 4242 4242 4242",
                                                                  "action": "decline"})
        self.assertEqual(status, 200)
        self.assertIn('<p id="error">Your card was declined.</p>', html)
        self.assertEqual(Elements(html).by_id("card")["value"], "4000 0000 0000 0002")
        status, html, _ = self.pay(session, "4000 0000 0000 0341")  # refused too when charged at once
        self.assertIn('<p id="error">Your card was declined.</p>', html)
        session = self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")
        self.assertEqual((session["status"], session["payment_status"], session["subscription"]),
                         ("open", "unpaid", None))
        self.assertEqual(self.fake.ok("GET", "/v1/subscriptions", {"customer": customer["id"]})["data"], [])
        self.assertEqual([e["type"] for e in self.events()], ["customer.created"], "only the customer's event")

    def test_a_declined_payment_emits_payment_failed_then_a_good_card_pays_the_same_intent(self):
        customer = self.customer()
        self.listen()
        session = self.session(customer, mode="payment")
        status, html, _ = self.fake.page("POST", session["url"], {"action": "decline"})
        self.assertIn('<p id="error">Your card was declined.</p>', html)
        self.assertEqual([e["type"] for e in self.events()], ["payment_intent.payment_failed", "customer.created"])
        failed = self.events()[0]["data"]["object"]
        self.assertEqual(failed["last_payment_error"]["code"], "card_declined")
        self.assertEqual(self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"], "open")

        status, _, headers = self.pay(session)
        self.assertEqual(status, 303)
        session = self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")
        self.assertEqual((session["status"], session["payment_status"], session["payment_intent"]),
                         ("complete", "paid", failed["id"]))
        pi = self.fake.ok("GET", f"/v1/payment_intents/{failed['id']}")
        self.assertEqual((pi["status"], pi["metadata"], pi["amount"]), ("succeeded", {"userId": "user_1"}, 1000))
        poll(lambda: len(self.receiver.types()) == 3, what="three deliveries")
        self.assertEqual(self.receiver.types(), ["payment_intent.payment_failed", "payment_intent.succeeded",
                                                 "checkout.session.completed"])

    def test_back_goes_to_cancel_url_and_a_completed_session_cannot_be_paid_again(self):
        customer = self.customer()
        session = self.session(customer)
        status, _, headers = self.fake.page("POST", session["url"], {"action": "back"})
        self.assertEqual((status, headers["Location"]), (303, "https://app.example.com/cancel"))
        self.assertEqual(self.pay(session)[0], 303)
        count = len(self.events())
        status, html, _ = self.pay(session)
        self.assertEqual(status, 200)
        self.assertIn('id="error"', html)
        self.assertEqual(len(self.events()), count, "nothing changed")
        self.assertEqual(len(self.fake.ok("GET", "/v1/subscriptions", {"customer": customer["id"]})["data"]), 1)

    def test_an_expired_session_cannot_be_paid(self):
        session = self.session(self.customer())
        actions = self.advance(1.5)["actions"]
        self.assertEqual([a["action"] for a in actions], ["checkout_session_expired"])
        status, html, _ = self.pay(session)
        self.assertIn("expired", Elements(html).text["error"])
        self.assertEqual(self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"], "expired")

    def test_a_session_without_a_customer_creates_one(self):
        session = self.session(None, customer_email="grace@example.com")
        self.listen()
        self.assertEqual(self.pay(session)[0], 303)
        session = self.fake.ok("GET", f"/v1/checkout/sessions/{session['id']}")
        customer = self.fake.ok("GET", f"/v1/customers/{session['customer']}")
        self.assertEqual(customer["email"], "grace@example.com")
        self.assertEqual([e["type"] for e in reversed(self.events())][:2], ["customer.created", "customer.updated"])


class Webhooks(FakeStripeCase):
    def test_a_non_2xx_answer_or_a_dead_target_is_retried_with_backoff(self):
        self.receiver.statuses = [500, 503]
        self.listen()
        self.fake.control("POST", "/__fake/listen", {"url": "http://127.0.0.1:9/nothing-listens", "secret": SECRET})
        customer = self.customer()
        poll(lambda: self.receiver.types() == ["customer.created"], what="the third attempt")
        self.assertEqual([r["status"] for r in self.receiver.received], [500, 503, 200])
        self.assertEqual({r["event"]["id"] for r in self.receiver.received}, {self.events()[0]["id"]})
        for delivery in self.receiver.received:
            check_signature(self, delivery)
        ours = [d for d in self.fake.control("GET", "/__fake/deliveries") if d["url"] == self.receiver.url]
        self.assertEqual([(d["attempt"], d["status"]) for d in ours], [(1, 500), (2, 503), (3, 200)])
        self.assertEqual([d["retry_in"] for d in ours], [0.01, 0.02, None])
        dead = poll(lambda: [d for d in self.fake.control("GET", "/__fake/deliveries") if "nothing" in d["url"]
                             and d["attempt"] == 8], timeout=10, what="eight attempts at the dead target")
        self.assertIsNone(dead[0]["status"])
        self.assertTrue(dead[0]["error"])
        self.assertEqual(dead[0]["event"], self.events()[0]["id"])
        self.assertEqual(customer["id"], self.events()[0]["data"]["object"]["id"])

    def test_api_changes_emit_events_with_previous_attributes_and_the_request(self):
        _, _, sub = self.subscribed()
        status, body, headers = self.fake.api("POST", f"/v1/subscriptions/{sub['id']}",
                                              {"cancel_at_period_end": "true"}, idempotency_key="key-1")
        self.assertEqual(status, 200)
        updated = self.events(type="customer.subscription.updated")[0]
        self.assertEqual(updated["data"]["previous_attributes"]["cancel_at_period_end"], False)
        self.assertIsNone(updated["data"]["previous_attributes"]["cancel_at"])
        self.assertTrue(updated["data"]["object"]["cancel_at_period_end"])
        self.assertEqual(updated["request"], {"id": headers["Request-Id"], "idempotency_key": "key-1"})
        self.fake.api("POST", f"/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": "true"},
                      idempotency_key="key-1")  # a replay changes nothing
        self.assertEqual(len(self.events(type="customer.subscription.updated")), 1)
        self.fake.ok("DELETE", f"/v1/subscriptions/{sub['id']}")
        deleted = self.events()[0]
        self.assertEqual(deleted["type"], "customer.subscription.deleted")
        self.assertEqual(deleted["data"]["object"]["status"], "canceled")

    def test_events_are_of_the_api_version_the_webhook_endpoint_is_pinned_to(self):
        pinned = pinned_version()
        self.listen()
        self.subscribed()
        events = self.events()
        self.assertTrue(events)
        self.assertEqual({e["api_version"] for e in events}, {pinned})
        poll(lambda: "checkout.session.completed" in self.receiver.types(), what="checkout.session.completed")
        self.assertEqual({e["api_version"] for e in self.receiver.events()}, {pinned}, "as delivered")

    def test_listen_is_idempotent_per_url(self):
        self.listen()
        answer = self.fake.control("POST", "/__fake/listen", {"url": self.receiver.url, "secret": SECRET})
        self.assertEqual(answer["targets"], 1)
        self.customer()
        poll(lambda: self.receiver.types(), what="a delivery")
        time.sleep(0.1)
        self.assertEqual(len(self.receiver.received), 1)


class Chaos(FakeStripeCase):
    flags = ("--hosted-pages", "--retry-scale", "0.01", "--chaos")

    def test_every_event_is_delivered_twice(self):
        self.listen()
        self.subscribed()
        expected = sorted(["customer.created"] + SUBSCRIPTION_CHECKOUT_EVENTS) * 2
        poll(lambda: len(self.receiver.types()) == len(expected), what="every event twice")
        self.assertEqual(sorted(self.receiver.types()), sorted(expected))
        for delivery in self.receiver.received:
            check_signature(self, delivery)


class Clock(FakeStripeCase):
    def test_a_renewal_with_a_good_card_is_paid_and_advances_the_period(self):
        _, _, sub = self.subscribed()
        end = sub["items"]["data"][0]["current_period_end"]
        self.listen()
        before = self.fake.control("GET", "/__fake/clock")["now"]
        answer = self.advance(31)
        self.assertGreaterEqual(answer["now"] - before, 31 * DAY)
        self.assertEqual(self.fake.control("GET", "/__fake/clock")["now"] // 10, answer["now"] // 10)
        self.assertEqual([(a["action"], a["paid"]) for a in answer["actions"]], [("renewed", True)])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        item = sub["items"]["data"][0]
        self.assertEqual((item["current_period_start"], item["current_period_end"]), (end, end + 30 * DAY))
        self.assertEqual(sub["status"], "active")
        invoice = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual((invoice["billing_reason"], invoice["status"], invoice["amount_paid"]),
                         ("subscription_cycle", "paid", 4900))
        poll(lambda: len(self.receiver.types()) == 6, what="the renewal's events")
        self.assertEqual(self.receiver.types(), ["customer.subscription.updated", "invoice.created",
                                                 "invoice.finalized", "invoice.paid", "invoice.payment_succeeded",
                                                 "payment_intent.succeeded"])
        previous = self.receiver.events()[0]["data"]["previous_attributes"]
        self.assertEqual(previous["items"]["data"][0]["current_period_end"], end)
        self.assertEqual(self.receiver.events()[0]["created"], end)

    def test_a_failing_card_goes_past_due_then_canceled_after_the_retries(self):
        customer, _, sub = self.subscribed()
        url = self.portal(customer)
        page = self.portal_click(url, action="card-failing")
        self.assertEqual(page.text["card-last4"], "0341")
        actions = self.advance(31)["actions"]
        self.assertEqual([(a["action"], a["paid"], a["status"]) for a in actions],
                         [("renewed", False, "past_due")])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual(sub["status"], "past_due")
        invoice = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual((invoice["status"], invoice["attempt_count"]), ("open", 1))
        self.assertEqual(invoice["next_payment_attempt"] - actions[0]["at"], 3 * DAY)
        self.assertEqual(self.events(type="invoice.payment_failed")[0]["data"]["object"]["id"], invoice["id"])
        updated = self.events(type="customer.subscription.updated")[0]
        self.assertEqual(updated["data"]["previous_attributes"]["status"], "active")
        self.assertIsNotNone(Elements(self.fake.page("GET", url)[1]).by_id("pay-invoice"))

        actions = self.advance(3)["actions"] + self.advance(5)["actions"]
        self.assertEqual([(a["action"], a["status"]) for a in actions],
                         [("payment_retry", "past_due"), ("payment_retry", "past_due")])
        actions = self.advance(7)["actions"]
        self.assertEqual([(a["action"], a["status"]) for a in actions], [("payment_retry", "canceled")])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual((sub["status"], sub["cancellation_details"]["reason"]), ("canceled", "payment_failed"))
        self.assertEqual(self.events()[0]["type"], "customer.subscription.deleted")
        self.assertEqual(len(self.events(type="invoice.payment_failed")), 4)
        self.assertEqual(self.fake.ok("GET", f"/v1/invoices/{invoice['id']}")["attempt_count"], 4)

    def test_paying_the_open_invoice_in_the_portal_makes_the_subscription_active_again(self):
        customer, _, sub = self.subscribed()
        url = self.portal(customer)
        self.portal_click(url, action="card-failing")
        self.advance(31)
        page = self.portal_click(url, action="card-ok")
        self.assertEqual(page.text["status"], "past_due")
        page = self.portal_click(url, action="pay-invoice")
        self.assertEqual(page.text["status"], "active")
        self.assertIsNone(page.by_id("pay-invoice"))
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual(self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")["status"], "paid")
        types = [e["type"] for e in reversed(self.events())]
        self.assertEqual(types[-4:], ["invoice.paid", "invoice.payment_succeeded", "payment_intent.succeeded",
                                      "customer.subscription.updated"])
        self.assertEqual(self.advance(10)["actions"], [], "no retry once paid")

    def test_cancel_at_period_end_ends_the_subscription_at_the_period_end(self):
        customer, _, sub = self.subscribed()
        self.portal_click(self.portal(customer), action="cancel")
        self.assertEqual(self.advance(29)["actions"], [])
        actions = self.advance(2)["actions"]
        self.assertEqual([a["action"] for a in actions], ["canceled"])
        self.assertEqual(self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")["status"], "canceled")
        self.assertEqual(self.events()[0]["type"], "customer.subscription.deleted")

    def test_a_trial_sends_trial_will_end_then_charges_the_first_invoice(self):
        _, session, sub = self.subscribed(**{"subscription_data[trial_period_days]": "14"})
        self.assertEqual(session["payment_status"], "no_payment_required")
        self.assertEqual(sub["status"], "trialing")
        self.assertEqual(sub["trial_end"] - sub["trial_start"], 14 * DAY)
        first = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual((first["amount_due"], first["status"]), (0, "paid"))
        actions = self.advance(12)["actions"]
        self.assertEqual([(a["action"], a["at"]) for a in actions], [("trial_will_end", sub["trial_end"] - 3 * DAY)])
        actions = self.advance(2)["actions"]
        self.assertEqual([(a["action"], a["paid"]) for a in actions], [("trial_ended", True)])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual(sub["status"], "active")
        invoice = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual((invoice["billing_reason"], invoice["amount_paid"]), ("subscription_cycle", 4900))


class UnpaidDunning(FakeStripeCase):
    flags = ("--hosted-pages", "--retry-scale", "0.01", "--dunning-final", "unpaid", "--retry-days", "1")

    def test_the_last_failed_retry_leaves_the_subscription_unpaid(self):
        customer, _, sub = self.subscribed()
        self.portal_click(self.portal(customer), action="card-failing")
        actions = self.advance(32)["actions"]
        self.assertEqual([(a["action"], a["status"]) for a in actions],
                         [("renewed", "past_due"), ("payment_retry", "unpaid")])
        self.assertEqual(self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")["status"], "unpaid")


class Portal(FakeStripeCase):
    def test_the_page_shows_the_subscription_and_its_buttons_change_it(self):
        customer, _, sub = self.subscribed()
        url = self.portal(customer)
        status, html, _ = self.fake.page("GET", url)
        self.assertEqual(status, 200)
        page = Elements(html)
        self.assertIn("Starter", page.text["plan"])
        self.assertEqual((page.text["status"], page.text["cancel-at-period-end"], page.text["card-last4"]),
                         ("active", "no", "4242"))
        self.assertEqual(int(page.by_id("period-end")["data-unix"]), sub["items"]["data"][0]["current_period_end"])
        self.assertEqual(page.by_id("return")["href"], "https://app.example.com/account")
        self.assertEqual(page.find("link", rel="icon")[0]["href"], "data:,")
        switches = [b for b in page.find("button") if "data-price" in b]
        self.assertEqual([b["data-price"] for b in switches], ["pro_monthly"], "other recurring prices only")
        self.assertIsNone(page.by_id("pay-invoice"))
        self.listen()

        page = self.portal_click(url, switch=switches[0]["value"])
        self.assertIn("Pro", page.text["plan"])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual(sub["items"]["data"][0]["price"]["id"], "price_pro")
        preview = self.fake.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
        self.assertTrue(any(line["parent"]["subscription_item_details"]["proration"]
                            for line in preview["lines"]["data"]), "the switch was prorated")

        page = self.portal_click(url, action="cancel")
        self.assertEqual(page.text["cancel-at-period-end"], "yes")
        self.assertIsNotNone(page.by_id("resume"))
        self.assertIsNone(page.by_id("cancel"))
        page = self.portal_click(url, action="resume")
        self.assertEqual(page.text["cancel-at-period-end"], "no")
        page = self.portal_click(url, action="card-failing")
        self.assertEqual(page.text["card-last4"], "0341")
        page = self.portal_click(url, action="card-ok")
        self.assertEqual(page.text["card-last4"], "4242")

        poll(lambda: len(self.receiver.types()) == 7, what="the portal's events")
        self.assertEqual(self.receiver.types(), ["customer.subscription.updated"] * 3
                         + ["customer.updated", "customer.subscription.updated"] * 2)
        switched, canceled, resumed = self.receiver.events()[:3]
        self.assertEqual(switched["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"], "price_starter")
        self.assertEqual(canceled["data"]["previous_attributes"]["cancel_at_period_end"], False)
        self.assertEqual(resumed["data"]["previous_attributes"]["cancel_at_period_end"], True)


NO_DEFAULT = ("No configuration provided and your test mode default configuration has not been created. Provide a "
              "configuration or create your default by saving your customer portal settings in test mode at "
              "https://dashboard.stripe.com/test/settings/billing/portal.")


class PortalConfigurations(FakeStripeCase):
    def test_a_fresh_account_has_no_default_configuration(self):
        customer = self.customer()
        self.assertEqual(self.fake.ok("GET", "/v1/billing_portal/configurations")["data"], [])
        error = self.error("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
        self.assertEqual((error["type"], error["message"]), ("invalid_request_error", NO_DEFAULT))
        error = self.error("POST", "/v1/billing_portal/sessions",
                           {"customer": customer["id"], "configuration": "bpc_nope"})
        self.assertEqual((error["type"], error["code"], error["param"], error["message"]),
                         ("invalid_request_error", "resource_missing", "configuration",
                          "No such configuration: 'bpc_nope'"))
        self.assertEqual(self.fake.ok("GET", "/v1/billing_portal/configurations")["data"], [],
                         "refused sessions create no configuration")

    def test_the_api_creates_non_default_configurations_that_sessions_name(self):
        customer = self.customer()
        config = self.entitle_configuration()
        self.assertTrue(config["id"].startswith("bpc_"))
        self.assertEqual((config["is_default"], config["active"], config["metadata"]),
                         (False, True, {"entitle": "setup"}))
        listed = self.fake.ok("GET", "/v1/billing_portal/configurations")["data"]
        self.assertEqual([c["id"] for c in listed], [config["id"]])
        self.assertEqual(self.fake.ok("GET", "/v1/billing_portal/configurations", {"is_default": "true"})["data"], [])
        self.assertEqual(len(self.fake.ok("GET", "/v1/billing_portal/configurations",
                                          {"is_default": "false"})["data"]), 1)
        error = self.error("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
        self.assertEqual(error["message"], NO_DEFAULT, "a created configuration is not the default")
        session = self.fake.ok("POST", "/v1/billing_portal/sessions",
                               {"customer": customer["id"], "configuration": config["id"]})
        self.assertEqual(session["configuration"], config["id"])

        self.fake.ok("POST", f"/v1/billing_portal/configurations/{config['id']}", {"active": "false"})
        error = self.error("POST", "/v1/billing_portal/sessions",
                           {"customer": customer["id"], "configuration": config["id"]})
        self.assertEqual(error["param"], "configuration")
        self.assertIn("inactive", error["message"])
        self.assertEqual(self.fake.ok("GET", "/v1/billing_portal/configurations", {"active": "true"})["data"], [])
        self.assertEqual(len(self.fake.ok("GET", "/v1/billing_portal/configurations",
                                          {"active": "false"})["data"]), 1)

    def test_saving_the_dashboard_settings_creates_the_default_configuration(self):
        customer = self.customer()
        ours = self.entitle_configuration()
        default = self.fake.control("POST", "/__fake/portal/default", {})
        self.assertTrue(default["id"].startswith("bpc_"))
        self.assertTrue(default["is_default"])
        self.assertTrue(default["features"]["subscription_cancel"]["enabled"])
        self.assertFalse(default["features"]["subscription_update"]["enabled"])
        session = self.fake.ok("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
        self.assertEqual(session["configuration"], default["id"])
        listed = self.fake.ok("GET", "/v1/billing_portal/configurations", {"is_default": "true"})["data"]
        self.assertEqual([c["id"] for c in listed], [default["id"]])
        self.assertEqual(len(self.fake.ok("GET", "/v1/billing_portal/configurations")["data"]), 2)
        self.assertEqual(self.fake.ok("GET", f"/v1/billing_portal/configurations/{ours['id']}")["is_default"], False)

        again = self.fake.control("POST", "/__fake/portal/default", {
            "default_return_url": "https://app.example.com/account",
            "features": {"subscription_update": {"enabled": True, "products": [
                {"product": "prod_p", "prices": ["price_pro"]}]}}})
        self.assertEqual(again["id"], default["id"], "saving again updates the default")
        self.assertTrue(again["features"]["subscription_update"]["enabled"])
        session = self.fake.ok("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
        self.assertEqual(session["return_url"], "https://app.example.com/account", "the default return url")
        refused = {"features": {"subscription_update": {"enabled": True, "products": [{"product": "prod_nope"}]}}}
        status, text, _ = self.fake.raw("POST", "/__fake/portal/default", json.dumps(refused).encode(),
                                        {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(text)["error"]["code"], "resource_missing")
        self.assertEqual(self.fake.ok("GET", f"/v1/billing_portal/configurations/{default['id']}")
                         ["features"]["subscription_update"]["products"][0]["product"], "prod_p",
                         "a refused save changes nothing")

    def test_the_hosted_page_follows_the_sessions_configuration(self):
        customer, _, sub = self.subscribed()
        config = self.fake.ok("POST", "/v1/billing_portal/configurations", {
            "features[invoice_history][enabled]": "true", "features[payment_method_update][enabled]": "true"})
        url = self.portal(customer, config["id"])
        page = Elements(self.fake.page("GET", url)[1])
        self.assertEqual([b for b in page.find("button") if "data-price" in b], [], "no plan switching")
        self.assertIsNone(page.by_id("cancel"), "no cancel")
        self.assertIsNotNone(page.by_id("card-ok"))
        status, html, _ = self.fake.page("POST", url, {"action": "cancel"})
        self.assertEqual(status, 200)
        self.assertIn("cancel", Elements(html).text["error"])
        status, html, _ = self.fake.page("POST", url, {"switch": "price_pro"})
        self.assertIsNotNone(Elements(html).by_id("error"))
        self.assertFalse(self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")["cancel_at_period_end"])
        self.assertEqual(self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")["items"]["data"][0]["price"]["id"],
                         "price_starter")

        only_team = self.fake.ok("POST", "/v1/billing_portal/configurations", {
            "features[subscription_update][enabled]": "true",
            "features[subscription_update][products][0][product]": "prod_t",
            "features[subscription_update][products][0][prices][]": "price_team",
            "features[subscription_cancel][enabled]": "true"})
        page = Elements(self.fake.page("GET", self.portal(customer, only_team["id"]))[1])
        self.assertEqual([b["data-price"] for b in page.find("button") if "data-price" in b], ["team_pack_monthly"])
        self.assertIsNotNone(page.by_id("cancel"))


class PreviewNewSubscription(FakeStripeCase):
    def preview(self, form: dict):
        return self.fake.api("POST", "/v1/invoices/create_preview", form)

    def test_a_subscription_starting_later_is_previewed_from_its_start(self):
        customer = self.customer()
        before = self.fake.control("GET", "/__fake/clock")["now"]
        start = before + 10 * DAY
        invoice = self.fake.ok("POST", "/v1/invoices/create_preview", {
            "customer": customer["id"], "subscription_details[start_date]": str(start),
            "subscription_details[items][0][price]": "price_starter",
            "subscription_details[items][1][price]": "price_team", "subscription_details[items][1][quantity]": "2"})
        lines = invoice["lines"]["data"]
        self.assertEqual([(x["pricing"]["price_details"]["price"], x["quantity"], x["amount"]) for x in lines],
                         [("price_starter", 1, 4900), ("price_team", 2, 5800)])
        self.assertEqual({(x["period"]["start"], x["period"]["end"]) for x in lines}, {(start, start + 30 * DAY)})
        self.assertEqual({x["parent"]["subscription_item_details"]["proration"] for x in lines}, {False})
        self.assertEqual((invoice["amount_due"], invoice["total"], invoice["currency"]), (10700, 10700, "usd"))
        self.assertEqual((invoice["period_start"], invoice["period_end"]), (start, start + 30 * DAY))
        self.assertEqual(invoice["next_payment_attempt"], start)
        self.assertLess(abs(invoice["created"] - before), 5)
        self.assertEqual(invoice["customer"], customer["id"])
        self.assertEqual(self.fake.ok("GET", "/v1/subscriptions", {"customer": customer["id"]})["data"], [],
                         "a preview creates nothing")

    def test_without_a_start_date_it_starts_now_and_a_yearly_price_spans_a_year(self):
        customer = self.customer()
        self.fake.control("POST", "/__fake/prices", {"id": "price_starter_year", "unit_amount": 49000,
                                                     "recurring": {"interval": "year"}, "product": "prod_s"})
        invoice = self.fake.ok("POST", "/v1/invoices/create_preview", {
            "customer": customer["id"], "subscription_details[items][0][price]": "price_starter_year"})
        stamp = self.fake.control("GET", "/__fake/clock")["now"]
        line = invoice["lines"]["data"][0]
        self.assertLess(abs(invoice["next_payment_attempt"] - stamp), 5)
        self.assertEqual(line["period"]["end"] - line["period"]["start"], 365 * DAY)
        self.assertEqual(invoice["amount_due"], 49000)

    def test_what_stripe_refuses(self):
        customer = self.customer()
        item = {"subscription_details[items][0][price]": "price_starter"}
        error = self.error("POST", "/v1/invoices/create_preview", {"customer": "cus_nope", **item})
        self.assertEqual((error["code"], error["param"]), ("resource_missing", "customer"))
        error = self.error("POST", "/v1/invoices/create_preview", {
            "customer": customer["id"], "subscription_details[items][0][price]": "price_nope"})
        self.assertEqual((error["code"], error["param"]),
                         ("resource_missing", "subscription_details[items][0][price]"))
        self.fake.control("POST", "/__fake/prices", {"id": "price_eur", "unit_amount": 4500, "currency": "eur",
                                                     "product": "prod_s"})
        error = self.error("POST", "/v1/invoices/create_preview", {
            "customer": customer["id"], **item, "subscription_details[items][1][price]": "price_eur"})
        self.assertIn("currency", error["message"])
        error = self.error("POST", "/v1/invoices/create_preview", item)
        self.assertEqual((error["code"], error["param"]), ("parameter_missing", "customer"))
        error = self.error("POST", "/v1/invoices/create_preview", {
            "customer": customer["id"], "subscription_details[items][0][price]": "price_credits"})
        self.assertIn("one_time", error["message"])
        sub = self.seeded_subscription(customer, [("price_starter", 1)])
        error = self.error("POST", "/v1/invoices/create_preview", {
            "subscription": sub["id"], "subscription_details[start_date]": str(int(time.time()) + DAY)})
        self.assertEqual(error["message"], "start_date cannot be used with an existing subscription.")
        preview = self.fake.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
        self.assertEqual(preview["parent"]["subscription_details"]["subscription"], sub["id"],
                         "the existing-subscription preview is unchanged")


class Schedules(FakeStripeCase):
    def scheduled(self, customer: dict, items: list) -> tuple:
        sub = self.seeded_subscription(customer, items)
        schedule = self.fake.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
        return sub, schedule

    def test_phases_keep_every_item_and_quantity_and_the_clock_applies_them_exactly(self):
        customer, _, first = self.subscribed()  # a customer with a good card
        self.fake.ok("DELETE", f"/v1/subscriptions/{first['id']}")
        sub, schedule = self.scheduled(customer, [("price_starter", 1), ("price_team", 2)])
        phase = schedule["phases"][0]
        self.assertEqual([(i["price"], i["quantity"]) for i in phase["items"]],
                         [("price_starter", 1), ("price_team", 2)])
        schedule = self.fake.ok("POST", f"/v1/subscription_schedules/{schedule['id']}", {
            "phases[0][start_date]": str(phase["start_date"]), "phases[0][end_date]": str(phase["end_date"]),
            "phases[0][items][0][price]": "price_starter", "phases[0][items][0][quantity]": "1",
            "phases[0][items][1][price]": "price_team", "phases[0][items][1][quantity]": "2",
            "phases[1][items][0][price]": "price_pro", "phases[1][items][0][quantity]": "1",
            "phases[1][items][1][price]": "price_team", "phases[1][items][1][quantity]": "2",
            "end_behavior": "release"})
        self.assertEqual([[(i["price"], i["quantity"]) for i in ph["items"]] for ph in schedule["phases"]],
                         [[("price_starter", 1), ("price_team", 2)], [("price_pro", 1), ("price_team", 2)]])
        self.assertEqual(schedule["phases"][1]["start_date"], phase["end_date"])
        self.assertEqual(schedule["phases"][1]["end_date"], phase["end_date"] + 30 * DAY)
        ids = {i["price"]["id"]: i["id"] for i in sub["items"]["data"]}

        actions = self.advance(31)["actions"]
        self.assertEqual([(a["action"], a["paid"]) for a in actions], [("renewed", True)])
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        items = [(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]]
        self.assertEqual(items, [("price_pro", 1), ("price_team", 2)])
        self.assertEqual(sub["items"]["total_count"], 2)
        now_ids = {i["price"]["id"]: i["id"] for i in sub["items"]["data"]}
        self.assertEqual(now_ids["price_team"], ids["price_team"], "an unchanged price keeps its item")
        self.assertNotIn(now_ids["price_pro"], ids.values(), "a new price gets a new item")
        self.assertEqual({(i["current_period_start"], i["current_period_end"]) for i in sub["items"]["data"]},
                         {(phase["end_date"], phase["end_date"] + 30 * DAY)})
        self.assertEqual(sub["schedule"], schedule["id"])
        invoice = self.fake.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
        self.assertEqual(invoice["amount_paid"], 9900 + 2 * 2900)

        self.advance(30)
        sub = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        self.assertIsNone(sub["schedule"])
        self.assertEqual([(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]],
                         [("price_pro", 1), ("price_team", 2)])
        schedule = self.fake.ok("GET", f"/v1/subscription_schedules/{schedule['id']}")
        self.assertEqual((schedule["status"], schedule["released_subscription"]), ("released", sub["id"]))

    def test_a_phase_may_not_name_a_price_twice(self):
        _, schedule = self.scheduled(self.customer(), [("price_starter", 1)])
        error = self.error("POST", f"/v1/subscription_schedules/{schedule['id']}", {
            "phases[0][start_date]": str(schedule["phases"][0]["start_date"]),
            "phases[0][items][0][price]": "price_team", "phases[0][items][1][price]": "price_team"})
        self.assertEqual(error["param"], "phases[0][items][1][price]")

    def test_cancelation_changes_on_a_scheduled_subscription_are_refused(self):
        sub, schedule = self.scheduled(self.customer(), [("price_starter", 1)])
        for form, param in (({"cancel_at_period_end": "true"}, "cancel_at_period_end"),
                            ({"cancel_at": str(int(time.time()) + DAY)}, "cancel_at")):
            error = self.error("POST", f"/v1/subscriptions/{sub['id']}", form)
            self.assertEqual(error["message"], f"The subscription is managed by the subscription schedule "
                                               f"`{schedule['id']}`, and updating any cancelation behavior directly "
                                               "is not allowed. Please update the schedule instead.")
            self.assertEqual((error["type"], error["param"]), ("invalid_request_error", param))
        self.assertFalse(self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")["cancel_at_period_end"])
        plain = self.seeded_subscription(self.customer(), [("price_starter", 1)])
        error = self.error("POST", f"/v1/subscriptions/{plain['id']}", {"cancel_at": str(int(time.time()) + DAY)})
        self.assertEqual(error["param"], "cancel_at", "the fake says it does not model cancel_at")

    def test_canceling_the_subscription_cancels_its_schedule(self):
        sub, schedule = self.scheduled(self.customer(), [("price_starter", 1)])
        canceled = self.fake.ok("DELETE", f"/v1/subscriptions/{sub['id']}")
        self.assertEqual(canceled["status"], "canceled")
        schedule = self.fake.ok("GET", f"/v1/subscription_schedules/{schedule['id']}")
        self.assertEqual(schedule["status"], "canceled")
        self.assertIsNotNone(schedule["canceled_at"])
        self.assertIsNone(schedule["current_phase"])
        self.assertEqual([e["type"] for e in self.events()][:2],
                         ["customer.subscription.deleted", "subscription_schedule.canceled"])
        error = self.error("POST", f"/v1/subscription_schedules/{schedule['id']}/release")
        self.assertIn("`canceled` status", error["message"])


class SubscriptionItems(FakeStripeCase):
    """POST /v1/subscriptions/{id} `items[i]`: quantities, new items, deleted items, their prorations."""

    def setUp(self):
        super().setUp()
        for price in ({"id": "price_seat", "unit_amount": 1500, "nickname": "Seat", "product": "prod_t"},
                      {"id": "price_starter_year", "unit_amount": 49000, "recurring": {"interval": "year"},
                       "product": "prod_s"},
                      {"id": "price_quarter", "unit_amount": 12000,
                       "recurring": {"interval": "month", "interval_count": 3}, "product": "prod_s"},
                      {"id": "price_eur", "unit_amount": 4500, "currency": "eur", "product": "prod_s"},
                      {"id": "price_metered", "unit_amount": 2,
                       "recurring": {"interval": "month", "usage_type": "metered"}, "product": "prod_c"}):
            self.fake.control("POST", "/__fake/prices", price)

    def mid_period(self, items: list) -> dict:
        """A seeded subscription of `items` [(price, quantity)] half way through its 30-day period."""
        end = self.fake.control("GET", "/__fake/clock")["now"] + 15 * DAY
        return self.fake.control("POST", "/__fake/subscriptions", {
            "customer": self.customer()["id"], "status": "active", "current_period_end": end,
            "current_period_start": end - 30 * DAY,
            "items": [{"price": price, "quantity": quantity} for price, quantity in items]})

    def left(self, item: dict) -> float:
        """The share of `item`'s period still ahead."""
        at = self.fake.control("GET", "/__fake/clock")["now"]
        return (item["current_period_end"] - at) / (item["current_period_end"] - item["current_period_start"])

    def pending(self, sub: dict) -> list:
        """The proration lines waiting for `sub`'s next invoice (as its preview shows them)."""
        preview = self.fake.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
        return [line for line in preview["lines"]["data"]
                if line["parent"]["subscription_item_details"]["proration"]]

    def test_a_quantity_change_prorates_the_difference_and_create_prorations_keeps_it_for_the_next_invoice(self):
        sub = self.mid_period([("price_seat", 3)])
        item = sub["items"]["data"][0]
        updated = self.fake.ok("POST", f"/v1/subscriptions/{sub['id']}",
                               {"items[0][id]": item["id"], "items[0][quantity]": "5"})
        now = updated["items"]["data"][0]
        self.assertEqual((now["id"], now["price"]["id"], now["plan"]["id"], now["quantity"]),
                         (item["id"], "price_seat", "price_seat", 5), "the item keeps its id and price")
        self.assertEqual(updated["latest_invoice"], sub["latest_invoice"], "nothing is invoiced now")
        lines = self.pending(sub)
        left = self.left(item)
        self.assertEqual([(x["description"], x["quantity"], x["pricing"]["price_details"]["price"]) for x in lines],
                         [("Unused time on 3 × Seat", 3, "price_seat"),
                          ("Remaining time on 5 × Seat", 5, "price_seat")])
        self.assertAlmostEqual(lines[0]["amount"], -3 * 1500 * left, delta=2)
        self.assertAlmostEqual(lines[1]["amount"], 5 * 1500 * left, delta=2)
        self.assertAlmostEqual(sum(x["amount"] for x in lines), 1500, delta=5, msg="(5 - 3) × 1500 × half a period")
        self.assertEqual({x["parent"]["subscription_item_details"]["subscription_item"] for x in lines}, {item["id"]})

        event = self.events(type="customer.subscription.updated")[0]
        self.assertEqual(event["data"]["object"]["items"]["data"][0]["quantity"], 5)
        self.assertEqual(event["data"]["previous_attributes"]["items"]["data"][0]["quantity"], 3)

        self.advance(16)  # the renewal invoice carries the prorations beside the new period's 5 seats
        renewed = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        invoice = self.fake.ok("GET", f"/v1/invoices/{renewed['latest_invoice']}")
        self.assertEqual(invoice["billing_reason"], "subscription_cycle")
        self.assertEqual([x["amount"] for x in invoice["lines"]["data"]][:2], [x["amount"] for x in lines])
        self.assertAlmostEqual(invoice["total"], 5 * 1500 + 1500, delta=5)
        self.assertEqual(self.pending(renewed), [], "and are used up")

    def test_always_invoice_bills_the_proration_at_once_and_none_makes_none(self):
        _, _, sub = self.subscribed()  # Starter × 1, paid with a good card, its period just begun
        item = sub["items"]["data"][0]
        path = f"/v1/subscriptions/{sub['id']}"
        updated = self.fake.ok("POST", path, {"items[0][id]": item["id"], "items[0][quantity]": "3",
                                              "proration_behavior": "always_invoice"})
        self.assertEqual(updated["items"]["data"][0]["quantity"], 3)
        self.assertNotEqual(updated["latest_invoice"], sub["latest_invoice"])
        invoice = self.fake.ok("GET", f"/v1/invoices/{updated['latest_invoice']}")
        self.assertEqual((invoice["billing_reason"], invoice["status"]), ("subscription_update", "paid"))
        self.assertAlmostEqual(invoice["amount_paid"], 2 * 4900 * self.left(item), delta=5)
        self.assertEqual([x["quantity"] for x in invoice["lines"]["data"]], [1, 3])
        self.assertTrue(all(x["parent"]["subscription_item_details"]["proration"] for x in invoice["lines"]["data"]))
        self.assertEqual(self.pending(updated), [], "nothing is left for the next invoice")

        before = len(self.fake.ok("GET", "/v1/invoices", {"subscription": sub["id"]})["data"])
        updated = self.fake.ok("POST", path, {"items[0][id]": item["id"], "items[0][quantity]": "2",
                                              "proration_behavior": "none"})
        self.assertEqual(updated["items"]["data"][0]["quantity"], 2)
        self.assertEqual(updated["latest_invoice"], invoice["id"])
        self.assertEqual(len(self.fake.ok("GET", "/v1/invoices", {"subscription": sub["id"]})["data"]), before)
        self.assertEqual(self.pending(updated), [])

    def test_a_new_item_of_a_new_price_is_added_with_its_quantity_and_its_remaining_time_charged(self):
        sub = self.mid_period([("price_starter", 1)])
        first = sub["items"]["data"][0]
        updated = self.fake.ok("POST", f"/v1/subscriptions/{sub['id']}",
                               {"items[0][price]": "price_seat", "items[0][quantity]": "2"})
        self.assertEqual(updated["items"]["total_count"], 2)
        self.assertEqual([(i["price"]["id"], i["quantity"]) for i in updated["items"]["data"]],
                         [("price_starter", 1), ("price_seat", 2)])
        added = updated["items"]["data"][1]
        self.assertTrue(added["id"].startswith("si_"))
        self.assertNotEqual(added["id"], first["id"])
        self.assertEqual((added["object"], added["subscription"], added["plan"]["id"]),
                         ("subscription_item", sub["id"], "price_seat"))
        self.assertEqual((added["current_period_start"], added["current_period_end"]),
                         (first["current_period_start"], first["current_period_end"]))
        self.assertEqual(sorted(added), sorted(first), "the same shape as the items already there")
        lines = self.pending(sub)
        self.assertEqual([(x["description"], x["quantity"]) for x in lines], [("Remaining time on 2 × Seat", 2)])
        self.assertAlmostEqual(lines[0]["amount"], 2 * 1500 * self.left(first), delta=2)
        self.assertEqual(lines[0]["parent"]["subscription_item_details"]["subscription_item"], added["id"])
        event = self.events(type="customer.subscription.updated")[0]
        self.assertEqual(len(event["data"]["previous_attributes"]["items"]["data"]), 1)
        self.assertEqual(event["data"]["previous_attributes"]["items"]["total_count"], 1)

        updated = self.fake.ok("POST", f"/v1/subscriptions/{sub['id']}", {"items[0][price]": "price_team",
                                                                         "proration_behavior": "none"})
        self.assertEqual(updated["items"]["data"][2]["quantity"], 1, "a new item's quantity defaults to 1")
        updated = self.fake.ok("POST", f"/v1/subscriptions/{sub['id']}", {"items[0][price]": "price_metered"})
        metered = updated["items"]["data"][3]
        self.assertIsNone(metered["quantity"], "a metered item has no quantity")
        self.advance(16)  # (the preview cannot price a metered item's next period: the renewal shows the lines)
        renewed = self.fake.ok("GET", f"/v1/subscriptions/{sub['id']}")
        invoice = self.fake.ok("GET", f"/v1/invoices/{renewed['latest_invoice']}")
        prorations = [x for x in invoice["lines"]["data"] if x["parent"]["subscription_item_details"]["proration"]]
        self.assertEqual([x["description"] for x in prorations], ["Remaining time on 2 × Seat"],
                         "only the seats were prorated: not Team pack (proration_behavior=none), not the metered item")
        self.assertNotIn(metered["id"], [x["parent"]["subscription_item_details"]["subscription_item"]
                                         for x in invoice["lines"]["data"]])

    def test_deleting_an_item_credits_its_unused_time_and_the_last_item_cannot_go(self):
        sub = self.mid_period([("price_starter", 1), ("price_team", 2)])
        starter, team = sub["items"]["data"]
        path = f"/v1/subscriptions/{sub['id']}"
        updated = self.fake.ok("POST", path, {"items[0][id]": team["id"], "items[0][deleted]": "true"})
        self.assertEqual([i["id"] for i in updated["items"]["data"]], [starter["id"]])
        self.assertEqual(updated["items"]["total_count"], 1)
        lines = self.pending(sub)
        self.assertEqual([(x["description"], x["quantity"]) for x in lines], [("Unused time on 2 × Team pack", 2)])
        self.assertAlmostEqual(lines[0]["amount"], -2 * 2900 * self.left(team), delta=2)

        error = self.error("POST", path, {"items[0][id]": starter["id"], "items[0][deleted]": "true"})
        self.assertIn("The fake does not support deleting every item", error["message"])
        swapped = self.fake.ok("POST", path, {"items[0][id]": starter["id"], "items[0][deleted]": "true",
                                              "items[1][price]": "price_pro", "proration_behavior": "none"})
        self.assertEqual([(i["price"]["id"], i["quantity"]) for i in swapped["items"]["data"]], [("price_pro", 1)])

    def test_what_stripe_refuses(self):
        sub = self.mid_period([("price_starter", 1), ("price_metered", 1)])
        starter, metered = sub["items"]["data"]
        path = f"/v1/subscriptions/{sub['id']}"
        cases = [
            ({"items[0][price]": "price_starter"}, "items[0][price]",
             "Cannot add multiple subscription items with the same plan: price_starter"),
            ({"items[0][price]": "price_pro", "items[1][price]": "price_pro"}, "items[1][price]",
             "Cannot add multiple subscription items with the same plan: price_pro"),
            ({"items[0][price]": "price_starter_year"}, "items[0][price]",
             "Currency and interval fields must match across all plans on this subscription. Found mismatch in "
             "interval field."),
            ({"items[0][price]": "price_quarter"}, "items[0][price]",
             "Currency and interval fields must match across all plans on this subscription. Found mismatch in "
             "interval_count field."),
            ({"items[0][price]": "price_eur"}, "items[0][price]",
             "Currency and interval fields must match across all plans on this subscription. Found mismatch in "
             "currency field."),
            ({"items[0][id]": starter["id"], "items[0][quantity]": "-1"}, "items[0][quantity]",
             "Invalid non-negative integer"),
            ({"items[0][id]": starter["id"], "items[0][quantity]": "1.5"}, "items[0][quantity]",
             "Invalid integer: 1.5"),
            ({"items[0][price]": "price_seat", "items[0][quantity]": "two"}, "items[0][quantity]",
             "Invalid integer: two"),
            ({"items[0][id]": metered["id"], "items[0][quantity]": "3"}, "items[0][quantity]",
             "You cannot set the quantity for metered plans."),
            ({"items[0][price]": "price_seat", "items[1][id]": metered["id"], "items[1][quantity]": "0"},
             "items[1][quantity]", "You cannot set the quantity for metered plans."),
            ({"items[0][id]": "si_nope", "items[0][quantity]": "2"}, "items[0][id]",
             "Invalid subscription_item id: si_nope"),
            ({"items[0][price]": "price_nope"}, "items[0][price]", "No such price: 'price_nope'"),
            ({"items[0][price]": "price_credits"}, "items[0][price]",
             "The price specified is set to `type=one_time` but this field only accepts prices with "
             "`type=recurring`."),
            ({"items[0][quantity]": "2"}, "items[0][price]", "Missing required param: items[0][price]."),
            ({"items[0][id]": starter["id"], "items[0][deleted]": "yes"}, "items[0][deleted]",
             "Invalid boolean: yes"),
            ({"items[0][id]": starter["id"], "items[0][tax_rates][0]": "txr_1"}, "items[0][tax_rates]", None),
            ({"items[0][id]": starter["id"], "items[0][colour]": "red"}, "items[0][colour]",
             "Received unknown parameter: items[0][colour]"),
        ]
        for form, param, message in cases:
            error = self.error("POST", path, {**form, "metadata[tried]": "yes"})
            self.assertEqual((error["type"], error["param"]), ("invalid_request_error", param), form)
            if message is not None:
                self.assertEqual(error["message"], message, form)
        self.assertIn("does not support", self.error("POST", path, {"items[0][id]": starter["id"],
                                                                    "items[0][tax_rates][0]": "txr_1"})["message"])
        self.assertEqual(self.error("POST", path, {"items[0][id]": starter["id"], "items[0][quantity]": "-1"})["code"],
                         "parameter_invalid_integer")
        now = self.fake.ok("GET", path)
        self.assertEqual(now["items"], sub["items"], "a refused update changes no item")
        self.assertEqual(now["metadata"], {}, "nor anything else")
        self.assertEqual(self.events(type="customer.subscription.updated"), [])

        single = self.mid_period([("price_starter", 1)])  # one item may move to another interval
        item = single["items"]["data"][0]
        moved = self.fake.ok("POST", f"/v1/subscriptions/{single['id']}", {
            "items[0][id]": item["id"], "items[0][price]": "price_starter_year", "proration_behavior": "none"})
        self.assertEqual(moved["items"]["data"][0]["price"]["id"], "price_starter_year")
        swapped = self.fake.ok("POST", path, {  # two items may trade prices in one request
            "items[0][id]": starter["id"], "items[0][deleted]": "true", "items[1][price]": "price_starter",
            "items[1][quantity]": "4", "proration_behavior": "none"})
        self.assertEqual([(i["price"]["id"], i["quantity"]) for i in swapped["items"]["data"]],
                         [("price_metered", 1), ("price_starter", 4)])

    def test_a_replayed_key_answers_the_first_quantity_change_again_and_changes_nothing(self):
        sub = self.mid_period([("price_seat", 3)])
        item = sub["items"]["data"][0]
        path = f"/v1/subscriptions/{sub['id']}"
        form = {"items[0][id]": item["id"], "items[0][quantity]": "5"}
        status, first, headers = self.fake.api("POST", path, form, idempotency_key="seats-5")
        self.assertEqual(status, 200)
        self.assertNotIn("Idempotent-Replayed", headers)
        self.fake.ok("POST", path, {"items[0][id]": item["id"], "items[0][quantity]": "7"}, idempotency_key="seats-7")
        updates, lines = len(self.events(type="customer.subscription.updated")), len(self.pending(sub))
        self.assertEqual((updates, lines), (2, 4))

        status, replayed, headers = self.fake.api("POST", path, form, idempotency_key="seats-5")
        self.assertEqual((status, headers.get("Idempotent-Replayed")), (200, "true"))
        self.assertEqual(replayed, first, "the first answer")
        self.assertEqual(replayed["items"]["data"][0]["quantity"], 5)
        self.assertEqual(self.fake.ok("GET", path)["items"]["data"][0]["quantity"], 7, "the replay changed nothing")
        self.assertEqual(len(self.events(type="customer.subscription.updated")), updates, "emitted nothing")
        self.assertEqual(len(self.pending(sub)), lines, "and prorated nothing")
        error = self.error("POST", path, {**form, "items[0][quantity]": "6"}, idempotency_key="seats-5")
        self.assertEqual(error["type"], "idempotency_error")


class Idempotency(FakeStripeCase):
    def test_a_reused_key_replays_the_first_answer_even_after_the_object_changed(self):
        _, _, sub = self.subscribed()
        path = f"/v1/subscriptions/{sub['id']}"
        status, first, headers = self.fake.api("POST", path, {"cancel_at_period_end": "true"}, idempotency_key="K")
        self.assertEqual((status, first["cancel_at_period_end"]), (200, True))
        self.assertNotIn("Idempotent-Replayed", headers)
        self.fake.ok("POST", path, {"cancel_at_period_end": "false"}, idempotency_key="L")
        updates = len(self.events(type="customer.subscription.updated"))
        self.assertEqual(updates, 2)

        status, replayed, headers = self.fake.api("POST", path, {"cancel_at_period_end": "true"},
                                                  idempotency_key="K")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(replayed, first, "the first answer, byte for byte")
        self.assertTrue(replayed["cancel_at_period_end"])
        self.assertFalse(self.fake.ok("GET", path)["cancel_at_period_end"], "the replay changed nothing")
        self.assertEqual(len(self.events(type="customer.subscription.updated")), updates, "and emitted nothing")

        error = self.error("POST", path, {"cancel_at_period_end": "false"}, idempotency_key="K")
        self.assertEqual(error["type"], "idempotency_error")
        self.assertIn("same parameters", error["message"])
        error = self.error("POST", "/v1/customers", {"cancel_at_period_end": "true"}, idempotency_key="K")
        self.assertEqual(error["type"], "idempotency_error")
        self.assertIn("same endpoint", error["message"])
        self.assertFalse(self.fake.ok("GET", path)["cancel_at_period_end"])


class FailureInjection(FakeStripeCase):
    def fail(self, rule: dict):
        return self.fake.control("POST", "/__fake/fail", rule)

    def test_a_regex_or_an_exact_path_fails_only_the_schedule_update_or_the_release(self):
        sub = self.seeded_subscription(self.customer(), [("price_starter", 1)])
        self.fail({"method": "POST", "path_regex": "/v1/subscription_schedules/[^/]+"})
        schedule = self.fake.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
        path = f"/v1/subscription_schedules/{schedule['id']}"
        self.fake.ok("GET", path)  # another method: not matched
        error = self.error("POST", path, {"metadata[k]": "v"}, status=500)
        self.assertEqual(error["type"], "api_error")
        self.assertEqual(self.fake.ok("GET", path)["metadata"], {}, "the failed update changed nothing")
        self.assertEqual(self.fake.ok("POST", path, {"metadata[k]": "v"})["metadata"], {"k": "v"}, "used up once")

        self.fail({"method": "POST", "path_regex": "/v1/subscription_schedules/[^/]+/release"})
        self.fake.ok("POST", path, {"metadata[k]": "w"})  # the update is not the release
        self.error("POST", f"{path}/release", status=500)
        self.assertEqual(self.fake.ok("GET", path)["status"], "active")
        self.fail({"method": "POST", "path": f"{path}/release", "status": 429})
        self.fake.ok("POST", path, {"metadata[k]": "x"})  # an exact path matches nothing longer or shorter
        self.assertEqual(self.error("POST", f"{path}/release", status=429)["code"], "rate_limit")
        self.assertEqual(self.fake.ok("POST", f"{path}/release")["status"], "released")

    def test_a_prefix_matches_every_longer_path(self):
        sub = self.seeded_subscription(self.customer(), [("price_starter", 1)])
        self.fail({"method": "POST", "path_prefix": "/v1/subscription_schedules", "count": 2})
        self.error("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]}, status=500)
        self.error("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]}, status=500)
        schedule = self.fake.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
        self.fail({"method": "POST", "path_prefix": f"/v1/subscription_schedules/{schedule['id']}"})
        self.error("POST", f"/v1/subscription_schedules/{schedule['id']}/release", status=500)

    def test_a_rule_names_one_way_to_match(self):
        for rule in ({"path": "/v1/customers", "path_prefix": "/v1"}, {"path_regex": "/v1/(customers"}):
            status, _, _ = self.fake.raw("POST", "/__fake/fail", json.dumps(rule).encode(),
                                         {"Content-Type": "application/json"})
            self.assertEqual(status, 400, rule)
        self.customer()  # no rule was stored


class DefaultUrls(unittest.TestCase):
    def test_without_hosted_pages_the_urls_keep_stripes_hosts_and_the_pages_still_answer(self):
        fake = Fake()
        self.addCleanup(fake.close)
        fake.control("POST", "/__fake/prices", {"id": "price_starter", "unit_amount": 4900})
        fake.control("POST", "/__fake/portal/default", {})
        customer = fake.ok("POST", "/v1/customers", {"email": "ada@example.com"})
        session = fake.ok("POST", "/v1/checkout/sessions", {"mode": "subscription", "customer": customer["id"],
                                                            "line_items[0][price]": "price_starter",
                                                            "line_items[0][quantity]": "1"})
        self.assertTrue(session["url"].startswith("https://checkout.stripe.com/c/pay/"))
        portal = fake.ok("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
        self.assertTrue(portal["url"].startswith("https://billing.stripe.com/p/session/"))
        self.assertEqual(fake.page("GET", f"/checkout/{session['id']}")[0], 200)
        self.assertEqual(fake.page("GET", f"/portal/{portal['id']}")[0], 200)
        self.assertEqual(fake.page("GET", "/checkout/cs_nope")[0], 404)


if __name__ == "__main__":
    unittest.main()


class RestrictedKeys(FakeStripeCase):
    def test_a_restricted_key_does_what_its_permissions_allow_and_is_refused_the_rest_with_403(self):
        key = self.fake.control("POST", "/__fake/restricted_keys",
                                {"permissions": {"customer": "write", "price": "read"}})["key"]
        self.assertTrue(key.startswith("rk_test_"))
        made = self.fake.api("POST", "/v1/customers", {"email": "ada@example.com"}, key=key)
        self.assertEqual(made[0], 200, made[1])
        self.assertEqual(self.fake.api("GET", f"/v1/customers/{made[1]['id']}", key=key)[0], 200,
                         "write implies read")
        self.assertEqual(self.fake.api("GET", "/v1/prices", key=key)[0], 200)
        status, body, _ = self.fake.api("POST", "/v1/prices/price_pro", {"nickname": "x"}, key=key)
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["type"], "invalid_request_error")
        self.assertIn("does not have the required permissions", body["error"]["message"])
        self.assertIn("'rak_price_write'", body["error"]["message"])
        self.assertNotIn(key, body["error"]["message"], "the key is masked")
        status, body, _ = self.fake.api("GET", "/v1/webhook_endpoints", key=key)
        self.assertEqual((status, "'rak_webhook_endpoint_read'" in body["error"]["message"]), (403, True))
        self.assertEqual(self.fake.ok("GET", "/v1/prices/price_pro")["nickname"], "Pro", "the refusal changed nothing")

    def test_a_restricted_key_the_account_never_made_is_invalid(self):
        status, body, _ = self.fake.api("GET", "/v1/customers", key="rk_test_nobody_made_this_one")
        self.assertEqual(status, 401, body)
        self.assertIn("Invalid API Key", body["error"]["message"])
        status, body = self.fake.raw("POST", "/__fake/restricted_keys", json.dumps(
            {"permissions": {"customers_typo": "write"}}).encode(), {"Content-Type": "application/json"})[:2]
        self.assertEqual(status, 400, body)


class WebhookEndpointVersions(FakeStripeCase):
    def test_the_api_version_is_set_at_creation_and_an_update_cannot_change_it(self):
        form = {"url": "https://example.com/webhooks/stripe", "enabled_events[]": "invoice.paid",
                "api_version": "2025-03-31.basil"}
        endpoint = self.fake.ok("POST", "/v1/webhook_endpoints", form)
        self.assertEqual(endpoint["api_version"], "2025-03-31.basil")
        error = self.error("POST", f"/v1/webhook_endpoints/{endpoint['id']}", {"api_version": "2026-09-30.endive"})
        self.assertEqual((error["message"], error["param"]),
                         ("Received unknown parameter: api_version", "api_version"))
        self.assertEqual(self.fake.ok("GET", f"/v1/webhook_endpoints/{endpoint['id']}")["api_version"],
                         "2025-03-31.basil")
        self.assertEqual(self.error("POST", "/v1/webhook_endpoints", {**form, "api_version": "soon"})["param"],
                         "api_version")
        updated = self.fake.ok("POST", f"/v1/webhook_endpoints/{endpoint['id']}", {"disabled": "true"})
        self.assertEqual(updated["status"], "disabled")
        default = self.fake.ok("POST", "/v1/webhook_endpoints", {k: v for k, v in form.items() if k != "api_version"})
        self.assertIsNone(default["api_version"], "no version: the account's default")
