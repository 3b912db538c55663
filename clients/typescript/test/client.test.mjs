// The clients' behaviour around the answers: authorization, idempotency keys, what is retried and how, typed
// errors, holds, the claims' mirror and the words. Bodies come from test/fixtures (recorded by the Rust tests).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as entitle from "../dist/index.js";
import * as server from "../dist/server.js";
import { BASE, fakeFetch, fixture, noSleep } from "./helpers.mjs";

const api = (route, status, pred = () => true) =>
  fixture("api", (s) => s.route === route && s.status === status && pred(s.body)).body;
const usageApi = (method, path, status, pred = () => true) =>
  fixture("usage-api", (s) => s.method === method && s.path.split("?")[0] === path && s.status === status && pred(s.body)).body;

const ENTITLEMENTS = api("entitlements", 200, (b) => b.status === "active");
const UNAVAILABLE = api("entitlements", 503);
const CANCELED = api("subscription_cancel", 200, (b) => b.status === "canceling");
const PREVIEW = api("subscription_change", 200, (b) => "preview" in b);
const CHANGED = api("subscription_change", 200, (b) => !("preview" in b));
const PLANS = api("plans", 200);
const ALLOWED = usageApi("POST", "/v1/usage", 200, (b) => b.allowed && !b.usageId);
const HOLD = usageApi("POST", "/v1/usage", 200, (b) => b.allowed && b.usageId && b.overage === undefined);
const LIMIT = usageApi("POST", "/v1/usage", 200, (b) => b.reason === "limit_exceeded");
const COMMITTED = fixture("usage-api", (s) => /\/commit$/.test(s.path) && s.status === 200).body;
const RELEASED = fixture("usage-api", (s) => /\/release$/.test(s.path) && s.status === 200).body;

function billing(fetch, options = {}) {
  return entitle.createBillingClient({ baseUrl: BASE, getToken: () => "jwt", fetch, sleep: noSleep, ...options });
}
function usage(fetch, options = {}) {
  return server.createUsageClient({ baseUrl: BASE, apiKey: "key_1", fetch, sleep: noSleep, ...options });
}
const sequence = (...answers) => fakeFetch((_, n) => {
  const a = answers[Math.min(n, answers.length) - 1];
  if (a instanceof Error) throw a;
  return a;
});

