// The React entry point rendered in jsdom (react-dom/client, act), against a fake billing-api answering the
// recorded responses of test/fixtures: what a person sees and what is sent when they click.
import "./dom.mjs";
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { act, createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { createBillingClient } from "../dist/index.js";
import { AccountPanel, EntitleProvider, PlanGate, PricingTable, useEntitlements } from "../dist/react.js";
import { BASE, fakeFetch, fixture, noSleep } from "./helpers.mjs";

const body = (route, status, pred = () => true) => fixture("api", (s) => s.route === route && s.status === status && pred(s.body)).body;
const PLANS = body("plans", 200);
const FREE = body("entitlements", 200, (b) => b.status === "free");
const ACTIVE = body("entitlements", 200, (b) => b.status === "active" && !b.addons);
const WITH_ADDONS = body("entitlements", 200, (b) => Boolean(b.addons));
const USAGE = body("usage", 200);
const CANCELED = body("subscription_cancel", 200, (b) => b.status === "canceling");
const RESUMED = body("subscription_resume", 200, (b) => b.resumed?.length > 0);
const PREVIEW = body("subscription_change", 200, (b) => "preview" in b);
const SCHEDULED = body("subscription_change", 200, (b) => Boolean(b.scheduledChange));
const FORBIDDEN = body("subscription_cancel", 403, (b) => b.error.code === "billing_permission_required");
const CHECKOUT = body("checkout", 200);
const F = { locale: "en-US", timeZone: "UTC" };
/** A recorded instant as the components write it ("Dec 22, 2026"): the recordings move with the day they are made. */
const day = (iso) => new Intl.DateTimeFormat(F.locale, { dateStyle: "medium", timeZone: F.timeZone }).format(new Date(iso));

/** A billing-api answering `routes["GET /entitlements"]` and so on (a value or a function of the request). */
function api(routes) {
  return fakeFetch((call) => {
    const key = `${call.method} ${call.path.replace(new URL(BASE).pathname, "")}`;
    const answer = routes[key];
    if (answer === undefined) return { status: 404, body: { error: { code: "not_found", message: key } } };
    const value = typeof answer === "function" ? answer(call) : answer;
    return "status" in value && "body" in value ? value : { status: 200, body: value };
  });
}

let root;
let container;
async function render(element) {
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root.render(element));
  await settle();
}
/** Let every pending request answer and React render it. */
async function settle() {
  await act(async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  });
}
afterEach(async () => {
  await act(async () => root?.unmount());
  container?.remove();
  root = container = undefined;
});

const $ = (sel) => container.querySelector(sel);
const $$ = (sel) => [...container.querySelectorAll(sel)];
const text = () => container.textContent.replace(/\s+/g, " ");
const button = (name) => {
  const b = $$("button").find((x) => x.textContent.trim() === name);
  assert.ok(b, `no button "${name}" in: ${text()}`);
  return b;
};
async function click(el) {
  await act(async () => el.dispatchEvent(new window.MouseEvent("click", { bubbles: true })));
  await settle();
}

function provider(fetch, props = {}, ...children) {
  const client = createBillingClient({ baseUrl: BASE, getToken: () => "jwt", fetch, sleep: noSleep });
  return h(EntitleProvider, { client, ...F, ...props }, ...children);
}

