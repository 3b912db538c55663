// The package against the local functions (`make dev`'s billing-api and usage-api, through cargo lambda watch,
// with the local Stripe and Clerk stand-ins), not against recordings: a new user from the local Clerk, the
// browser client with their session token, the server client with the local usage-api key. Run by
// scripts/test-local.mjs (`npm run test:local`), which scripts/e2e.sh calls while its stack runs.
// ENTITLE_READY names the stack's .local/dev-ready (APP_URL, BILLING_API, USAGE_API, USAGE_API_KEY, CLERK_BASE,
// STRIPE_BASE).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as entitle from "../../dist/index.js";
import * as server from "../../dist/server.js";

const ready = Object.fromEntries(
  readFileSync(process.env.ENTITLE_READY, "utf8")
    .split("\n")
    .filter((line) => line.includes("="))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
// The local stand-ins take any test-mode secret key (scripts/dev.sh gives the functions this one).
const LOCAL_CLERK_KEY = "sk_test_entitle_local";
const stamp = `${Date.now()}-${process.pid}`;

async function clerk(path, body, key = LOCAL_CLERK_KEY) {
  const response = await fetch(`${ready.CLERK_BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, `Clerk ${path}: ${JSON.stringify(answer)}`);
  return answer;
}

/** A fetch that records each answer's status, to see what the client sent and got. */
function recording() {
  const statuses = [];
  const f = async (input, init) => {
    const response = await fetch(input, init);
    statuses.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname} ${response.status}`);
    return response;
  };
  return { fetch: f, statuses };
}

let user;
let token;
let billing;
let billingCalls;
let usage;

before(async () => {
  // Signed up at Clerk (its Backend API sends user.created to the clerk-webhook), then a session of that user for
  // the app's origin, as the sign-in page makes one.
  user = await clerk("/v1/users", {
    email_address: [`ts-client-${stamp}@example.com`],
    first_name: "Type",
    last_name: "Script",
  });
  ({ token } = await clerk("/__fake/sessions", { userId: user.id, azp: ready.APP_URL }, null));
  billingCalls = recording();
  billing = entitle.createBillingClient({ baseUrl: ready.BILLING_API, getToken: () => token, fetch: billingCalls.fetch });
  usage = server.createUsageClient({ baseUrl: ready.USAGE_API, apiKey: ready.USAGE_API_KEY });
});

describe("the browser client against billing-api", () => {
  it("reads the plans in words, then the same plans by ETag (304)", async () => {
    const plans = await billing.plans();
    assert.ok(plans.plans.some((p) => p.id === "starter" && p.name === "Starter"));
    assert.equal(plans.features.api_access.name, "API access");
    assert.equal(entitle.describeLimit("messages_per_day", 1000, { plans }, { locale: "en-US" }), "1,000 messages a day");
    const again = await billing.plans();
    assert.deepEqual(again, plans);
    assert.deepEqual(billingCalls.statuses.filter((s) => s.endsWith("/plans 200") || s.endsWith("/plans 304")).map((s) => s.split(" ").at(-1)), ["200", "304"]);
  });

  it("reads the new user's entitlements (the free plan) with the words of what they grant", async () => {
    const e = await billing.entitlements();
    assert.equal(e.userId, user.id);
    assert.equal(e.plan, "free");
    assert.equal(entitle.describeStatus(e), "Free");
    assert.equal(e.words.features.agents, "AI agents");
    assert.deepEqual(e.words.limits.agents.unit, { one: "agent", other: "agents" });
  });

  it("starts a Checkout of a plan on the local Stripe", async () => {
    const checkout = await billing.checkout({
      price: "starter_monthly",
      successUrl: `${ready.APP_URL}/?checkout=success`,
      cancelUrl: `${ready.APP_URL}/?checkout=canceled`,
    });
    assert.ok(checkout.url.startsWith(`${ready.STRIPE_BASE}/checkout/`), checkout.url);
    assert.match(checkout.sessionId, /^cs_/);
    assert.match(checkout.customerId, /^cus_/);
  });

  it("throws billing-api's refusals as typed errors (a 400, a 404, a 401)", async () => {
    await assert.rejects(
      billing.checkout({ price: "enterprise_monthly", successUrl: `${ready.APP_URL}/`, cancelUrl: `${ready.APP_URL}/` }),
      (e) => e instanceof entitle.BadRequest && e.code === "contact_sales" && e.status === 400,
    );
    await assert.rejects(billing.cancel(), (e) => e instanceof entitle.NotFound && e.code === "no_subscription");
    const signedOut = entitle.createBillingClient({ baseUrl: ready.BILLING_API, getToken: () => "not-a-token" });
    await assert.rejects(signedOut.entitlements(), (e) => e instanceof entitle.Unauthorized && e.status === 401);
  });
});