describe("billing-api client", () => {
  it("sends the session token as a Bearer header, asking the getter before every attempt", async () => {
    const tokens = ["t1", "t2"];
    const fetch = sequence({ status: 503, body: UNAVAILABLE }, { status: 200, body: ENTITLEMENTS });
    const client = billing(fetch, { getToken: async () => tokens.shift() });
    assert.deepEqual(await client.entitlements(), ENTITLEMENTS);
    assert.deepEqual(fetch.calls.map((c) => c.headers.authorization), ["Bearer t1", "Bearer t2"]);
    assert.equal(fetch.calls[0].url, `${BASE}/entitlements`);
  });

  it("calls fetch as a plain function, as a browser's window.fetch requires (no `this`)", async () => {
    const original = globalThis.fetch;
    const thisSeen = [];
    // A browser's fetch throws "Illegal invocation" unless called on the window; this one records its `this`.
    globalThis.fetch = function (url) {
      thisSeen.push(this);
      return Promise.resolve(new Response(JSON.stringify(PLANS), { status: 200, headers: { "content-type": "application/json" } }));
    };
    try {
      const fromGlobal = entitle.createBillingClient({ baseUrl: BASE });
      assert.deepEqual(await fromGlobal.plans(), PLANS);
      const timed = entitle.createBillingClient({ baseUrl: BASE, timeoutMs: 0 });
      await timed.plans();
    } finally {
      globalThis.fetch = original;
    }
    assert.deepEqual(thisSeen, [undefined, undefined]);
  });

  it("throws Unauthorized (no_session) without a request when there is no token", async () => {
    const fetch = sequence({ status: 200, body: ENTITLEMENTS });
    const client = billing(fetch, { getToken: () => null });
    await assert.rejects(client.usage(), (e) => e instanceof entitle.Unauthorized && e.code === "no_session");
    assert.equal(fetch.calls.length, 0);
  });

  it("GET /plans is public and kept by its ETag (304 answers the copy)", async () => {
    const fetch = sequence({ status: 200, body: PLANS, headers: { etag: '"v1"' } }, { status: 304 });
    const client = billing(fetch, { getToken: undefined });
    assert.deepEqual(await client.plans(), PLANS);
    assert.deepEqual(await client.plans(), PLANS);
    assert.equal(fetch.calls[0].headers.authorization, undefined);
    assert.equal(fetch.calls[0].headers["if-none-match"], undefined);
    assert.equal(fetch.calls[1].headers["if-none-match"], '"v1"');
  });

  it("every POST carries an Idempotency-Key, and a retry sends the same key and body", async () => {
    const fetch = sequence({ status: 503, body: UNAVAILABLE }, { status: 500, body: null }, { status: 200, body: CANCELED });
    const client = billing(fetch);
    assert.deepEqual(await client.cancel({ atPeriodEnd: true }, { idempotencyKey: "click-1" }), CANCELED);
    assert.equal(fetch.calls.length, 3);
    for (const call of fetch.calls) {
      assert.equal(call.method, "POST");
      assert.equal(call.path, "/prod/subscription/cancel");
      assert.equal(call.headers["idempotency-key"], "click-1");
      assert.equal(call.headers["content-type"], "application/json");
      assert.deepEqual(call.body, { atPeriodEnd: true });
    }
  });

  it("makes a key per call when none is given", async () => {
    const fetch = sequence({ status: 200, body: CANCELED });
    const client = billing(fetch);
    await client.resume();
    await client.resume();
    const [a, b] = fetch.calls.map((c) => c.headers["idempotency-key"]);
    assert.match(a, /^[0-9a-f-]{36}$/);
    assert.notEqual(a, b);
    assert.deepEqual(fetch.calls[0].body, {});
  });

  it("previewChange sends preview: true; changePlan never does", async () => {
    const fetch = sequence({ status: 200, body: PREVIEW }, { status: 200, body: CHANGED });
    const client = billing(fetch);
    assert.deepEqual(await client.previewChange({ price: "pro_monthly", at: "period_end" }), PREVIEW);
    assert.deepEqual(await client.changePlan({ price: "pro_monthly", preview: true }), CHANGED);
    assert.deepEqual(fetch.calls[0].body, { price: "pro_monthly", at: "period_end", preview: true });
    assert.deepEqual(fetch.calls[1].body, { price: "pro_monthly" });
  });

  it("history sends whole-second UTC instants", async () => {
    const history = usageApi("GET", "/v1/entitlements/history", 200);
    const fetch = sequence({ status: 200, body: history });
    await billing(fetch).history({ from: new Date("2026-11-01T10:00:00.123Z"), to: "2026-12-01T00:00:00Z" });
    assert.deepEqual(fetch.calls[0].query, { from: "2026-11-01T10:00:00Z", to: "2026-12-01T00:00:00Z" });
    assert.equal(fetch.calls[0].path, "/prod/entitlements/history");
  });

  it("does not retry 4xx, 409 idempotency_conflict or Stripe's 502", async () => {
    for (const [route, status, Expected] of [
      ["subscription_cancel", 409, entitle.IdempotencyConflict],
      ["checkout", 409, entitle.SubscriptionExists],
      ["subscription_change", 502, entitle.PaymentProviderError],
      ["checkout", 400, entitle.BadRequest],
    ]) {
      const body = api(route, status);
      const fetch = sequence({ status, body });
      await assert.rejects(billing(fetch).cancel(), (e) => e.constructor === Expected && e.code === body.error.code);
      assert.equal(fetch.calls.length, 1, `${route} ${status} retried`);
    }
  });

  it("retries a gateway's bare 502 (the function failed), then throws Unavailable", async () => {
    const fetch = sequence({ status: 502, body: { message: "Internal Server Error" } });
    await assert.rejects(billing(fetch).entitlements(), (e) => e instanceof entitle.Unavailable && e.code === "http_502");
    assert.equal(fetch.calls.length, 3);
  });

  it("backs off exponentially with jitter, and waits at least what Retry-After asks", async () => {
    const waits = [];
    const sleep = async (ms) => void waits.push(ms);
    const fetch = sequence(
      { status: 503, body: UNAVAILABLE },
      { status: 429, body: UNAVAILABLE, headers: { "retry-after": "3" } },
      { status: 503, body: UNAVAILABLE },
      { status: 200, body: ENTITLEMENTS },
    );
    const client = billing(fetch, { retries: 3, retryDelayMs: 100, sleep });
    assert.deepEqual(await client.entitlements(), ENTITLEMENTS);
    assert.equal(waits.length, 3);
    assert.ok(waits[0] >= 50 && waits[0] <= 100, `first wait ${waits[0]}`);
    assert.equal(waits[1], 3000);
    assert.ok(waits[2] >= 200 && waits[2] <= 400, `third wait ${waits[2]}`);
  });

  it("gives up at once when Retry-After is beyond maxRetryDelayMs, saying how long", async () => {
    const fetch = sequence({ status: 503, body: UNAVAILABLE, headers: { "retry-after": "120" } });
    await assert.rejects(
      billing(fetch, { maxRetryDelayMs: 5000 }).entitlements(),
      (e) => e instanceof entitle.Unavailable && e.retryAfterMs === 120_000 && e.code === "unavailable",
    );
    assert.equal(fetch.calls.length, 1);
  });

  it("retries no answer at all, then throws Unavailable (network)", async () => {
    const fetch = sequence(new TypeError("fetch failed"));
    await assert.rejects(billing(fetch).entitlements(), (e) => e instanceof entitle.Unavailable && e.code === "network" && e.status === 0);
    assert.equal(fetch.calls.length, 3);
  });

  it("times an attempt out", async () => {
    const hang = async (_url, init) =>
      new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    const client = entitle.createBillingClient({ baseUrl: BASE, getToken: () => "jwt", fetch: hang, timeoutMs: 20, retries: 0 });
    await assert.rejects(client.entitlements(), (e) => e instanceof entitle.Unavailable && e.code === "timeout");
  });

  it("a caller's abort is not retried", async () => {
    const controller = new AbortController();
    let calls = 0;
    let started;
    const inFlight = new Promise((resolve) => (started = resolve));
    const hang = async (_url, init) => {
      calls++;
      started();
      return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
    };
    const client = entitle.createBillingClient({ baseUrl: BASE, getToken: () => "jwt", fetch: hang, sleep: noSleep });
    const pending = client.entitlements({ signal: controller.signal });
    await inFlight;
    controller.abort(new Error("navigated away"));
    await assert.rejects(pending, /navigated away/);
    assert.equal(calls, 1);
    // Aborted before it is sent: nothing is sent.
    await assert.rejects(client.entitlements({ signal: controller.signal }), /navigated away/);
    assert.equal(calls, 1);
  });

  it("takes a base URL with a trailing slash", async () => {
    const fetch = sequence({ status: 200, body: ENTITLEMENTS });
    await billing(fetch, { baseUrl: `${BASE}/` }).entitlements();
    assert.equal(fetch.calls[0].url, `${BASE}/entitlements`);
  });
});