describe("<PricingTable>", () => {
  it("lists the base plans with a monthly / yearly toggle, contact-sales plans and no add-ons", async () => {
    const fetch = api({ "GET /plans": PLANS });
    await render(h(EntitleProvider, { baseUrl: BASE, ...F }, h(PricingTable, { contactSalesUrl: "mailto:sales@example.test" })));
    // Signed out: the catalog only.
    assert.deepEqual(fetch.calls?.map?.((c) => c.path) ?? [], []);
    await act(async () => root.unmount());

    await render(provider(fetch, {}, h(PricingTable, { contactSalesUrl: "mailto:sales@example.test", for: "all", currentPlan: null })));
    const names = $$(".entitle-plan__name").map((n) => n.textContent);
    assert.deepEqual(names, ["Free", "Starter", "Professional", "Team", "Enterprise"]);
    assert.ok(!names.includes("Team pack"), "an add-on is not a plan of the table");
    const price = (id) => container.querySelector(`[data-plan="${id}"] .entitle-plan__price`).textContent;
    assert.equal(price("starter"), "$49/month");
    assert.equal(price("free"), "Free");
    assert.equal(price("enterprise"), "Custom pricing");
    const sales = container.querySelector('[data-plan="enterprise"] a');
    assert.equal(sales.textContent, "Contact sales");
    assert.equal(sales.getAttribute("href"), "mailto:sales@example.test");

    assert.equal(button("Monthly").getAttribute("aria-pressed"), "true");
    await click(button("Yearly"));
    assert.equal(button("Yearly").getAttribute("aria-pressed"), "true");
    assert.equal(price("starter"), "$490/year");
    assert.equal(price("professional"), "$1,990/year");
    assert.equal(price("team"), "$99/month", "a plan sold monthly only keeps its price");
    assert.deepEqual(fetch.calls.map((c) => `${c.method} ${c.path}`), ["GET /prod/plans"]);
  });

  it("lists what each plan gives in the catalog's words, not its identifiers", async () => {
    const fetch = api({ "GET /plans": PLANS });
    await render(provider(fetch, {}, h(PricingTable, { for: "all", currentPlan: null })));
    const lines = (id) => [...container.querySelectorAll(`[data-plan="${id}"] .entitle-plan__features li`)].map((li) => li.textContent);
    assert.deepEqual(lines("professional"), ["10 agents", "10,000 messages a day", "AI agents", "API access", "Priority support"]);
    assert.deepEqual(lines("free"), ["1 agent", "100 messages a day", "AI agents"], "one agent, singular");
    assert.ok(lines("enterprise").includes("Unlimited agents"));
    assert.ok(lines("enterprise").includes("Single sign-on (SSO)"));
    const sso = [...container.querySelectorAll('[data-plan="enterprise"] .entitle-plan__feature')].find((li) => li.textContent.startsWith("Single"));
    assert.equal(sso.getAttribute("title"), PLANS.features.sso.description, "the description on hover");
    assert.doesNotMatch(container.textContent, /api_access|priority_support|messages_per_day|audit_log/);
  });

  it("marks the current plan and sends a new subscriber to Checkout with the chosen price", async () => {
    const fetch = api({ "GET /plans": PLANS, "GET /entitlements": FREE, "POST /checkout": CHECKOUT });
    const redirects = [];
    await render(
      provider(fetch, { claims: { sub: FREE.userId } }, h(PricingTable, { successUrl: "https://app.example.test/ok", cancelUrl: "https://app.example.test/pricing", onRedirect: (u) => redirects.push(u) })),
    );
    const current = $('[aria-current="true"]');
    assert.equal(current.dataset.plan, "free");
    assert.match(current.textContent, /Current plan/);
    assert.ok(current.classList.contains("entitle-plan--current"));
    assert.equal($('[data-plan="team"]'), null, "a person is not offered an organization's plan");

    await click(button("Yearly"));
    await click(button("Choose Starter"));
    const checkout = fetch.calls.find((c) => c.path === "/prod/checkout");
    assert.deepEqual(checkout.body, { price: "starter_yearly", successUrl: "https://app.example.test/ok", cancelUrl: "https://app.example.test/pricing" });
    assert.ok(checkout.headers["idempotency-key"]);
    assert.deepEqual(redirects, [CHECKOUT.url]);
  });

  it("previews a subscriber's change for when it would happen, then makes it", async () => {
    const fetch = api({
      "GET /plans": PLANS,
      "GET /entitlements": ACTIVE,
      "POST /subscription/change": (c) => (c.body.preview ? PREVIEW : SCHEDULED),
    });
    await render(provider(fetch, { claims: { sub: ACTIVE.userId } }, h(PricingTable)));
    assert.equal($('[aria-current="true"]').dataset.plan, "starter");
    await click(button("Switch to Professional"));
    const changes = () => fetch.calls.filter((c) => c.path === "/prod/subscription/change");
    assert.deepEqual(changes()[0].body, { price: "pro_monthly", at: "now", preview: true });
    assert.equal($(".entitle-change__preview").textContent, `Nothing is charged now. Next invoice: $332 on ${day(PREVIEW.preview.nextInvoiceAt)}.`);

    await act(async () => $$('input[type="radio"]')[1].click());
    await settle();
    assert.deepEqual(changes()[1].body, { price: "pro_monthly", at: "period_end", preview: true }, "the preview follows the choice");

    await click(button("Switch at the period end"));
    assert.deepEqual(changes()[2].body, { price: "pro_monthly", at: "period_end" });
    assert.equal($(".entitle-notice").textContent, `Professional starts on ${day(SCHEDULED.scheduledChange.at)}.`);
    assert.ok(fetch.calls.filter((c) => c.path === "/prod/entitlements").length >= 2, "the entitlements are read again");
  });
});

