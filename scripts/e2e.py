#!/usr/bin/env python3
"""A customer's whole life through the demo app (web/) in headless Chromium, against `make dev`.

    e2e.py --ready .local/dev-ready --out .local/e2e --chromium /usr/bin/chromium --driver /usr/bin/chromedriver

sign up -> pricing -> subscribe to Starter (the local Checkout page) -> the account shows Starter -> upgrade to
Professional with a preview -> the card fails at renewal -> the grace banner -> a good card, the invoice paid ->
the Team pack add-on bought (its own Checkout): listed, the agents limit raised -> a credit pack bought ->
credits spent until refused -> a switch to Starter scheduled for the period end, still shown after a reload ->
cancel: the notice names the plan and the add-on and the dropped switch -> resume. Along the way the account's
History timeline (GET /entitlements/history) is read after each change: every entry in words, newest first, each
checked against billing-api's versions (when, the event that caused it).

With --team, then a team's life: an admin signs up and creates an organization with the switcher -> subscribes it
to Team (the local Checkout) -> members added past the three included seats through Clerk's Backend API (the
harness is the other admin; Clerk's membership webhooks reach the clerk-webhook): the Stripe subscription's
seat item follows, with a proration invoice -> a plain member signs in and switches to the organization: a
checkout is refused (403 billing_permission_required, on the page and asked directly) -> the member spends
messages up to their per-member cap while the pool still has room -> a member removed, the seat item follows.
The organization's timeline is its own: empty until the Team subscription, then that one entry, for every member.

Every step also checks the words a person reads on the demo app: no catalog identifier (`api_access`,
`messages_per_day`), no raw status (`canceling`, `past_due`), no webhook in a notice, no user id in the header;
the cards and the account name plans, features and limits as config/plans.toml's words do.

Each step saves a screenshot under --out (NN-step.png); the README's screenshots are copies of three of them, also
saved as --out/readme/*.png. Any console error fails the run, and so does any failed request except the ones a
step expects (the refusal at the end of the credits). Run by scripts/e2e.sh.
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
import tomllib
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser or driver online.
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

# How long one step waits for Entitle to follow (Stripe's webhook -> stripe-webhook -> SNS -> SQS -> bridge ->
# processor -> entitlements, then the page's 2 s poll).
FOLLOW = 60
# The local stand-ins take any test-mode secret key (scripts/dev.sh gives the functions this one).
LOCAL_KEY = "sk_test_entitle_local"
ROOT = Path(__file__).resolve().parent.parent


# The catalog the functions run with, and its words (config/plans.toml: [features], [limits] name and unit).
CATALOG = tomllib.loads((ROOT / "config" / "plans.toml").read_text())
FEATURE_NAMES = {k: v["name"] for k, v in CATALOG.get("features", {}).items()}
LIMIT_NAMES = {k: v["name"] for k, v in CATALOG["limits"].items()}
# What no page of the demo app may show: an identifier with an underscore (feature, limit, price), a status as
# the API spells it, a webhook, a Clerk user id.
RAW_IDS = {*FEATURE_NAMES, *LIMIT_NAMES, "past_due", "canceling", "trialing"} - {"agents", "seats", "credits"}
RAW_WORDS = re.compile(r"\b(?:" + "|".join(sorted(RAW_IDS)) + r")\b|webhook|\buser_[A-Za-z0-9]")
README_SHOTS = {"pricing": "pricing", "renewal-failed-grace": "account", "checkout-starter": "checkout"}


class Failed(Exception):
    pass


class Journey:
    def __init__(self, args):
        self.team_too = args.team
        self.ready = dict(
            line.split("=", 1) for line in Path(args.ready).read_text().splitlines() if "=" in line
        )
        self.out = Path(args.out)
        self.step_no = 0
        self.expected_failures: list[str] = []
        self.versions_read: list[dict] = []  # billing-api's history, newest first, as wait_history last read it
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
        self.words()
        self.step_no += 1
        path = self.out / f"{self.step_no:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        if name in README_SHOTS:
            (self.out / "readme").mkdir(exist_ok=True)
            self.driver.save_screenshot(str(self.out / "readme" / f"{README_SHOTS[name]}.png"))
        print(f"e2e: step {self.step_no:2d} {name:<28} ok  ({path})", flush=True)

    def words(self) -> None:
        """On the demo app's page: what a person reads has no identifiers, raw statuses or webhooks."""
        if not self.driver.current_url.startswith(self.ready["APP_URL"]):
            return
        shown = self.driver.execute_script("return document.body.innerText")
        found = RAW_WORDS.search(shown)
        if found:
            line = next(line for line in shown.splitlines() if found.group() in line)
            raise Failed(f"the page shows {found.group()!r} to a person: {line.strip()!r}")

    def in_view(self, id_: str) -> bool:
        """Whether #id_ is inside the window (not scrolled out of it)."""
        return self.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight", self.el(id_))

    def card(self, plan: str) -> dict:
        """A pricing card as a person reads it: its name, badge, price, lines, the current-plan line."""
        return self.driver.execute_script(
            "const c = document.querySelector(`.plan[data-plan='${arguments[0]}']`);"
            "const t = (s) => { const e = c.querySelector(s); return e && !e.hidden ? e.innerText.trim() : ''; };"
            "return {name: t('h3'), badge: t('.badge'), price: t('.price'), current: t('.current-text'),"
            " grants: [...c.querySelectorAll('.grants li')].map((li) => li.innerText.trim()),"
            " priceTop: c.querySelector('.price').getBoundingClientRect().top - c.getBoundingClientRect().top,"
            " priceLines: Math.round(c.querySelector('.price .amount')?.getBoundingClientRect().height /"
            " parseFloat(getComputedStyle(c.querySelector('.price .amount')).lineHeight || 1)) || 1}", plan)

    def current_card(self, plan: str) -> None:
        """Waits for `plan`'s card alone to be marked the current one: the badge and the line that says so."""
        def marked():
            cards = {p: self.card(p) for p in self.base_plans}
            return cards[plan]["badge"] == "Current plan" and cards[plan]["current"] and all(
                not c["badge"] and not c["current"] for p, c in cards.items() if p != plan)
        self.wait(lambda: f"only {plan}'s card marked current ({self.card(plan)})", marked)

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
        what = what() if callable(what) else what  # a callable says what it saw at the end, not at the start
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
        return self.wait(lambda: f"#{id_} to read /{pattern}/ (it reads {self.text(id_)!r})",
                         lambda: re.search(pattern, self.text(id_), re.I) and self.text(id_), timeout)

    def wait_url(self, prefix: str, timeout: float = FOLLOW) -> None:
        self.wait(f"a page under {prefix} (at {self.driver.current_url})",
                  lambda: self.driver.current_url.startswith(prefix), timeout)

    # --- the History timeline ------------------------------------------------------------------------------
    def timeline(self) -> list[dict]:
        """The History timeline as the page shows it, newest first (one read of the page, never half a render)."""
        if not self.visible("history-list"):
            return []
        entries = self.driver.execute_script(
            "return [...document.querySelectorAll('#history-list > li')].map((li) => ({"
            " version: Number(li.dataset.version),"
            " appliedAt: li.querySelector('.when')?.getAttribute('datetime') || '',"
            " when: li.querySelector('.when')?.textContent || '',"
            " what: li.querySelector('.what')?.textContent || '',"
            " changes: li.querySelector('.changes')?.textContent || '',"
            " cause: li.querySelector('.cause')?.textContent || ''}))")
        # Chromium's times have a narrow no-break space before AM/PM.
        return [{k: re.sub(r"[\u202f\u00a0]", " ", v) if isinstance(v, str) else v for k, v in e.items()}
                for e in entries]

    def wait_history(self, expected: list[tuple[str, str, str]]) -> list[dict]:
        """Waits for the History timeline to list exactly `expected`, newest first: per entry (what happened, what
        changed — both whole texts, "" for none — and a pattern of the cause's event type). Then each entry is
        checked against billing-api's GET /entitlements/history with the page's token: the same versions in the
        same order, its time (appliedAt, in local time) and its cause (the event type and the Stripe event id, one
        the local Stripe delivered). `[]`: the empty state, "No changes yet"."""
        if not expected:
            self.wait(lambda: f"the History timeline's empty state (it lists {self.history_text()})",
                      lambda: self.visible("history-empty") and not self.visible("history-list")
                      and self.text("history-empty") == "No changes yet")
            self.history_versions([])
            return []
        wanted = [(what, changes) for what, changes, _ in expected]

        def listed():
            entries = self.timeline()
            return [(e["what"], e["changes"]) for e in entries] == wanted and self.history_versions(entries) and entries

        shown = self.wait(lambda: f"the History timeline to list {wanted} (it lists {self.history_text()})", listed)
        chaos = os.environ.get("STRIPE_CHAOS") == "1"
        with urllib.request.urlopen(f"{self.ready['STRIPE_BASE']}/__fake/deliveries", timeout=10) as reply:
            delivered = {a["event"] for a in json.load(reply)}
        for entry, version, (_, _, cause) in zip(shown, self.versions_read, expected, strict=True):
            when = local_time(version["appliedAt"])
            if entry["appliedAt"] != version["appliedAt"] or entry["when"] != when:
                raise Failed(f"version {version['version']}'s time is {entry['when']!r} ({entry['appliedAt']}); "
                             f"{when!r} ({version['appliedAt']}) expected")
            source = version["provenance"]["cause"] or {}
            if entry["cause"] != f"{source.get('type')} · Stripe event {source.get('eventId')}":
                raise Failed(f"version {version['version']}'s cause reads {entry['cause']!r}; the version's: {source}")
            if source.get("eventId") not in delivered:
                raise Failed(f"version {version['version']}'s cause {source} is no event the local Stripe sent")
            # Delivered twice and out of order, another of the step's events may be the one that applied it.
            if not re.fullmatch(r"(checkout|subscription|invoice|payment)\.[a-z_.]+" if chaos else cause,
                                source["type"]):
                raise Failed(f"version {version['version']} ({entry['what']!r}) was caused by {source['type']}, "
                             f"not /{cause}/")
        return shown

    def history_text(self) -> list[str]:
        return [f"{e['what']} | {e['changes']} | {e['cause']}" for e in self.timeline()]

    def history_versions(self, entries: list[dict]) -> bool:
        """Whether billing-api's versions (newest first) are the entries' (kept in self.versions_read)."""
        status, answer = self.http("GET", f"{self.ready['BILLING_API']}/entitlements/history", token=self.token())
        if status != 200 or answer.get("truncated"):
            raise Failed(f"GET /entitlements/history: {status} {answer}")
        self.versions_read = answer["versions"][::-1]
        if not entries and self.versions_read:
            raise Failed(f"the timeline is empty but billing-api has {len(self.versions_read)} versions")
        return [v["version"] for v in self.versions_read] == [e["version"] for e in entries]

    def entitlements(self) -> dict:
        """GET /entitlements with the page's token."""
        status, answer = self.http("GET", f"{self.ready['BILLING_API']}/entitlements", token=self.token())
        if status != 200:
            raise Failed(f"GET /entitlements: {status} {answer}")
        return answer

    # --- the journey ---------------------------------------------------------------------------------------
    def run(self) -> None:
        app, stripe, clerk = self.ready["APP_URL"], self.ready["STRIPE_BASE"], self.ready["CLERK_BASE"]
        d = self.driver
        email = f"e2e-{int(time.time())}@example.com"
        # What the timeline should say, from the catalog the functions run with (config/plans.toml).
        plans = {p["id"]: p for p in tomllib.loads((ROOT / "config" / "plans.toml").read_text())["plans"]}
        free, starter, pro, pack = (plans[p] for p in ("free", "starter", "professional", "team_pack"))
        history: list[tuple[str, str, str]] = []  # newest first

        d.get(app)
        # cargo lambda watch may build billing-api on this first request (the page says so meanwhile).
        self.wait("the pricing table", lambda: self.visible("subscribe-starter_monthly"), timeout=600)
        self.base_plans = [p["id"] for p in CATALOG["plans"] if not p.get("addon")]
        self.pricing_words(plans)
        self.step("pricing")

        self.click("sign-in")
        self.wait_url(clerk)
        self.el("email").send_keys(email)
        self.el("first-name").send_keys("Grace")
        self.el("last-name").send_keys("Hopper")
        self.step("sign-up-form")
        self.click("sign-in")
        self.wait_url(app)
        self.wait_text("account-plan", rf"^{free['name']}$")
        # The name and email given at sign-up, not the user id.
        self.wait_text("signed-in-as", rf"^Grace Hopper <{re.escape(email)}>$")
        self.current_card("free")
        if self.visible("portal"):
            raise Failed("a free user is offered the billing portal")
        self.wait_text("feature-api_access", rf"(?s)^{re.escape(FEATURE_NAMES['api_access'])}\b.*Not in your plan$")
        self.wait_text("feature-agents", rf"(?s)^{re.escape(FEATURE_NAMES['agents'])}\b.*Included$")
        self.wait_history(history)
        self.step("signed-up-free")

        self.click("subscribe-starter_monthly")
        self.wait_url(f"{stripe}/checkout/")
        # The local Checkout names the plan and how often, as a person says it, never Stripe's mode or a key.
        self.wait_text("line-items", rf"^{starter['name']}, monthly\b")
        if "Mode" in self.text("line-items") or "starter_monthly" in d.page_source:
            raise Failed(f"the Checkout page shows Stripe's words: {self.text('line-items')!r}")
        self.step("checkout-starter")
        self.click("pay")
        self.wait_url(app)
        self.wait_text("notice", r"^Payment done\.")
        self.wait_text("account-plan", rf"^{starter['name']}$")
        self.wait_text("account-status", r"^Active$")
        self.current_card("starter")
        self.wait("the billing portal offered to a subscriber", lambda: self.visible("portal"))
        history.insert(0, (f"Subscribed to {starter['name']}", moved(grant(free), grant(starter)),
                           r"subscription\.created"))
        self.wait_history(history)
        self.step("starter-active")

        self.click("change-pro_monthly")
        self.wait("the change preview", lambda: self.visible("change-preview") and self.text("change-preview"))
        preview = self.wait_text("change-preview", rf"^{pro['name']} starts now: \$[\d,.]+ due now")
        if not re.search(r"\d", preview):
            raise Failed(f"the preview shows no amount: {preview!r}")
        self.step("upgrade-preview")
        self.click("change-confirm")
        self.wait_text("account-plan", rf"^{pro['name']}$")
        self.current_card("professional")
        self.wait_text("feature-priority_support", rf"(?s)^{re.escape(FEATURE_NAMES['priority_support'])}\b.*Included$")
        history.insert(0, (f"Switched from {starter['name']} to {pro['name']}", moved(grant(starter), grant(pro)),
                           r"subscription\.updated"))
        self.wait_history(history)
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
        self.wait_text("account-status", r"^Payment failed: plan kept until ")
        self.wait("the grace banner", lambda: self.visible("grace-banner"))
        self.wait_text("account-plan", rf"^{pro['name']}$")  # still entitled during the grace period
        grace_until = self.entitlements()["graceUntil"]
        history.insert(0, (f"Payment failed — grace until {local_day(grace_until)} ({pro['name']} kept meanwhile)", "",
                           r"subscription\.updated|invoice\.payment_failed"))
        self.wait_history(history)
        self.driver.execute_script("window.scrollTo(0, 0)")  # the account from the top: the README's screenshot
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
        history.insert(0, ("Payment succeeded — grace period over", "",
                           r"invoice\.paid|invoice\.payment_succeeded|subscription\.updated"))
        self.wait_history(history)
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
        audit_log = re.escape(FEATURE_NAMES["audit_log"])
        self.wait_text("addon-list", rf"Team pack × 1: \+{adds:,} agents, .*\b{audit_log}\b")
        self.wait("the agents limit to grow by the Team pack's",
                  lambda: limit_of(self.text("usage-agents")) == agents + adds)
        self.wait_text("usage-agents", rf"^{LIMIT_NAMES['agents']}\b")
        self.wait_text("account-plan", rf"^{pro['name']}$")
        history.insert(0, (f"Add-on added: {pack['name']} × 1", moved(grant(pro), grant(pro, pack)),
                           r"subscription\.created"))
        self.wait_history(history)
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
        # The preview is of the timing picked: now first, then (picked) the period end, with its own numbers.
        self.wait_text("change-preview", rf"^{starter['name']} starts now")
        self.click("change-when-period_end")
        self.wait_text("change-preview", rf"^You keep {pro['name']} until .*, then {starter['name']} starts\. "
                                         r"Nothing is charged now")
        if self.visible("change-confirm"):
            raise Failed("the period-end preview still offers to switch now")
        self.step("switch-at-period-end-preview")
        self.click("change-at-period-end")
        self.wait_text("notice", r"^Change scheduled: .*switching to Starter on")
        self.wait_text("scheduled-change", r"Scheduled change: switching to Starter on")
        # The confirmation is in view where the user is, not scrolled away.
        self.wait("the confirmation and the scheduled change in view",
                  lambda: self.in_view("notice") and self.in_view("scheduled-change"))
        self.wait("GET /entitlements to have the scheduled change (the processor, from Stripe's schedule)",
                  lambda: self.scheduled_from_entitlements(shown=True))
        # Credits are no version of their own (the ledger has them): the next entry is the scheduled switch.
        switch_at = self.entitlements()["scheduledChange"]["at"]
        history.insert(0, (f"Scheduled a switch to {starter['name']} on {local_day(switch_at)}", "",
                           r"subscription\.schedule_changed"))
        self.wait_history(history)
        self.reveal("scheduled-change")
        self.step("switch-scheduled")
        d.refresh()
        self.wait_text("account-plan", rf"^{pro['name']}$")
        self.wait_text("scheduled-change", r"Scheduled change: switching to Starter on")
        self.wait_text("addon-list", r"Team pack × 1")
        self.wait_history(history)  # read again after the reload: the same, in the same order
        self.step("scheduled-after-reload")

        # Cancel stops the plan and the add-on at the period end and drops the scheduled switch; the notice
        # says all three.
        self.click("cancel")
        self.wait_text("notice", r"Canceled at period end: Professional\b.*Team pack × 1 \(ends ")
        self.wait_text("notice", r"dropped the scheduled switch to Starter")
        self.wait_text("account-status", r"^Cancels at period end on \w{3} \d+, \d{4}$")
        self.current_card("professional")
        self.wait_text("addon-list", r"Team pack × 1.* until ")
        self.wait("GET /entitlements to drop the scheduled change",
                  lambda: self.scheduled_from_entitlements(shown=False))
        canceling = self.entitlements()
        pack_until = next(a["until"] for a in canceling["addons"] if a["plan"] == "team_pack")
        history.insert(0, (f"Canceled at period end: {pro['name']} ends {local_day(canceling['periodEnd'])}, "
                           f"{pack['name']} × 1 ends {local_day(pack_until)}. "
                           f"Scheduled switch to {starter['name']} dropped", "",
                           r"subscription\.updated|subscription\.schedule_changed"))
        self.wait_history(history)
        self.reveal("notice")
        self.step("canceling")
        self.click("resume")
        self.wait_text("notice", r"Resumed: Professional\b.*Team pack × 1")
        self.wait_text("account-status", r"^Active$")
        self.wait("the Team pack to run on (no end date)",
                  lambda: "Team pack × 1" in self.text("addon-list") and "until" not in self.text("addon-list"))
        self.wait("the scheduled switch to stay dropped", lambda: self.scheduled_from_entitlements(shown=False))
        history.insert(0, (f"Resumed {pro['name']} and {pack['name']} × 1", "", r"subscription\.updated"))
        self.wait_history(history)
        self.reveal("notice")
        self.step("resumed")
        # The whole life on the account page, newest first (checked entry by entry above).
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", self.el("history"))
        self.step("timeline")
        if self.team_too:
            self.team()
        self.console()
        self.deliveries(stripe)
        self.dead_letters()

    # --- a team ----------------------------------------------------------------------------------------------
    def sign_in(self, email: str, first: str = "", last: str = "") -> None:
        """Signs out if need be, then in (or up) at the local Clerk's page; back on the app, signed in."""
        if self.visible("sign-out"):
            self.click("sign-out")
        self.click("sign-in")
        self.wait_url(self.ready["CLERK_BASE"])
        self.el("email").send_keys(email)
        self.el("first-name").send_keys(first)
        self.el("last-name").send_keys(last)
        self.click("sign-in")
        self.wait_url(self.ready["APP_URL"])
        self.wait_text("signed-in-as", re.escape(f"<{email}>"))

    def switch_to(self, value: str) -> None:
        """Picks `value` in the organization switcher ("" is the personal account)."""
        self.wait(f"the switcher to offer {value!r}", lambda: self.visible("org-select") and any(
            o.get_attribute("value") == value for o in Select(self.el("org-select")).options))
        Select(self.el("org-select")).select_by_value(value)

    def token(self) -> str:
        return self.driver.execute_script("return sessionStorage.getItem('entitle.sessionToken')")

    def team(self) -> None:
        """An organization's life: the switcher, a seat plan, seats that follow members, a member's limits."""
        app, stripe = self.ready["APP_URL"], self.ready["STRIPE_BASE"]
        catalog = tomllib.loads((ROOT / "config" / "plans.toml").read_text())
        team = next(p for p in catalog["plans"] if p["id"] == "team")
        included, cap = team["seats"]["included"], team["member_limits"]["messages_per_day"]
        pool = team["limits"]["messages_per_day"]
        free = next(p for p in catalog["plans"] if p.get("default"))
        stamp = int(time.time())

        self.sign_in(f"e2e-admin-{stamp}@example.com", "Ada", "Admin")
        self.wait_text("signed-in-as", r"^Ada Admin <")
        self.wait("the switcher on the personal account",
                  lambda: Select(self.el("org-select")).first_selected_option.text == "Personal account")
        self.wait_text("account-plan", r"free")
        self.wait_history([])
        self.step("team-admin-signed-up")

        name = f"Acme Team {stamp}"
        self.switch_to("__create")
        self.wait("the organization's name field", lambda: self.visible("org-name"))
        self.el("org-name").send_keys(name)
        self.click("org-create")
        self.wait_text("account-title", rf"^{re.escape(name)}'s account$")
        self.wait_text("org-role", r"You are Admin of .*you manage its billing")
        org = Select(self.el("org-select")).first_selected_option.get_attribute("value")
        if not org.startswith("org_"):
            raise Failed(f"the switcher's active organization is {org!r}")
        self.wait_text("account-plan", r"free")
        self.wait_history([])  # the organization's own history, not the admin's
        self.step("organization-created")

        # The admin subscribes the organization to Team: the local Checkout, as the user's journey.
        self.click("subscribe-team_monthly")
        self.wait_url(f"{stripe}/checkout/")
        self.wait("the Checkout page's Team line", lambda: "Team" in self.driver.page_source)
        self.step("checkout-team")
        self.click("pay")
        self.wait_url(app)
        self.wait_text("account-plan", r"^Team$")
        self.wait_text("account-status", r"^Active$")
        self.wait_text("seats", rf"^members: 1, {included} included$")
        team_history = [(f"Subscribed to {team['name']}", moved(grant(free), grant(team)), r"subscription\.created")]
        self.wait_history(team_history)
        self.step("team-active")
        status, entitlements = self.http("GET", f"{self.ready['BILLING_API']}/entitlements", token=self.token())
        subscription = entitlements.get("subscriptionId")
        if status != 200 or entitlements.get("plan") != "team" or not subscription:
            raise Failed(f"GET /entitlements as the admin: {status} {entitlements}")

        # The harness is the other admin: people added through Clerk's Backend API. Clerk's
        # organizationMembership.created webhooks reach the clerk-webhook, the processor recounts from Clerk
        # and sets the seat item's quantity to the seats beyond the included ones (prorated, invoiced now).
        members = [self.clerk("POST", "/v1/users", {"email_address": [f"e2e-member{i}-{stamp}@example.com"],
                                                    "first_name": f"Member{i}", "last_name": "Tester"})
                   for i in range(1, included + 2)]
        for member in members[:included]:
            self.clerk("POST", f"/v1/organizations/{org}/memberships", {"user_id": member["id"], "role": "org:member"})
        seats = 1 + included
        self.wait(f"the seat item's quantity to be {seats - included} ({seats} members)",
                  lambda: self.seat_item(subscription)[1] == seats - included)
        seat_price = self.seat_item(subscription)[0]
        invoices = self.seat_invoices(subscription, seat_price)
        if len(invoices) != 1 or invoices[0]["billing_reason"] != "subscription_update":
            raise Failed(f"one proration invoice for the seat expected, found {len(invoices)}: {invoices}")
        self.wait_text("seats", rf"^members: {seats}, {included} included — 1 more billed at \$15(\.00)? / month each$")
        self.reveal("seats")
        self.step("seat-billed")
        self.clerk("POST", f"/v1/organizations/{org}/memberships", {"user_id": members[-1]["id"], "role": "org:member"})
        seats += 1
        self.wait(f"the seat item's quantity to be {seats - included}",
                  lambda: self.seat_item(subscription)[1] == seats - included)
        if len(self.seat_invoices(subscription, seat_price)) != 2:
            raise Failed("the second seat was not prorated and invoiced at once")
        self.wait_text("seats", rf"^members: {seats}, {included} included — 2 more billed")
        self.reveal("seats")
        self.step("seats-follow-members")
        print(f"e2e: seat item {seat_price} × {seats - included} for {seats} members, 2 proration invoices",
              flush=True)

        # A plain member (org:member: no org:sys_billing:manage) switches to the organization.
        member = members[0]
        self.sign_in(member["email_addresses"][0]["email_address"])
        self.wait_text("signed-in-as", r"^Member1 Tester <")
        self.switch_to(org)
        self.wait_text("account-title", rf"^{re.escape(name)}'s account$")
        self.wait_text("account-plan", r"^Team$")
        self.wait_text("org-role", r"You are Member of .*cannot change its billing")
        self.wait_text("seats", rf"^members: {seats}, {included} included")
        # Any member reads the organization's timeline; seats that follow members are no version of their own.
        self.wait_history(team_history)
        self.step("member-switched")
        # billing-api refuses the member's checkout (asked Clerk: no org:sys_billing:manage): on the page...
        self.expected_failures.append(r"/checkout - Failed to load resource: the server responded with a status of 403")
        self.click("buy-credits_1000")
        self.wait_text("notice", r"Checkout could not start: .*\(billing_permission_required\)")
        self.reveal("notice")
        self.step("member-checkout-refused")
        # ... and asked directly with the member's token.
        status, answer = self.http("POST", f"{self.ready['BILLING_API']}/checkout", token=self.token(), body={
            "price": "team_monthly", "successUrl": f"{app}/?checkout=success", "cancelUrl": f"{app}/"})
        if status != 403 or answer.get("error", {}).get("code") != "billing_permission_required":
            raise Failed(f"a member's POST /checkout answered {status} {answer}")

        # The member's messages: most through usage-api as the product's server spends them (the organization's
        # pool, memberId = the member), the last ones with the page's button, until the member's cap refuses.
        for i in range(cap - 2):
            status, answer = self.http("POST", f"{self.ready['USAGE_API']}/v1/usage", key=self.ready["USAGE_API_KEY"],
                                       body={"subject": org, "memberId": member["id"], "feature": "messages_per_day",
                                             "amount": 1, "idempotencyKey": f"e2e-{stamp}-{i}"})
            if status != 200 or not answer.get("allowed"):
                raise Failed(f"message {i + 1} of the member: {status} {answer}")
        for i in range(2):
            self.click("send-message")
            left = pool - cap + 1 - i
            self.wait_text("usage-message", rf"Message sent\. {left:,} left for the team, {1 - i} of your {cap}\b")
        self.expected_failures.append(
            r"/api/send-message - Failed to load resource: the server responded with a status of 429")
        self.click("send-message")
        self.wait_text("usage-message",
                       rf"you reached your {cap} messages today; your team still has {pool - cap:,}\b")
        self.wait_text("usage-messages_per_day", rf"\b{cap} of {pool:,}; you: {cap} of {cap}\b")
        # The pool's bar ("25 of 5,000; you: 25 of 25") at the top, the refusal below it, in one screenshot.
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", self.el("usage-messages_per_day"))
        self.step("member-cap-reached")

        # A member removed (through Clerk's Backend API): organizationMembership.deleted, a recount, the seat
        # item one fewer, without a credit (no new invoice).
        self.clerk("DELETE", f"/v1/organizations/{org}/memberships/{members[-1]['id']}")
        seats -= 1
        self.wait(f"the seat item's quantity to go down to {seats - included}",
                  lambda: self.seat_item(subscription)[1] == seats - included)
        if len(self.seat_invoices(subscription, seat_price)) != 2:
            raise Failed("removing a member invoiced something (removals are not credited)")
        self.wait_text("seats", rf"^members: {seats}, {included} included — 1 more billed")
        self.reveal("seats")
        self.step("member-removed")
        self.clerk_deliveries()

    def pricing_words(self, plans: dict) -> None:
        """The cards as a person reads them: each base plan's name, its features by their catalog names, its limits
        with their units ("10 agents", "1,000 messages a day"), prices on one line at the same place in every card,
        the monthly / yearly toggle."""
        tops = set()
        for plan in self.base_plans:
            card, want = self.card(plan), plans[plan]
            if card["name"] != want["name"]:
                raise Failed(f"the {plan} card is named {card['name']!r}, not {want['name']!r}")
            for f in want.get("features", []):
                if FEATURE_NAMES[f] not in card["grants"]:
                    raise Failed(f"the {plan} card does not list {FEATURE_NAMES[f]!r}: {card['grants']}")
            for name, value in want.get("limits", {}).items():
                unit = CATALOG["limits"][name]["unit"]
                words = f"Unlimited {unit['other']}" if value == "unlimited" else \
                    f"{value:,} {unit['one'] if value == 1 else unit['other']}"
                if not any(g.startswith(words) for g in card["grants"]):
                    raise Failed(f"the {plan} card does not say {words!r}: {card['grants']}")
            if card["priceLines"] != 1:
                raise Failed(f"the {plan} card's price wraps: {card['price']!r}")
            tops.add(round(card["priceTop"]))
        if len(tops) != 1:
            self.driver.save_screenshot(str(self.out / f"failed-{self.step_no + 1:02d}.png"))
            raise Failed(f"the cards' prices are not aligned (tops {sorted(tops)})")
        if self.card("starter")["price"] != "$49 / month":
            raise Failed(f"the Starter card reads {self.card('starter')['price']!r} monthly")
        self.click("interval-year")
        self.wait("the yearly prices", lambda: self.card("starter")["price"] == "$490 / year"
                  and self.visible("subscribe-starter_yearly") and not self.visible("subscribe-starter_monthly"))
        self.click("interval-month")
        self.wait("the monthly prices again", lambda: self.visible("subscribe-starter_monthly"))

    def clerk_deliveries(self) -> None:
        """Every webhook the local Clerk sent (sign-ups, the organization, its memberships) was accepted by the
        clerk-webhook in the end, none refused as bad input."""
        deadline = time.monotonic() + FOLLOW
        while True:
            with urllib.request.urlopen(f"{self.ready['CLERK_BASE']}/__fake/deliveries", timeout=10) as reply:
                attempts = json.load(reply)
            events = {a["event"]: a["type"] for a in attempts}
            accepted = {a["event"] for a in attempts if a["ok"]}
            refused = [a for a in attempts if a["status"] is not None and 400 <= a["status"] < 500]
            if refused:
                raise Failed(f"clerk-webhook refused {len(refused)} deliveries, e.g. {refused[0]}")
            if accepted == set(events) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if accepted != set(events):
            raise Failed(f"Clerk events never accepted: {sorted({events[e] for e in set(events) - accepted})}")
        kinds = sorted(set(events.values()))
        print(f"e2e: {len(events)} Clerk events ({', '.join(kinds)}) delivered in {len(attempts)} attempts, "
              "all accepted by clerk-webhook", flush=True)

    def http(self, method: str, url: str, body=None, token: str | None = None, key: str | None = None):
        """(status, JSON answer) of one request to a function (a session token or an API key as Bearer)."""
        headers = {"content-type": "application/json", "origin": self.ready["APP_URL"]}
        if token or key:
            headers["authorization"] = f"Bearer {token or key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def clerk(self, method: str, path: str, body=None) -> dict:
        """Clerk's Backend API (the local Clerk), as another admin's dashboard or server would call it."""
        status, answer = self.http(method, f"{self.ready['CLERK_BASE']}{path}", body, key=LOCAL_KEY)
        if status != 200:
            raise Failed(f"Clerk {method} {path}: {status} {answer}")
        return answer

    def stripe_get(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.ready['STRIPE_BASE']}{path}",
                                         headers={"authorization": f"Bearer {LOCAL_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def seat_item(self, subscription: str) -> tuple:
        """(price id, quantity) of the subscription's seat item in Stripe; (None, 0) without one."""
        items = self.stripe_get(f"/v1/subscriptions/{subscription}")["items"]["data"]
        seat = next((i for i in items if i["price"].get("lookup_key") == "team_seat_monthly"), None)
        return (seat["price"]["id"], seat["quantity"]) if seat else (None, 0)

    def seat_invoices(self, subscription: str, seat_price: str) -> list:
        """The subscription's invoices with a positive proration line on the seat price."""
        listed = self.stripe_get(f"/v1/invoices?subscription={subscription}&limit=100")["data"]
        return [invoice for invoice in listed if any(
            line["amount"] > 0 and line["pricing"]["price_details"]["price"] == seat_price
            and line["parent"]["subscription_item_details"]["proration"] for line in invoice["lines"]["data"])]

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


def local_time(iso: str) -> str:
    """An instant as the page's History shows it, in local time: "Dec 7, 2026, 8:40 PM"."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    return f"{at:%b} {at.day}, {at.year}, {at.hour % 12 or 12}:{at:%M} {'AM' if at.hour < 12 else 'PM'}"


def local_day(iso: str) -> str:
    """An instant's day as the page shows dates, in local time: "Dec 14, 2026"."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    return f"{at:%b} {at.day}, {at.year}"


def grant(plan: dict, *addons: dict) -> dict:
    """The limits and features of a catalog plan with one of each add-on."""
    limits, features = dict(plan.get("limits", {})), set(plan.get("features", []))
    for addon in addons:
        for name, value in addon.get("limits", {}).items():
            limits[name] = "unlimited" if "unlimited" in (value, limits.get(name)) else limits.get(name, 0) + value
        features |= set(addon.get("features", []))
    return {"limits": limits, "features": features}


def moved(before: dict, after: dict) -> str:
    """What the History says changed between two grants, in the catalog's words: "Agents 1 → 3 · Messages a day
    100 → 1,000 · + API access" (a limit new to the plan: "Seats 50")."""
    def number(value) -> str:
        return value if value == "unlimited" else f"{value:,}"
    parts = []
    for name in sorted(set(before["limits"]) | set(after["limits"])):
        a, b = before["limits"].get(name), after["limits"].get(name)
        if a == b:
            continue
        label = LIMIT_NAMES[name]
        parts.append(f"{label} {number(b)}" if a is None else f"{label} {number(a)} → none" if b is None
                     else f"{label} {number(a)} → {number(b)}")
    parts += [f"+ {FEATURE_NAMES[f]}" for f in sorted(after["features"] - before["features"])]
    parts += [f"− {FEATURE_NAMES[f]}" for f in sorted(before["features"] - after["features"])]
    return " · ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ready", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--team", action="store_true",
                        help="then a team's journey: an organization, its seats, a member's cap")
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