describe("usage-api client", () => {
  it("consume sends the subject, the amount and the idempotency key with the server key", async () => {
    const fetch = sequence({ status: 200, body: ALLOWED });
    const answer = await usage(fetch).consume({ subject: "org_1", memberId: "user_2", feature: "messages", amount: 2, idempotencyKey: "msg_1" });
    assert.deepEqual(answer, ALLOWED);
    const [call] = fetch.calls;
    assert.equal(call.headers.authorization, "Bearer key_1");
    assert.equal(call.headers["idempotency-key"], undefined);
    assert.deepEqual(call.body, { subject: "org_1", memberId: "user_2", feature: "messages", amount: 2, idempotencyKey: "msg_1" });
  });

  it("consume refuses to send without an idempotency key", async () => {
    const fetch = sequence({ status: 200, body: ALLOWED });
    await assert.rejects(usage(fetch).consume({ subject: "user_1", feature: "messages", amount: 1, idempotencyKey: "" }), TypeError);
    assert.equal(fetch.calls.length, 0);
  });

  it("a refusal throws its Refused error, with the decision; check returns it", async () => {
    const fetch = sequence({ status: 200, body: LIMIT });
    const client = usage(fetch);
    await assert.rejects(
      client.consume({ subject: "user_1", feature: LIMIT.feature, amount: 1, idempotencyKey: "k" }),
      (e) => e instanceof server.LimitExceeded && e instanceof server.Refused && e.decision.remaining === LIMIT.remaining,
    );
    assert.deepEqual(await client.check({ subject: "user_1", feature: LIMIT.feature }), LIMIT);
    assert.deepEqual(fetch.calls[1].body, { subject: "user_1", feature: LIMIT.feature });
  });

  it("a 503 is retried under the same idempotency key and body", async () => {
    const body = usageApi("POST", "/v1/usage", 503);
    const fetch = sequence({ status: 503, body }, { status: 200, body: ALLOWED });
    await usage(fetch).consume({ subject: "user_1", feature: "messages", amount: 1, idempotencyKey: "k1" });
    assert.equal(fetch.calls.length, 2);
    assert.deepEqual(fetch.calls[0].body, fetch.calls[1].body);
  });

  it("withHold commits the whole hold when fn returns without settling", async () => {
    const fetch = fakeFetch((c) => ({ status: 200, body: c.path.endsWith("/commit") ? COMMITTED : HOLD }));
    const value = await usage(fetch).withHold(
      { subject: "user_1", feature: "credits", amount: 500, idempotencyKey: "gen_1", seconds: 300 },
      async (hold) => {
        assert.equal(hold.usageId, HOLD.usageId);
        return "text";
      },
    );
    assert.equal(value, "text");
    assert.deepEqual(fetch.calls[0].body.hold, { seconds: 300 });
    assert.equal(fetch.calls[1].path, `/prod/v1/usage/${HOLD.usageId}/commit`);
    assert.deepEqual(fetch.calls[1].body, { amount: 500 });
    assert.equal(fetch.calls.length, 2);
  });

  it("withHold commits once when fn commits what it used", async () => {
    const fetch = fakeFetch((c) => ({ status: 200, body: c.path.endsWith("/commit") ? COMMITTED : HOLD }));
    await usage(fetch).withHold({ subject: "user_1", feature: "credits", amount: 500, idempotencyKey: "g", seconds: 60 }, (hold) =>
      hold.commit(137),
    );
    assert.deepEqual(fetch.calls.map((c) => [c.path.split("/").pop(), c.body?.amount]), [["usage", 500], ["commit", 137]]);
  });

  it("withHold releases the hold when fn throws, and rethrows fn's error", async () => {
    const fetch = fakeFetch((c) => ({ status: 200, body: c.path.endsWith("/release") ? RELEASED : HOLD }));
    const failure = new Error("the model call failed");
    await assert.rejects(
      usage(fetch).withHold({ subject: "user_1", feature: "credits", amount: 500, idempotencyKey: "g", seconds: 60 }, async () => {
        throw failure;
      }),
      (e) => e === failure,
    );
    assert.equal(fetch.calls[1].path, `/prod/v1/usage/${HOLD.usageId}/release`);
    assert.equal(fetch.calls[1].body, undefined);
  });

  it("withHold still rethrows fn's error when the release fails too (the hold expires by itself)", async () => {
    const fetch = fakeFetch((c) => (c.path.endsWith("/release") ? { status: 404, body: fixture("usage-api", (s) => /\/release$/.test(s.path) && s.status === 404).body } : { status: 200, body: HOLD }));
    const failure = new Error("boom");
    await assert.rejects(
      usage(fetch).withHold({ subject: "user_1", feature: "credits", amount: 5, idempotencyKey: "g", seconds: 60 }, () => {
        throw failure;
      }),
      (e) => e === failure,
    );
  });

  it("withHold does not call fn when the hold is refused", async () => {
    const fetch = sequence({ status: 200, body: LIMIT });
    let ran = false;
    await assert.rejects(
      usage(fetch).withHold({ subject: "user_1", feature: "messages", amount: 1, idempotencyKey: "g", seconds: 60 }, () => {
        ran = true;
      }),
      server.LimitExceeded,
    );
    assert.equal(ran, false);
    assert.equal(fetch.calls.length, 1);
  });

  it("reads: usage, entitlements, at, explain, history and the credits ledger", async () => {
    const fetch = fakeFetch(() => ({ status: 200, body: {} }));
    const c = usage(fetch);
    await c.usage("org_1", { memberId: "user_2" });
    await c.entitlements("user_1");
    await c.entitlementsAt("user_1", new Date(Date.UTC(2026, 10, 27, 20, 54, 40, 999)), { explain: true });
    await c.explain("user_1");
    await c.history("user_1", { to: "2026-11-27T20:55:41Z" });
    await c.creditsLedger("user_1", { limit: 2 });
    assert.deepEqual(
      fetch.calls.map((x) => [x.path.replace("/prod", ""), x.query]),
      [
        ["/v1/usage", { subject: "org_1", memberId: "user_2" }],
        ["/v1/entitlements", { subject: "user_1" }],
        ["/v1/entitlements", { subject: "user_1", at: "2026-11-27T20:54:40Z", explain: "true" }],
        ["/v1/entitlements", { subject: "user_1", explain: "true" }],
        ["/v1/entitlements/history", { subject: "user_1", to: "2026-11-27T20:55:41Z" }],
        ["/v1/credits/ledger", { subject: "user_1", limit: "2" }],
      ],
    );
  });

  it("refuses to start in a browser, where the key would be public", () => {
    globalThis.document = {};
    try {
      assert.throws(() => server.createUsageClient({ baseUrl: BASE, apiKey: "k" }), /must not run in a browser/);
      assert.ok(server.createUsageClient({ baseUrl: BASE, apiKey: "k", dangerouslyAllowBrowser: true }));
    } finally {
      delete globalThis.document;
    }
  });

  it("errors share one class across entry points", () => {
    assert.equal(server.LimitExceeded, entitle.LimitExceeded);
    assert.equal(server.Unavailable, entitle.Unavailable);
  });
});