describe("<PlanGate>", () => {
  const mirror = { plan: "enterprise", status: "active", features: ["agents", "sso"], limits: {}, credits: 0, periodEnd: null, graceUntil: null, scheduledChange: null };

  it("renders from the session claims' mirror with no request", async () => {
    const fetch = api({});
    await render(
      provider(fetch, { claims: { sub: "user_1", billing: mirror } },
        h(PlanGate, { feature: "sso", fallback: "upgrade" }, "SSO settings"),
        h(PlanGate, { feature: "audit_log", fallback: "upgrade for the audit log" }, "audit log"),
      ),
    );
    assert.equal(text(), "SSO settingsupgrade for the audit log");
    assert.equal(fetch.calls.length, 0);
  });

  it("reads GET /entitlements without a mirror, once for every gate", async () => {
    const fetch = api({ "GET /entitlements": ACTIVE });
    await render(
      provider(fetch, { claims: { sub: ACTIVE.userId } },
        h(PlanGate, { feature: "api_access", loading: "…" }, "API keys"),
        h(PlanGate, { feature: "sso", fallback: "Upgrade for SSO" }, "SSO"),
      ),
    );
    assert.equal(text(), "API keysUpgrade for SSO");
    assert.equal(fetch.calls.length, 1);
  });

  it("does not take the user's mirror for an organization's session", async () => {
    const fetch = api({ "GET /entitlements": { ...ACTIVE, userId: "org_1", features: ["agents"] } });
    await render(provider(fetch, { claims: { sub: "user_1", o: { id: "org_1" }, billing: mirror } }, h(PlanGate, { feature: "sso", fallback: "no SSO" }, "SSO")));
    assert.equal(text(), "no SSO");
    assert.equal(fetch.calls.length, 1);
  });

  it("renders the fallback when the read fails", async () => {
    const fetch = api({ "GET /entitlements": { status: 401, body: body("entitlements", 401) } });
    await render(provider(fetch, {}, h(PlanGate, { feature: "sso", fallback: "sign in" }, "SSO")));
    assert.equal(text(), "sign in");
  });
});

