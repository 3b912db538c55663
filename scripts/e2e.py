#!/usr/bin/env python3
"""A customer's whole life through the demo app (web/) in headless Chromium, against `make dev`.

    e2e.py --ready .local/dev-ready --out .local/e2e --chromium /usr/bin/chromium --driver /usr/bin/chromedriver

sign up -> pricing -> subscribe to Starter (the local Checkout page) -> the account shows Starter -> upgrade to
Professional with a preview -> the card fails at renewal -> the grace banner -> a good card, the invoice paid ->
the Team pack add-on bought (its own Checkout): listed, the agents limit raised -> a credit pack bought ->
credits spent until refused -> a switch to Starter scheduled for the period end, still shown after a reload ->
cancel: the notice names the plan and the add-on and the dropped switch -> resume.

Each step saves a screenshot under --out (NN-step.png). Any console error fails the run, and so does any failed
request except the ones a step expects (the refusal at the end of the credits). Run by scripts/e2e.sh.
"""
import argparse
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser or driver online.
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

# How long one step waits for Entitle to follow (Stripe's webhook -> stripe-webhook -> SNS -> SQS -> bridge ->
# processor -> entitlements, then the page's 2 s poll).
FOLLOW = 60


class Failed(Exception):
    pass


class Journey:
    def __init__(self, args):
        self.ready = dict(
            line.split("=", 1) for line in Path(args.ready).read_text().splitlines() if "=" in line
        )
        self.out = Path(args.out)
        self.step_no = 0
        self.expected_failures: list[str] = []
        self.problems: list[str] = []
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tempfile.mkdtemp()}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(args.driver), options=options)
        self.driver.set_page_load_timeout(60)

    # --- the browser ---------------------------------------------------------------------------------------
    def console(self) -> None:
        """Collects the browser's log since the last call: errors are problems, unless a step expected them."""
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            message = entry["message"]
            if entry.get("source") == "network" and any(re.search(p, message) for p in self.expected_failures):
                continue
            self.problems.append(f"step {self.step_no}: {entry.get('source')}: {message}")

    def step(self, name: str) -> None:
        self.console()
        self.step_no += 1
        path = self.out / f"{self.step_no:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"e2e: step {self.step_no:2d} {name:<28} ok  ({path})", flush=True)

    def el(self, id_: str):
        return self.driver.find_element(By.ID, id_)

    def wait(self, what: str, predicate, timeout: float = FOLLOW):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except WebDriverException as e:  # not on the page yet
                last = e
            time.sleep(0.25)
        self.driver.save_screenshot(str(self.out / f"failed-{self.step_no + 1:02d}.png"))
        raise Failed(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last.msg})" if last else ""))

    def visible(self, id_: str) -> bool:
        found = self.driver.find_elements(By.ID, id_)
        return bool(found) and found[0].is_displayed()

    def click(self, id_: str, timeout: float = FOLLOW) -> None:
        self.wait(f"#{id_} to be clickable", lambda: self.visible(id_) and self.el(id_).is_enabled(), timeout)
        self.el(id_).click()

    def reveal(self, id_: str) -> None:
        """Scrolls #id_ into the middle of the window, so the step's screenshot shows what it checked."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", self.el(id_))

    def scheduled_from_entitlements(self, shown: bool) -> bool:
        """#scheduled-change shown (or hidden) from GET /entitlements, not from the last action's answer (the page
        shows that one until the entitlements agree: data-source="answer")."""
        return (self.visible("scheduled-change") == shown
                and self.el("scheduled-change").get_attribute("data-source") == "entitlements")

    def text(self, id_: str) -> str:
        found = self.driver.find_elements(By.ID, id_)
        return found[0].text.strip() if found else ""

    def wait_text(self, id_: str, pattern: str, timeout: float = FOLLOW) -> str:
        return self.wait(f"#{id_} to read /{pattern}/ (it reads {self.text(id_)!r})",
                         lambda: re.search(pattern, self.text(id_), re.I) and self.text(id_), timeout)

    def wait_url(self, prefix: str, timeout: float = FOLLOW) -> None:
        self.wait(f"a page under {prefix} (at {self.driver.current_url})",
                  lambda: self.driver.current_url.startswith(prefix), timeout)

    # --- the journey ---------------------------------------------------------------------------------------
    def run(self) -> None:
        app, stripe, clerk = self.ready["APP_URL"], self.ready["STRIPE_BASE"], self.ready["CLERK_BASE"]
        d = self.driver
        email = f"e2e-{int(time.time())}@example.com"

        d.get(app)
        self.wait("the pricing table", lambda: self.visible("subscribe-starter_monthly"))
        self.step("pricing")

        self.click("sign-in")
        self.wait_url(clerk)
        self.el("email").send_keys(email)
        self.el("first-name").send_keys("Grace")
        self.el("last-name").send_keys("Hopper")
        self.step("sign-up-form")
        self.click("sign-in")
        self.wait_url(app)
        self.wait_text("account-plan", r"free")
        self.step("signed-up-free")

        self.click("subscribe-starter_monthly")
        self.wait_url(f"{stripe}/checkout/")
        self.wait("the Checkout page's line items", lambda: "Starter" in d.page_source)
        self.step("checkout-starter")
        self.click("pay")
        self.wait_url(app)
        self.wait_text("account-plan", r"starter")
        self.wait_text("account-status", r"active")
        self.step("starter-active")

        self.click("change-pro_monthly")
        self.wait("the change preview", lambda: self.visible("change-preview") and self.text("change-preview"))
        preview = self.text("change-preview")
        if not re.search(r"\d", preview):
            raise Failed(f"the preview shows no amount: {preview!r}")
        self.step("upgrade-preview")
        self.click("change-confirm")
        self.wait_text("account-plan", r"professional")
        self.step("professional-active")

        # The card starts failing; the renewal a month later is declined.
        self.click("portal")
        self.wait_url(f"{stripe}/portal/")
        self.click("card-failing")
        self.wait("the portal to show the new card", lambda: "0341" in d.page_source)
        self.step("portal-failing-card")
        self.click("return")
        self.wait_url(app)
        self.click("advance-clock")
        self.wait_text("account-status", r"past.?due")
        self.wait("the grace banner", lambda: self.visible("grace-banner"))
        self.wait_text("account-plan", r"professional")  # still entitled during the grace period
        self.step("renewal-failed-grace")

        # A good card, and the open invoice paid.
        self.click("portal")
        self.wait_url(f"{stripe}/portal/")
        self.click("card-ok")
        self.wait("the portal to show the good card", lambda: "4242" in d.page_source)
        self.click("pay-invoice")
        self.wait("the portal to show the invoice paid", lambda: not self.visible("pay-invoice"))
        self.step("portal-invoice-paid")
        self.click("return")
        self.wait_url(app)
        self.wait_text("account-status", r"^active")
        self.wait("the grace banner to go", lambda: not self.visible("grace-banner"))
        self.step("recovered-active")

        # An add-on beside the plan: a Checkout of its own (billing-api sells it beside a live plan), then the
        # Add-ons section lists it and the agents limit (GET /usage: the plan's plus the add-on's) grows by what
        # the catalog says one Team pack adds.
        adds = self.catalog_limit("team_pack", "agents")
        agents = self.wait("the agents limit", lambda: limit_of(self.text("usage-agents")))
        self.click("buy-team_pack_monthly")
        self.wait_url(f"{stripe}/checkout/")
        self.wait("the Checkout page's Team pack line", lambda: "Team pack" in d.page_source)
        self.step("checkout-team-pack")
        self.click("pay")
        self.wait_url(app)
        self.wait_text("addon-list", rf"Team pack × 1: \+{adds:,} agents")
        self.wait("the agents limit to grow by the Team pack's",
                  lambda: limit_of(self.text("usage-agents")) == agents + adds)
        self.wait_text("account-plan", r"professional")
        self.reveal("addon-list")
        self.step("team-pack-added")

        # Credits: a pack bought, then spent until refused.
        before = credits(self.text("credits"))
        self.click("buy-credits_1000")
        self.wait_url(f"{stripe}/checkout/")
        self.click("pay")
        self.wait_url(app)
        self.wait("the credits to grow by 1,000",
                  lambda: credits(self.text("credits")) is not None
                  and credits(self.text("credits")) >= (before or 0) + 1000)
        self.step("credits-bought")
        # Spending past the balance is refused by usage-api (through the demo backend): a 4xx that is expected.
        self.expected_failures.append(
            r"/api/generate - Failed to load resource: the server responded with a status of 4\d\d")
        refused = False
        for _ in range(200):
            self.click("generate")
            time.sleep(0.3)
            message = self.text("usage-message")
            if re.search(r"refus|not enough|insufficient|limit|no credits", message, re.I):
                refused = True
                break
        if not refused:
            raise Failed(f"generate was never refused; the last message: {self.text('usage-message')!r}")
        self.step("credits-refused")

        # A switch to Starter at the period end (a Stripe subscription schedule): nothing changes now, and the
        # page shows it from GET /entitlements' scheduledChange, so it is still there after a reload.
        self.click("change-starter_monthly")
        self.wait("the change preview", lambda: self.visible("change-preview") and self.text("change-preview"))
        self.click("change-at-period-end")
        self.wait_text("scheduled-change", r"Scheduled change: switching to Starter on")
        self.wait("GET /entitlements to have the scheduled change (the processor, from Stripe's schedule)",
                  lambda: self.scheduled_from_entitlements(shown=True))
        self.reveal("scheduled-change")
        self.step("switch-scheduled")
        d.refresh()
        self.wait_text("account-plan", r"professional")
        self.wait_text("scheduled-change", r"Scheduled change: switching to Starter on")
        self.wait_text("addon-list", r"Team pack × 1")
        self.step("scheduled-after-reload")

        # Cancel stops the plan and the add-on at the period end and drops the scheduled switch; the notice
        # says all three.
        self.click("cancel")
        self.wait_text("notice", r"Canceled at period end: Professional\b.*Team pack × 1 \(ends ")
        self.wait_text("notice", r"dropped the scheduled switch to Starter")
        self.wait_text("account-status", r"cancel")
        self.wait_text("addon-list", r"Team pack × 1.* until ")
        self.wait("GET /entitlements to drop the scheduled change",
                  lambda: self.scheduled_from_entitlements(shown=False))
        self.reveal("notice")
        self.step("canceling")
        self.click("resume")
        self.wait_text("notice", r"Resumed: Professional\b.*Team pack × 1")
        self.wait_text("account-status", r"^active")
        self.wait("the Team pack to run on (no end date)",
                  lambda: "Team pack × 1" in self.text("addon-list") and "until" not in self.text("addon-list"))
        self.wait("the scheduled switch to stay dropped", lambda: self.scheduled_from_entitlements(shown=False))
        self.reveal("notice")
        self.step("resumed")
        self.console()
        self.deliveries(stripe)
        self.dead_letters()

    def catalog_limit(self, plan: str, limit: str) -> int:
        """What one unit of `plan` grants of `limit`, from billing-api's GET /plans (config/plans.toml)."""
        with urllib.request.urlopen(f"{self.ready['BILLING_API']}/plans", timeout=10) as reply:
            plans = json.load(reply)["plans"]
        found = next((p for p in plans if p["id"] == plan), None)
        if found is None or not isinstance(found.get("limits", {}).get(limit), int):
            raise Failed(f"GET /plans has no numeric {limit} limit for {plan}")
        return found["limits"][limit]

    def deliveries(self, stripe: str) -> None:
        """Every event the local Stripe sent was accepted by stripe-webhook in the end, none refused as bad input
        (a 4xx would mean Entitle cannot read a shape Stripe sends)."""
        deadline = time.monotonic() + FOLLOW
        while True:
            with urllib.request.urlopen(f"{stripe}/__fake/deliveries", timeout=10) as reply:
                attempts = json.load(reply)
            events = {a["event"]: a["type"] for a in attempts}
            accepted = {a["event"] for a in attempts if a["ok"]}
            refused = [a for a in attempts if a["status"] is not None and 400 <= a["status"] < 500]
            if refused:
                raise Failed(f"stripe-webhook refused {len(refused)} deliveries, e.g. {refused[0]}")
            if accepted == set(events) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if accepted != set(events):
            missing = sorted({events[e] for e in set(events) - accepted})
            raise Failed(f"{len(set(events) - accepted)} events never accepted by stripe-webhook: {missing}")
        durations = [a["duration_ms"] for a in attempts if a["ok"]]
        print(f"e2e: {len(events)} Stripe events ({len(set(events.values()))} types) delivered in {len(attempts)} "
              f"attempts, all accepted; stripe-webhook answered in median {statistics.median(durations):.0f} ms, "
              f"max {max(durations)} ms (debug build)")

    def dead_letters(self) -> None:
        """Nothing the journey caused ended in the entitlement dead-letter queue."""
        import boto3  # the local AWS's client, in .venv through moto

        env = {}  # .local/dev-aws.env: `export NAME=<shell-quoted value>` lines (scripts/local_aws.py)
        for line in Path(".local/dev-aws.env").read_text().splitlines():
            name, _, raw = line.removeprefix("export ").partition("=")
            if raw and not line.startswith("#"):
                env[name] = (shlex.split(raw) or [""])[0]
        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                           aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        attributes = sqs.get_queue_attributes(QueueUrl=env["ENTITLEMENT_DLQ_URL"], AttributeNames=["All"])["Attributes"]
        waiting = (int(attributes["ApproximateNumberOfMessages"])
                   + int(attributes["ApproximateNumberOfMessagesNotVisible"]))
        if waiting:
            raise Failed(f"{waiting} billing events were dead-lettered (make events / entitle dlq list)")
        print("e2e: the entitlement dead-letter queue is empty")


def credits(text: str):
    """The first number in the credits element ("1,000 credits" -> 1000)."""
    found = re.search(r"\d[\d,]*", text or "")
    return int(found.group().replace(",", "")) if found else None


def limit_of(text: str):
    """The limit in a usage bar ("agents 0 of 15" -> 15); None without one."""
    found = re.search(r"\bof (\d[\d,]*)", text or "")
    return int(found.group(1).replace(",", "")) if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ready", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--driver", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    journey = Journey(args)
    try:
        journey.run()
    except Failed as e:
        journey.console()
        print(f"e2e: FAILED at step {journey.step_no + 1}: {e}", file=sys.stderr)
        for problem in journey.problems:
            print(f"e2e: console: {problem}", file=sys.stderr)
        return 1
    finally:
        journey.driver.quit()
    if journey.problems:
        for problem in journey.problems:
            print(f"e2e: console error: {problem}", file=sys.stderr)
        return 1
    print(f"e2e: {journey.step_no} steps in {time.monotonic() - started:.0f} s, no console errors; "
          f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