describe("the session claims' mirror", () => {
  const mirror = {
    plan: "professional", status: "active", features: ["agents", "sso"], limits: { agents: 10 }, credits: 2000,
    periodEnd: "2026-12-22T10:00:00Z", graceUntil: null, scheduledChange: null,
  };
  const now = Date.parse("2026-12-01T00:00:00Z");

  it("is read from the billing claim of a personal session", () => {
    assert.deepEqual(entitle.mirrorFromClaims({ sub: "user_1", billing: mirror }, { now }), mirror);
    assert.deepEqual(entitle.mirrorFromClaims({ sub: "user_1", billing: JSON.stringify(mirror) }, { now }), mirror);
    assert.deepEqual(entitle.mirrorFromClaims({ sub: "user_1", plan: mirror }, { claim: "plan", now }), mirror);
  });

  it("is not the user's for a session acting for an organization", () => {
    assert.equal(entitle.mirrorFromClaims({ sub: "user_1", org_id: "org_1", billing: mirror }, { now }), null);
    assert.equal(entitle.mirrorFromClaims({ sub: "user_1", o: { id: "org_1" }, billing: mirror }, { now }), null);
    const claims = { sub: "user_1", o: { id: "org_1" }, billing: { ...mirror, plan: "starter" }, orgBilling: mirror };
    assert.deepEqual(entitle.mirrorFromClaims(claims, { orgClaim: "orgBilling", now }), mirror);
  });

  it("is not trusted once its grace period or canceling period has passed", () => {
    const late = { ...mirror, status: "past_due", graceUntil: "2026-11-30T00:00:00Z" };
    assert.equal(entitle.mirrorFromClaims({ billing: late }, { now }), null);
    const canceling = { ...mirror, status: "canceling", periodEnd: "2026-11-30T00:00:00Z" };
    assert.equal(entitle.mirrorFromClaims({ billing: canceling }, { now }), null);
    assert.ok(entitle.mirrorFromClaims({ billing: { ...late, graceUntil: "2026-12-08T00:00:00Z" } }, { now }));
  });

  it("is null when absent or malformed", () => {
    for (const claims of [null, undefined, {}, { billing: null }, { billing: "" }, { billing: "{" }, { billing: { plan: 1 } }]) {
      assert.equal(entitle.mirrorFromClaims(claims), null);
    }
  });
});

