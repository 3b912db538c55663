// The components rendered on a server (react-dom/server, no DOM at all), as a Next.js page's first paint is: from
// answers at hand (`initial`), or their loading state, and with nothing sent from the server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement as h } from "react";
import { renderToString } from "react-dom/server";
import { createBillingClient } from "../dist/index.js";
import { AccountPanel, EntitleProvider, PlanGate, PricingTable } from "../dist/react.js";
import { BASE, fakeFetch, fixture } from "./helpers.mjs";

const body = (route, pred = () => true) => fixture("api", (s) => s.route === route && s.status === 200 && pred(s.body)).body;
const PLANS = body("plans");
const ENTITLEMENTS = { ...body("entitlements", (b) => Boolean(b.addons)), periodEnd: "2026-12-22T20:53:33Z" };
const USAGE = body("usage");

describe("server rendering", () => {
  it("renders the pricing table and the account panel from answers at hand, sending nothing", () => {
    const fetch = fakeFetch(() => {
      throw new Error("nothing is fetched while rendering on a server");
    });
    const client = createBillingClient({ baseUrl: BASE, getToken: () => "jwt", fetch });
    const html = renderToString(
      h(
        EntitleProvider,
        { client, locale: "en-US", timeZone: "UTC", initial: { plans: PLANS, entitlements: ENTITLEMENTS, usage: USAGE } },
        h(PricingTable),
        h(AccountPanel),
        h(PlanGate, { feature: "audit_log", fallback: "no audit log" }, "audit log on"),
      ),
    );
    assert.match(html, /<li class="entitle-plan entitle-plan--current" aria-current="true" data-plan="starter">/);
    assert.match(html, /Professional/);
    assert.match(html, /\$199/);
    assert.match(html, /Team pack<!-- --> × 2/);
    assert.match(html, /Renews on <!-- -->Dec 22, 2026/);
    assert.match(html, /audit log on/);
    assert.equal(fetch.calls.length, 0);
  });

  it("renders the loading states without answers", () => {
    const html = renderToString(h(EntitleProvider, { baseUrl: BASE }, h(PricingTable), h(AccountPanel)));
    assert.match(html, /Loading plans…/);
    assert.match(html, /Loading your plan…/);
  });
});