describe("<AccountPanel>", () => {
  const routes = (entitlements, extra = {}) => ({ "GET /plans": PLANS, "GET /usage": USAGE, "GET /entitlements": entitlements, ...extra });

  it("shows the plan, status in words, period end, add-ons and usage bars", async () => {
    const fetch = api(routes({ ...WITH_ADDONS, periodEnd: "2026-12-22T20:53:33Z" }));
    await render(provider(fetch, {}, h(AccountPanel, { featureNames: { messages_per_day: "Messages a day", agents: "Agents" } })));
    assert.equal($(".entitle-account__plan").textContent, "Starter");
    assert.equal($(".entitle-status").textContent, "Active");
    assert.equal($(".entitle-account__period").textContent, "Renews on Dec 22, 2026");
    assert.deepEqual($$(".entitle-addon").map((a) => a.textContent), ["Team pack × 2"]);
    const items = $$(".entitle-usage__item").map((i) => i.textContent);
    const resets = day(USAGE.usage.find((i) => i.feature === "messages_per_day").resetsAt);
    // `credits` has no name in featureNames: the catalog's words name it.
    assert.deepEqual(items, ["Agents 0 of 1", "Credits 0 left", `Messages a day 0 of 100 · resets ${resets}`], "a limit the plan does not have (seats 0) is not shown");
    assert.equal($$('[role="meter"]').length, 2);
    assert.ok(button("Manage billing"));
  });

  it("cancels at the period end, shows the answer at once, then offers to resume", async () => {
    let entitlements = ACTIVE;
    const fetch = api(routes(() => entitlements, { "POST /subscription/cancel": CANCELED, "POST /subscription/resume": RESUMED }));
    await render(provider(fetch, {}, h(AccountPanel)));
    await click(button("Cancel plan"));
    assert.ok(text().includes(`Cancel Starter? It stays until ${day(ACTIVE.periodEnd)}.`), text());
    await click(button("Cancel plan"));
    const cancel = fetch.calls.find((c) => c.path === "/prod/subscription/cancel");
    assert.deepEqual(cancel.body, { atPeriodEnd: true });
    assert.ok(cancel.headers["idempotency-key"]);
    // The entitlements have not caught up yet: the route's answer is what is shown.
    assert.equal($(".entitle-status").textContent, `Cancels at period end on ${day(CANCELED.periodEnd)}`);
    assert.equal($(".entitle-notice").textContent, `Canceled: it ends on ${day(CANCELED.periodEnd)}. Ending: Starter, Team pack × 2.`);

    entitlements = { ...ACTIVE, status: "canceling", periodEnd: CANCELED.periodEnd };
    await click(button("Resume plan"));
    const resume = fetch.calls.find((c) => c.path === "/prod/subscription/resume");
    assert.notEqual(resume.headers["idempotency-key"], cancel.headers["idempotency-key"]);
    assert.equal($(".entitle-notice").textContent, `Resumed: Starter, Team pack × 2, renewing on ${day(RESUMED.periodEnd)}.`);
    // A read sent after the resume that still says canceling (the events are on their way) does not undo it.
    assert.ok(fetch.calls.filter((c) => c.path === "/prod/entitlements").length >= 3);
    assert.equal($(".entitle-status").textContent, "Active");
    assert.equal(button("Cancel plan").disabled, false);
  });

  it("shows a grace banner while a payment has failed", async () => {
    const fetch = api(routes({ ...ACTIVE, status: "past_due", graceUntil: "2026-12-15T09:00:00Z", pastDueSince: "2026-12-08T09:00:00Z" }));
    await render(provider(fetch, {}, h(AccountPanel)));
    assert.equal($(".entitle-status").textContent, "Payment failed: plan kept until Dec 15, 2026");
    const banner = $(".entitle-banner--grace");
    assert.equal(banner.getAttribute("role"), "alert");
    assert.match(banner.textContent, /Your last payment failed\. Starter is kept until Dec 15, 2026/);
  });

  it("shows a scheduled change", async () => {
    const fetch = api(routes({ ...ACTIVE, subscriptionId: SCHEDULED.subscriptionId, scheduledChange: SCHEDULED.scheduledChange }));
    await render(provider(fetch, {}, h(AccountPanel)));
    assert.equal($(".entitle-account__scheduled").textContent, `Switches to Professional on ${day(SCHEDULED.scheduledChange.at)}.`);
  });

  it("offers a free subject neither cancel nor the billing portal", async () => {
    const fetch = api(routes(FREE));
    await render(provider(fetch, {}, h(AccountPanel)));
    assert.equal($(".entitle-status").textContent, "Free");
    assert.equal($$("button").length, 0, text());
  });

  it("says in words why a billing change was refused", async () => {
    const fetch = api(routes(ACTIVE, { "POST /subscription/cancel": { status: 403, body: FORBIDDEN } }));
    await render(provider(fetch, { claims: { sub: "user_1", o: { id: "org_1" } } }, h(AccountPanel)));
    await click(button("Cancel plan"));
    await click(button("Cancel plan"));
    assert.equal($(".entitle-error").textContent, "Only the organization's billing managers can change its plan.");
  });
});

describe("hooks", () => {
  it("useEntitlements shares one read under a provider, and refresh reads again", async () => {
    const fetch = api({ "GET /entitlements": ACTIVE });
    let refresh;
    function Plan() {
      const e = useEntitlements();
      refresh = e.refresh;
      return e.loading && !e.data ? "loading" : e.data.plan;
    }
    await render(provider(fetch, {}, h(Plan), h(Plan)));
    assert.equal(text(), "starterstarter");
    assert.equal(fetch.calls.length, 1);
    await act(async () => refresh());
    assert.equal(fetch.calls.length, 2);
  });

  it("reads again for another subject (an organization switched to)", async () => {
    const fetch = api({ "GET /entitlements": (c) => ({ ...ACTIVE, plan: c.headers.authorization === "Bearer org" ? "team" : "starter" }) });
    let token = "user";
    const client = createBillingClient({ baseUrl: BASE, getToken: () => token, fetch, sleep: noSleep });
    function Plan() {
      const e = useEntitlements();
      return e.data?.plan ?? "…";
    }
    await render(h(EntitleProvider, { client, claims: { sub: "user_1" } }, h(Plan)));
    assert.equal(text(), "starter");
    token = "org";
    await act(async () => root.render(h(EntitleProvider, { client, claims: { sub: "user_1", o: { id: "org_1" } } }, h(Plan))));
    await settle();
    assert.equal(text(), "team");
  });
});