describe("words", () => {
  const f = { locale: "en-US", timeZone: "UTC" };
  it("statuses", () => {
    const e = { periodEnd: "2026-12-22T10:00:00Z", graceUntil: "2026-12-08T09:00:00Z", trialEnd: "2026-12-05T00:00:00Z" };
    assert.equal(entitle.describeStatus({ ...e, status: "free" }, f), "Free");
    assert.equal(entitle.describeStatus({ ...e, status: "active" }, f), "Active");
    assert.equal(entitle.describeStatus({ ...e, status: "trialing" }, f), "Trial until Dec 5, 2026");
    assert.equal(entitle.describeStatus({ ...e, status: "past_due" }, f), "Payment failed: plan kept until Dec 8, 2026");
    assert.equal(entitle.describeStatus({ ...e, status: "canceling" }, f), "Cancels at period end on Dec 22, 2026");
  });
  it("the catalog's words for features and limits, from GET /plans or an entitlements answer", () => {
    const e = ENTITLEMENTS;
    assert.equal(entitle.featureName("api_access", { plans: PLANS }), "API access");
    assert.equal(entitle.featureName("api_access", { words: e.words }), "API access", "the entitlements name what they grant");
    assert.equal(entitle.featureName("sso", { words: e.words }), "sso", "not granted, not named there: the id");
    assert.equal(entitle.featureDescription("sso", { plans: PLANS }), PLANS.features.sso.description);
    assert.equal(entitle.limitName("messages_per_day", { plans: PLANS }), "Messages a day");
    assert.equal(entitle.limitName("agents", { words: e.words }), "Agents");
    assert.deepEqual(entitle.limitUnit("agents", { plans: PLANS }), { one: "agent", other: "agents" });
    const unit = { one: "agent", other: "agents" };
    assert.equal(entitle.formatCount(1, unit, f), "1 agent");
    assert.equal(entitle.formatCount(1000, unit, f), "1,000 agents");
    assert.equal(entitle.describeLimit("messages_per_day", 1000, { plans: PLANS }, f), "1,000 messages a day");
    assert.equal(entitle.describeLimit("agents", "unlimited", { plans: PLANS }, f), "Unlimited agents");
    assert.equal(entitle.describeLimit("tokens", 5, {}, f), "tokens: 5", "a catalog without words: the id");
  });
  it("amounts in the currency's smallest unit", () => {
    assert.equal(entitle.formatAmount(4900, "usd", f), "$49");
    assert.equal(entitle.formatAmount(4950, "usd", f), "$49.50");
    assert.equal(entitle.formatAmount(500, "jpy", f), "¥500");
    assert.equal(entitle.formatLimit("unlimited", f), "Unlimited");
    assert.equal(entitle.formatLimit(10000, f), "10,000");
  });
});