describe("the server client against usage-api", () => {
  const messages = async () => (await usage.usage(user.id)).usage.find((i) => i.feature === "messages_per_day");

  it("consumes once per idempotency key: the replay answers the first answer and counts nothing", async () => {
    const first = await usage.consume({ subject: user.id, feature: "messages_per_day", amount: 1, idempotencyKey: `msg-${stamp}-1` });
    assert.equal(first.allowed, true);
    const replay = await usage.consume({ subject: user.id, feature: "messages_per_day", amount: 1, idempotencyKey: `msg-${stamp}-1` });
    assert.deepEqual(replay, first);
    assert.equal((await messages()).used, 1);
    await assert.rejects(
      usage.consume({ subject: user.id, feature: "messages_per_day", amount: 2, idempotencyKey: `msg-${stamp}-1` }),
      (e) => e instanceof server.IdempotencyConflict && e.status === 409,
    );
    assert.equal((await messages()).used, 1);
  });

  it("holds, then commits part of a hold and releases another; withHold releases when the work fails", async () => {
    const hold = await usage.hold({ subject: user.id, feature: "messages_per_day", amount: 5, seconds: 60, idempotencyKey: `job-${stamp}-1` });
    assert.match(hold.usageId, /\S/);
    assert.equal((await messages()).held, 5);
    await hold.commit(3);
    assert.deepEqual([(await messages()).used, (await messages()).held], [4, 0]);

    const released = await usage.hold({ subject: user.id, feature: "messages_per_day", amount: 5, seconds: 60, idempotencyKey: `job-${stamp}-2` });
    await released.release();
    assert.deepEqual([(await messages()).used, (await messages()).held], [4, 0]);

    await assert.rejects(
      usage.withHold({ subject: user.id, feature: "messages_per_day", amount: 2, seconds: 60, idempotencyKey: `job-${stamp}-3` }, async () => {
        throw new Error("the work failed");
      }),
      /the work failed/,
    );
    assert.deepEqual([(await messages()).used, (await messages()).held], [4, 0]);
    const done = await usage.withHold(
      { subject: user.id, feature: "messages_per_day", amount: 2, seconds: 60, idempotencyKey: `job-${stamp}-4` },
      async () => "done",
    );
    assert.equal(done, "done");
    assert.equal((await messages()).used, 6, "returned without settling: the whole hold committed");
  });

  it("throws a refusal as its typed error, recording nothing", async () => {
    await assert.rejects(
      usage.consume({ subject: user.id, feature: "messages_per_day", amount: 1000, idempotencyKey: `msg-${stamp}-big` }),
      (e) => e instanceof server.LimitExceeded && e.decision.reason === "limit_exceeded" && e.decision.limit === 100,
    );
    await assert.rejects(
      usage.consume({ subject: user.id, feature: "credits", amount: 10, idempotencyKey: `gen-${stamp}-1` }),
      (e) => e instanceof server.InsufficientCredits,
    );
    assert.equal((await messages()).used, 6);
  });

  it("reads the entitlements a server sees, the same the browser sees", async () => {
    const e = await usage.entitlements(user.id);
    assert.equal(e.plan, "free");
    assert.equal(e.words.limits.messages_per_day.name, "Messages a day");
    const seen = await billing.usage();
    assert.equal(seen.usage.find((i) => i.feature === "messages_per_day").used, 6, "billing-api's GET /usage agrees");
  });
});
