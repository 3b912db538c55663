// The demo app's page, built on Entitle's TypeScript client (clients/typescript): its browser entry point
// (`createBillingClient`: every billing-api call, with the retries, idempotency keys and typed errors it
// gives; the words for statuses, amounts, dates and the catalog's feature and limit names) and its React entry
// point (`<EntitleProvider>` and `<PlanGate>`: what the plan includes). web/build.mjs bundles it with esbuild
// into web/dist/ (no CDN, nothing fetched at run time). It is the browser half of an Entitle integration;
// scripts/demo_server.py is the server half. What to copy into your own app:
//
//   * billing-api is called straight from the browser with the Clerk session token as a Bearer header
//     (`getToken`): GET /plans (public), POST /checkout, POST /portal, GET /entitlements, GET /usage,
//     GET /entitlements/history, POST /subscription/cancel | resume | change.
//   * Anything that spends a limit or credits goes through YOUR server (here /api/send-message and
//     /api/generate), which verifies the same token and asks usage-api with a server key the browser never sees.
//   * The page shows what GET /entitlements says; a billing change reaches it a second or two later, so the
//     page reads it every 2 s while signed in. That includes the add-ons held and a plan change scheduled for
//     the period end (`scheduledChange`), so both are still shown after a reload.
//   * The History timeline is GET /entitlements/history: every version Entitle applied, with its provenance
//     (`reasons`, `changes`, `cause`), put in words here; read again whenever the entitlements read changes.
//   * Every POST to billing-api carries an `Idempotency-Key`: one per click (the client sends the same one on
//     its own retries of that click), so a retried click is done once and cancel → resume → cancel are three
//     intents.
//   * The organization switcher: the session's ACTIVE ORGANIZATION decides whom billing-api and the demo
//     backend act for. Switching asks Clerk for a new session token with (or without) the organization
//     (`await Clerk.setActive({ organization })` with ClerkJS; here the local Clerk's Frontend-like routes, see
//     scripts/standins/clerk/frontend.py), then every read and action goes out with that token. Nothing in a
//     request body names the organization: the token does.
import {
  EntitleError,
  Unauthorized,
  createBillingClient,
  describeLimit,
  describeStatus,
  featureDescription,
  featureName,
  formatAmount,
  formatDate,
  limitName as catalogLimitName,
  newIdempotencyKey,
} from "@entitle/client";
import { mountFeatures } from "./features.js";

// { billingApi, signInUrl, clock, appOrigin, generateCost, clerkFrontendApi, seatPlans } (/config.js)
const config = window.ENTITLE_CONFIG;
const TOKEN_KEY = "entitle.sessionToken";
const POLL_MS = 2000;
const FORMAT = { locale: "en-US" };

const state = {
  token: null,
  catalog: null, // GET /plans
  entitlements: null, // GET /entitlements
  usage: null, // GET /usage
  history: null, // GET /entitlements/history's versions, oldest first (as billing-api answers)
  historyError: null, // why the last read of the history failed (shown while there is none to show)
  historyFor: undefined, // the entitlements' updatedAt the history was read for (read again when it moves)
  change: null, // the plan change being previewed: { price, plan, at }
  interval: "month", // the pricing table's monthly / yearly toggle
  // The scheduled change the last cancel / resume / change answered ({ change, until }): shown until
  // GET /entitlements says the same (Entitle applies Stripe's events a moment later), at most FOLLOW_MS.
  scheduledAnswer: null,
  me: null, // the Clerk user (GET /v1/me): the header's name and email
  memberships: [], // the user's organizations (GET /v1/me/organization_memberships)
};
const FOLLOW_MS = 60000;

const $ = (id) => document.getElementById(id);
const show = (id, visible) => { $(id).hidden = !visible; };

// billing-api through the package: the token is asked for right before each request (with ClerkJS:
// `() => Clerk.session.getToken()`), so a switched organization's token is used at once.
const billing = createBillingClient({ baseUrl: config.billingApi, getToken: () => state.token });
// GET /plans under `make dev` waits for its first build (cargo lambda watch compiles billing-api on its first
// request): no timeout of its own, the page says what is happening meanwhile.
const catalogClient = createBillingClient({ baseUrl: config.billingApi, timeoutMs: 0, retries: 0 });

// ------------------------------------------------------------------------------------------- the session

// The local Clerk (scripts/fake_clerk.py) sends the browser back to `redirect_url#__session=<token>`. With
// the real Clerk you would call `await Clerk.session.getToken()` before each request instead (its tokens live
// 60 s and Clerk refreshes them); the rest of this file stays the same.
function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("__session");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    // Clear the fragment, so the token is not left in the address bar, the history or a shared link.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function signIn() {
  // Back to the app's own origin: the token's `azp` is the origin it was made for, and billing-api accepts
  // only CLERK_AUTHORIZED_PARTIES (and CORS only ALLOWED_ORIGINS).
  location.href = `${config.signInUrl}?redirect_url=${encodeURIComponent(config.appOrigin + "/")}`;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = state.entitlements = state.usage = state.scheduledAnswer = state.me = null;
  state.history = state.historyError = null;
  state.historyFor = undefined;
  state.memberships = [];
  renderSwitcher();
  render();
  if (message) notice(message);
}

// ------------------------------------------------------------------------------------------- HTTP

// One billing-api call through the client: { ok: true, data } or { ok: false, error } (an EntitleError: its
// `status`, its `code` — billing-api's stable error code — and its message). A 401 signs out.
async function api(run) {
  try {
    return { ok: true, data: await run() };
  } catch (error) {
    if (error instanceof Unauthorized && state.token) signOut("Your session has ended: sign in again.");
    return { ok: false, error };
  }
}

// One call to the demo backend or Clerk's Frontend API: { ok, status, data }. The demo backend's errors have
// billing-api's shape, {"error": {"code", "message"}}.
async function send(method, url, headers, body, what) {
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    return { ok: false, status: 0, data: { error: { code: "network", message: `cannot reach ${what}` } } };
  }
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

async function backend(path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const answer = await send("POST", path, headers, body, "the demo backend");
  if (answer.status === 401 && state.token) signOut("Your session has ended: sign in again.");
  return answer;
}

// The message of a failed call; for a 403 also its code (billing_permission_required, not_a_member), which says
// why. `failure` is an api() failure (an EntitleError) or a send() answer.
function errorText(failure) {
  const error = failure.error instanceof EntitleError ? failure.error : null;
  const status = error ? error.status : failure.status;
  const code = error ? error.code : failure.data?.error?.code;
  const message = error ? error.message : failure.data?.error?.message || `HTTP ${failure.status}`;
  return message + (status === 403 && code ? ` (${code})` : "");
}
const errorCode = (failure) => (failure.error instanceof EntitleError ? failure.error.code : failure.data?.error?.code);

function notice(text, { reveal = false } = {}) {
  $("notice").textContent = text;
  show("notice", Boolean(text));
  if (text && reveal) $("notice").scrollIntoView({ block: "nearest" });
}

// Runs an action from a button: the button is disabled meanwhile, the outcome goes to `notice`. Each click is
// one intent with its own idempotency key, which `work` passes on.
async function action(button, work) {
  button.disabled = true;
  try {
    await work(newIdempotencyKey());
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------- organizations

// The session token's claims (its payload; billing-api and the demo backend verify it, the page only reads it).
function claims() {
  try {
    const part = state.token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}
// The active organization: Clerk's v2 claim `o.id`, or v1 `org_id`; null on the personal account.
const activeOrgId = () => (state.token ? claims().o?.id || claims().org_id || null : null);
const activeMembership = () => state.memberships.find((m) => m.organization.id === activeOrgId()) || null;
const canManageBilling = () => !activeOrgId() || Boolean(activeMembership()?.permissions.includes("org:sys_billing:manage"));

// One call to Clerk's Frontend API (the local Clerk's Frontend-like routes) with the session token.
async function clerk(method, path, body) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const answer = await send(method, config.clerkFrontendApi + path, headers, body, config.clerkFrontendApi);
  if (!answer.ok && !answer.data?.error) {
    answer.data = { error: { message: answer.data?.errors?.[0]?.long_message || `HTTP ${answer.status}` } };
  }
  if (answer.status === 401) signOut("Your session has ended: sign in again.");
  return answer;
}

// Who is signed in and their organizations (`Clerk.user`, `user.getOrganizationMemberships()`).
async function loadClerk() {
  if (!state.token || !config.clerkFrontendApi) return;
  const [me, memberships] = await Promise.all([clerk("GET", "/v1/me"), clerk("GET", "/v1/me/organization_memberships")]);
  if (me.ok) state.me = me.data;
  if (memberships.ok) state.memberships = memberships.data.data;
  renderSwitcher();
  render();
}

// `Clerk.setActive({ organization })`: the session's active organization (null: the personal account), and the
// fresh token that says so. The local Clerk refuses an organization the user is not a member of.
async function setActiveOrganization(orgId) {
  const sid = claims().sid;
  const answer = await clerk("POST", `/v1/client/sessions/${sid}/touch`, { active_organization_id: orgId });
  if (!answer.ok) {
    notice(`Could not switch: ${errorText(answer)}`);
    renderSwitcher();
    return false;
  }
  state.token = answer.data.last_active_token.jwt;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  // What was shown was the other subject's.
  state.entitlements = state.usage = state.scheduledAnswer = state.history = state.historyError = null;
  state.historyFor = undefined;
  show("change-panel", false);
  $("usage-message").textContent = "";
  const org = activeMembership()?.organization;
  notice(org ? `Now acting for ${org.name}.` : "Now acting for your personal account.");
  renderSwitcher();
  render();
  await refresh({ wait: true });
  return true;
}

// `Clerk.createOrganization({ name })`: the user becomes its admin; then it is made the active one.
async function createOrganization() {
  const name = $("org-name").value.trim();
  if (!name) return notice("Give the organization a name.");
  const answer = await clerk("POST", "/v1/organizations", { name });
  if (!answer.ok) return notice(`The organization could not be created: ${errorText(answer)}`);
  $("org-name").value = "";
  show("org-create-form", false);
  await loadClerk();
  await setActiveOrganization(answer.data.id);
}

function renderSwitcher() {
  const select = $("org-select");
  const available = Boolean(state.token && config.clerkFrontendApi && state.me);
  show("org-switcher", available);
  if (!available) return;
  const options = [["", "Personal account"],
    ...state.memberships.map((m) => [m.organization.id, `${m.organization.name} (${m.role_name})`]),
    ["__create", "+ Create organization"]];
  select.replaceChildren(...options.map(([value, text]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    return option;
  }));
  select.value = activeOrgId() || "";
}

// The header: the name and email given at sign-up (Clerk's user); never the user id. Until Clerk's user is read,
// the session token's own `email` / `name` claims when its template adds them, else just "Signed in".
function whoText() {
  const me = state.me;
  if (!me) {
    const c = claims();
    return [c.name, c.email && `<${c.email}>`].filter(Boolean).join(" ") || "Signed in";
  }
  const email = me.email_addresses?.find((e) => e.id === me.primary_email_address_id)?.email_address;
  const name = [me.first_name, me.last_name].filter(Boolean).join(" ");
  return name && email ? `${name} <${email}>` : name || (email ? `<${email}>` : "Signed in");
}

// With an organization active: whose account this is, the caller's role, and whether they may change billing
// (Clerk's `org:sys_billing:manage`; billing-api checks it with Clerk on every change and answers 403
// billing_permission_required otherwise — the buttons stay, so the refusal is billing-api's own).
function renderOrganization() {
  const membership = activeMembership();
  const org = membership?.organization;
  $("account-title").textContent = org ? `${org.name}'s account` : "Your account";
  show("org-role", Boolean(org));
  if (org) {
    const manage = canManageBilling();
    $("org-role").textContent = manage
      ? `You are ${membership.role_name} of ${org.name}: you manage its billing. Its plan and limits are shared by its members.`
      : `You are ${membership.role_name} of ${org.name}: you use its plan, but you cannot change its billing ` +
        "(no org:sys_billing:manage): checkout, the portal and plan changes are refused. Ask an admin.";
    $("org-role").classList.toggle("refused", !manage);
  }
  // Seats: the members Entitle counted from Clerk (GET /usage's `seats`) and what the plan includes.
  const seats = (state.usage?.usage || []).find((item) => item.feature === "seats");
  // GET /plans' `seats` when billing-api lists them, else what the demo backend read from the catalog.
  const seatPlan = catalogPlan(state.entitlements?.plan)?.seats || config.seatPlans?.[state.entitlements?.plan];
  const showSeats = Boolean(org && seats);
  show("seats-label", showSeats);
  show("seats", showSeats);
  if (showSeats) {
    let text = `members: ${count(seats.used)}`;
    if (seatPlan) {
      const beyond = Math.max(0, seats.used - seatPlan.included);
      const price = seatPlan.prices?.[0];
      text += `, ${count(seatPlan.included)} included` +
        (beyond ? ` — ${count(beyond)} more billed${price ? ` at ${money(price.amount, price.currency)} / ${price.interval} each` : ""}` : "");
    }
    $("seats").textContent = text;
  }
}

// ------------------------------------------------------------------------------------------- words

// Amounts, counts and dates through the package's formatters (Intl); the catalog's words for features and
// limits (GET /plans' `features` and each limit's `name` and `unit`, else the entitlements' `words`).
const money = (amount, currency) =>
  amount === null || amount === undefined ? "—" : formatAmount(amount, currency || "usd", FORMAT);
const count = (n) => Number(n).toLocaleString("en-US");
const date = (iso) => (iso ? formatDate(iso, FORMAT) : "—");
const catalogPlan = (id) => state.catalog?.plans.find((p) => p.id === id);
const planName = (id) => catalogPlan(id)?.name || id;
const words = () => ({ plans: state.catalog, words: state.entitlements?.words });
const limitName = (name) => catalogLimitName(name, words());
const feature = (id) => featureName(id, words());
const INTERVALS = { month: "Monthly", year: "Yearly" };
const per = (interval) => (interval ? ` / ${interval}` : "");
const LIVE = ["active", "trialing", "past_due", "canceling"];
const hasLivePlan = () => Boolean(state.entitlements && state.entitlements.subscriptionId && LIVE.includes(state.entitlements.status));
// Whether there is anything to manage in Stripe's billing portal: a subscription (the plan's or an add-on's).
// A free user with neither is not offered it.
const hasBilling = () => Boolean(state.entitlements && (state.entitlements.subscriptionId || state.entitlements.addons?.length));

// The status in words ("Active", "Cancels at period end on Jan 6, 2027", "Payment failed: plan kept until …").
const statusText = (e) => describeStatus(e, FORMAT);

// ------------------------------------------------------------------------------------------- pricing

// The pricing table comes from billing-api's GET /plans (config/plans.toml): no prices or words hard-coded in
// the page. Under `make dev` the first request compiles billing-api (a few minutes on a first build): after a
// few seconds the page says so, and fills in by itself when billing-api answers.
async function loadPlans() {
  const started = Date.now();
  let failure = "";
  const say = () => {
    const s = Math.round((Date.now() - started) / 1000);
    $("plans-loading").textContent = `Waiting for billing-api to answer (${s} s). Under make dev its first ` +
      "request compiles it, which takes a few minutes on a first build; the plans appear here by themselves as " +
      "soon as it answers." + (failure ? ` The last try: ${failure}; trying again.` : "");
  };
  const waiting = setInterval(say, 1000);
  try {
    for (let attempt = 0; ; attempt++) {
      const answer = await api(() => catalogClient.plans());
      if (answer.ok) {
        state.catalog = answer.data;
        break;
      }
      // Keep trying while billing-api is not there yet (no answer, 5xx); say why meanwhile.
      failure = errorText(answer);
      say();
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1000 * 2 ** attempt)));
    }
  } finally {
    clearInterval(waiting);
  }
  renderPlans();
  renderCreditPacks();
  renderAddonButtons();
  render();
}

// The base plans side by side (add-ons are bought in the account's Add-ons section), one price per card for the
// interval the toggle picks: name, the current plan's badge, price, what the plan gives in words, one button.
function renderPlans() {
  const list = $("plans");
  list.replaceChildren();
  const plans = state.catalog.plans.filter((p) => !p.addon);
  const intervals = new Set(plans.flatMap((p) => p.prices.map((price) => price.interval)));
  const toggle = $("interval-toggle");
  toggle.replaceChildren();
  for (const interval of ["month", "year"].filter((i) => intervals.has(i))) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = `interval-${interval}`;
    b.textContent = INTERVALS[interval];
    b.setAttribute("aria-pressed", String(state.interval === interval));
    b.addEventListener("click", () => {
      state.interval = interval;
      renderPlans();
      renderPlanButtons();
    });
    toggle.append(b);
  }
  show("interval-toggle", toggle.children.length > 1);
  for (const plan of plans) {
    const card = document.createElement("article");
    card.className = "plan";
    card.dataset.plan = plan.id;
    card.innerHTML = `<div class="plan-head"><h3></h3><span class="badge" hidden>Current plan</span></div>
      <p class="tag"></p><p class="price"></p><ul class="grants"></ul><p class="current-text" hidden></p>
      <div class="plan-actions"></div>`;
    card.querySelector("h3").textContent = plan.name;
    card.querySelector(".tag").textContent = plan.default ? "Everyone starts here"
      : plan.for === "organization" ? "For teams" : plan.contactSales ? "For large organizations" : "";
    const prices = plan.contactSales ? [] : plan.prices;
    const shown = prices.find((p) => p.interval === state.interval) || prices[0];
    const price = card.querySelector(".price");
    if (plan.default) price.innerHTML = `<span class="amount">Free</span>`;
    else if (plan.contactSales || !shown) price.innerHTML = `<span class="amount">Custom</span>`;
    else {
      price.innerHTML = `<span class="amount"></span><span class="per"></span>`;
      price.querySelector(".amount").textContent = money(shown.amount, shown.currency);
      price.querySelector(".per").textContent = per(shown.interval);
      if (shown.trialDays) price.insertAdjacentHTML("beforeend", `<span class="trial">${shown.trialDays}-day free trial</span>`);
    }
    // What it gives, in the catalog's words: "10 agents", "10,000 messages a day", "25 messages a day per
    // member", seats, then each feature's name (its description on hover).
    const lines = [
      ...Object.entries(plan.limits || {}).map(([name, value]) => [describeLimit(name, value, words(), FORMAT), ""]),
      ...Object.entries(plan.memberLimits || {}).map(([name, value]) => [`${describeLimit(name, value, words(), FORMAT)} per member`, ""]),
      ...(plan.seats ? [[`${count(plan.seats.included)} seats included` + seatPriceText(plan.seats.prices?.[0]), ""]] : []),
      ...plan.features.map((f) => [feature(f), featureDescription(f, words())]),
    ];
    for (const [line, title] of lines) {
      const li = document.createElement("li");
      li.textContent = line;
      if (title) li.title = title;
      card.querySelector(".grants").append(li);
    }
    const actions = card.querySelector(".plan-actions");
    if (plan.contactSales) {
      const p = document.createElement("p");
      p.className = "sales";
      p.textContent = "Contact sales";
      actions.append(p);
    }
    for (const price of prices) {
      const key = price.lookupKey || price.id;
      // "Choose" starts a Checkout; once the user has a plan, "Switch" previews a change. One pair per
      // interval, the toggle's shown; the same short words on every card, so the buttons line up.
      const buy = button(`subscribe-${key}`, "Subscribe", (click) => subscribe(key, click));
      buy.classList.add("primary");
      buy.dataset.interval = price.interval;
      const change = button(`change-${key}`, "Switch to this plan", (click) => previewChange(key, plan, click));
      change.dataset.interval = price.interval;
      actions.append(buy, change);
    }
    list.append(card);
  }
}

const seatPriceText = (price) => (price ? `, then ${money(price.amount, price.currency)}${per(price.interval)} per seat` : "");

function renderCreditPacks() {
  const packs = $("credit-packs");
  packs.replaceChildren();
  for (const pack of state.catalog.creditPacks || []) {
    for (const price of pack.prices) {
      const key = price.lookupKey || price.id;
      packs.append(button(`buy-${key}`, `Buy ${pack.name} (${money(price.amount, price.currency)})`, (click) => subscribe(key, click)));
    }
  }
}

// "Buy <add-on>" in the account's Add-ons section: a Checkout of its own (billing-api sells an add-on beside a
// live plan: a subscription of its own, not refused as a second plan).
function renderAddonButtons() {
  const buttons = $("addon-buttons");
  buttons.replaceChildren();
  for (const plan of state.catalog.plans.filter((p) => p.addon && !p.contactSales)) {
    for (const price of plan.prices) {
      const key = price.lookupKey || price.id;
      buttons.append(button(`buy-${key}`, `Buy ${plan.name} (${money(price.amount, price.currency)}${per(price.interval)})`,
        (click) => subscribe(key, click)));
    }
  }
}

function button(id, text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.id = id;
  b.textContent = text;
  b.addEventListener("click", () => action(b, onClick)); // onClick(idempotency key)
  return b;
}

// ------------------------------------------------------------------------------------------- billing actions

// Checkout of a plan, an add-on or a credit pack: billing-api makes the Stripe Checkout session (on the user's
// own Stripe customer) and the page goes there; Stripe sends the user back to successUrl or cancelUrl.
async function subscribe(price, key) {
  if (!state.token) return signIn();
  const answer = await api(() => billing.checkout({
    price,
    successUrl: `${config.appOrigin}/?checkout=success&session={CHECKOUT_SESSION_ID}`,
    cancelUrl: `${config.appOrigin}/?checkout=canceled`,
  }, { idempotencyKey: key }));
  if (answer.ok) {
    location.href = answer.data.url;
  } else if (errorCode(answer) === "subscription_exists") {
    notice("You already have a plan: use “Switch” to change it.", { reveal: true });
  } else {
    notice(`Checkout could not start: ${errorText(answer)}`, { reveal: true });
  }
}

async function openPortal(key) {
  const answer = await api(() => billing.portal({ returnUrl: `${config.appOrigin}/?portal=returned` }, { idempotencyKey: key }));
  if (answer.ok) location.href = answer.data.url;
  else notice(errorCode(answer) === "no_customer" ? "No billing account yet: choose a plan first." : `The portal could not open: ${errorText(answer)}`);
}

// The answer of cancel / resume / change is the subscription as Entitle will see it in a moment: shown at
// once; the account follows GET /entitlements a second or two later.
function showSubscription(verb, sub) {
  // A cancel lists every plan and add-on it covered (`canceled`), a resume what it resumed (`resumed`).
  const covered = sub.canceled || sub.resumed;
  let what;
  if (covered?.length) {
    what = coveredText(covered, Boolean(sub.canceled));
  } else {
    what = `${planName(sub.plan)}, ${statusText(sub).toLowerCase()}`;
  }
  const scheduled = sub.scheduledChange ? `; switching to ${planName(sub.scheduledChange.plan)} on ${date(sub.scheduledChange.at)}` : "";
  const dropped = sub.droppedScheduledChange ? `; dropped the scheduled switch to ${planName(sub.droppedScheduledChange.plan)}` : "";
  notice(`${verb}: ${what}${scheduled}${dropped}.`, { reveal: true });
  // Until GET /entitlements catches up, the scheduled change is the one this answer gives (or none).
  state.scheduledAnswer = { change: sub.scheduledChange || null, until: Date.now() + FOLLOW_MS };
  renderScheduledChange();
}

// "Professional, Team pack × 1 (ends Jan 6, 2026)": the items of a cancel or resume, those ending together
// grouped under their date.
function coveredText(items, canceling) {
  const groups = new Map();
  for (const item of items) {
    const name = item.addon ? `${planName(item.plan)} × ${item.quantity}` : planName(item.plan);
    const when = !canceling ? "" : item.ended ? " (ended now)" : item.endsAt ? ` (ends ${date(item.endsAt)})` : "";
    if (!groups.has(when)) groups.set(when, []);
    groups.get(when).push(name);
  }
  return [...groups].map(([when, names]) => names.join(", ") + when).join("; ");
}

async function subscriptionAction(run, verb) {
  const answer = await api(run);
  if (answer.ok) showSubscription(verb, answer.data);
  else notice(`${verb} failed: ${errorText(answer)}`, { reveal: true });
  return answer;
}

// A plan change shows its price first (`preview: true` changes nothing) for the timing the user picks — now
// (prorated) or at the period end — then waits for the confirmation of that timing. Picking the other timing
// asks for its own preview. Each preview is its own request with its own key (one key with two bodies would be
// refused as idempotency_conflict).
async function previewChange(price, plan) {
  state.change = { price, plan, at: state.change?.price === price ? state.change.at : "now" };
  notice(""); // the last action's outcome is not this one's
  show("change-panel", true);
  $("change-title").textContent = `Switch to ${plan.name}`;
  $("change-when-now").checked = state.change.at === "now";
  $("change-when-period_end").checked = state.change.at === "period_end";
  await renderChangePreview();
  $("change-panel").scrollIntoView({ block: "nearest" });
}

async function renderChangePreview() {
  const change = state.change;
  const { price, plan, at } = change;
  const later = at === "period_end";
  $("change-preview").textContent = "";
  $("change-status").textContent = `Working out what switching to ${plan.name} ${later ? "at the period end" : "now"} costs…`;
  $("change-confirm").textContent = `Switch to ${plan.name} now`;
  $("change-at-period-end").textContent = `Switch to ${plan.name} at period end`;
  show("change-confirm", !later);
  show("change-at-period-end", later);
  $("change-confirm").disabled = $("change-at-period-end").disabled = true;
  const answer = await api(() => billing.previewChange(later ? { price, at: "period_end" } : { price }));
  if (state.change !== change) return; // another plan or timing was picked meanwhile
  if (!answer.ok) {
    $("change-status").textContent = `No preview: ${errorText(answer)}`;
    return;
  }
  $("change-status").textContent = "";
  $("change-confirm").disabled = $("change-at-period-end").disabled = false;
  const p = answer.data.preview;
  const next = `${money(p.nextInvoiceAmount ?? p.total, p.currency)} on ${date(p.nextInvoiceAt)}`;
  if (later) {
    const end = date(answer.data.subscription.periodEnd || p.nextInvoiceAt);
    const now = p.dueNow > 0 ? `${money(p.dueNow, p.currency)} is due now` : "Nothing is charged now";
    $("change-preview").textContent = `You keep ${planName(answer.data.subscription.plan)} until ${end}, then ` +
      `${planName(p.plan)} starts. ${now}; the next invoice is ${next}.`;
  } else {
    const lines = (p.lines || []).filter((l) => l.description)
      .map((l) => `${l.description}: ${money(l.amount, p.currency)}`).join("\n");
    const credited = p.prorationBehavior === "none" ? "" : " (the unused time of your plan is credited)";
    $("change-preview").textContent = `${planName(p.plan)} starts now: ${money(p.dueNow, p.currency)} due now` +
      `${credited}, then ${next}.` + (lines ? `\n${lines}` : "");
  }
}

async function confirmChange(at, key) {
  const { price } = state.change;
  const request = at ? { price, at } : { price };
  const answer = await subscriptionAction(() => billing.changePlan(request, { idempotencyKey: key }),
    at ? "Change scheduled" : "Plan changed");
  if (answer.ok) {
    show("change-panel", false);
    state.change = null;
    // The confirmation is at the top of the page: bring it (and, for a scheduled switch, the account's line
    // that says so) into view.
    if (at) $("scheduled-change").scrollIntoView({ block: "center" });
  }
}

// ------------------------------------------------------------------------------------------- the product

// Spending goes through the product's backend (scripts/demo_server.py), never straight to usage-api. The
// idempotency key makes a retried click count once. A refusal (limit reached, no credits) is a 4xx with a
// message to show.
async function useProduct(path, key) {
  const answer = await backend(path, { idempotencyKey: key });
  const message = $("usage-message");
  message.textContent = answer.ok ? answer.data.message : errorText(answer);
  message.classList.toggle("refused", !answer.ok);
  refresh();
}

async function advanceClock() {
  const answer = await backend("/api/clock/advance", { days: 31 });
  notice(answer.ok ? "The local Stripe's clock moved 31 days: subscriptions renew and their invoices are charged."
    : `The clock did not move: ${errorText(answer)}`);
  refresh();
}

// ------------------------------------------------------------------------------------------- the account

let refreshing = null;
// `wait`: after a switch, wait for a read in flight (it was for the old token) and read again.
async function refresh({ wait = false } = {}) {
  if (!state.token) return;
  if (refreshing) {
    if (!wait) return;
    await refreshing.catch(() => {});
    return refresh({ wait });
  }
  const token = state.token;
  refreshing = (async () => {
    // The two reads the page needs, in parallel: what the user (or organization) may do, and how much is used.
    const [entitlements, usage] = await Promise.all([api(() => billing.entitlements()), api(() => billing.usage())]);
    if (state.token !== token) return; // switched meanwhile: these were the other subject's
    if (entitlements.ok) state.entitlements = entitlements.data;
    if (usage.ok) state.usage = usage.data;
    render();
    // The timeline follows the entitlements: read again when what GET /entitlements says was written moves
    // (each version is appended in the same write as the entitlements, so it is there by then).
    const written = state.entitlements?.updatedAt ?? null;
    if (entitlements.ok && written !== state.historyFor) await loadHistory(token, written);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

// GET /entitlements/history: oldest first, at most 500 a read (`truncated`: ask again from the last one's
// appliedAt, which is included again).
async function loadHistory(token, written) {
  const versions = new Map();
  let from = null;
  for (let page = 0; page < 20; page++) {
    const answer = await api(() => billing.history(from ? { from } : undefined));
    if (state.token !== token) return;
    if (!answer.ok) {
      state.historyError = `The history could not be loaded: ${errorText(answer)}`;
      renderHistory();
      return; // read again on the next refresh (historyFor is left as it was)
    }
    for (const v of answer.data.versions) versions.set(v.version, v);
    if (!answer.data.truncated || !answer.data.versions.length) break;
    from = answer.data.versions.at(-1).appliedAt;
  }
  state.history = [...versions.values()].sort((a, b) => a.version - b.version);
  state.historyFor = written;
  state.historyError = null;
  renderHistory();
}

function render() {
  const signedIn = Boolean(state.token);
  show("sign-in", !signedIn);
  show("sign-out", signedIn);
  show("account", signedIn);
  const e = state.entitlements;
  if (signedIn && e) {
    $("account-plan").textContent = planName(e.plan);
    $("account-status").textContent = statusText(e);
    $("account-status").dataset.status = e.status;
    $("period-end-label").textContent = e.status === "canceling" ? "Ends on" : e.status === "free" ? "Current period ends" : "Renews on";
    $("period-end").textContent = date(e.periodEnd);
    show("period-end-label", Boolean(e.periodEnd));
    show("period-end", Boolean(e.periodEnd));
    $("credits").textContent = `${count(e.credits ?? 0)} credits`;
    // The grace period: the payment failed, the plan is kept until graceUntil while Stripe retries the card.
    const grace = e.status === "past_due" || Boolean(e.graceUntil);
    $("grace-banner").textContent = grace
      ? `Your last payment failed. You keep ${planName(e.plan)} until ${date(e.graceUntil)}: update your card in the billing portal.`
      : "";
    show("grace-banner", grace);
    // Cancel stops the plan and its add-ons (or, on the free plan, the add-ons); resume undoes either.
    const addons = e.addons || [];
    show("cancel", (["active", "trialing", "past_due"].includes(e.status) && Boolean(e.subscriptionId)) ||
      (e.status === "free" && addons.some((a) => !a.until)));
    show("resume", e.status === "canceling" || addons.some((a) => a.until));
  }
  // The billing portal is for a subscriber (or an add-on's): a free user has nothing to manage there.
  show("portal", signedIn && hasBilling());
  $("signed-in-as").textContent = whoText();
  show("signed-in-as", signedIn);
  renderOrganization();
  show("advance-clock", signedIn && config.clock);
  renderScheduledChange();
  renderAddons();
  renderUsage();
  renderPlanButtons();
  renderHistory();
  mountFeatures($("features"), { client: billing, catalog: state.catalog, entitlements: signedIn ? e : null });
}

// The plan change Stripe's schedule makes at the period end: GET /entitlements' scheduledChange (the
// processor keeps it from Stripe's schedule, so it is there after a reload), or, right after a cancel /
// resume / change, that answer's until the entitlements agree with it.
function renderScheduledChange() {
  const stored = (state.token && state.entitlements?.scheduledChange) || null;
  const answered = state.scheduledAnswer;
  let change = stored;
  if (answered && Date.now() < answered.until && !sameChange(answered.change, stored)) change = answered.change;
  else state.scheduledAnswer = null;
  // Which one is shown ("answer" until the entitlements agree): the browser test waits for "entitlements".
  $("scheduled-change").dataset.source = state.scheduledAnswer ? "answer" : "entitlements";
  $("scheduled-change").textContent = change
    ? `Scheduled change: switching to ${planName(change.plan)} on ${date(change.at)} (the end of the current period)`
    : "";
  show("scheduled-empty", !change);
  $("scheduled-empty").textContent = state.entitlements?.status === "free" ? "None." : "None: your plan renews as it is.";
  show("scheduled-change", Boolean(change));
}

const sameChange = (a, b) => (!a && !b) || Boolean(a && b && a.plan === b.plan && Date.parse(a.at) === Date.parse(b.at));

// The add-ons held (GET /entitlements' addons): quantity, what they add (the catalog's limits × quantity,
// already inside the usage bars' limits), and "until" when their subscription ends at the period end.
function renderAddons() {
  const addons = (state.token && state.entitlements?.addons) || [];
  const list = $("addon-list");
  list.replaceChildren();
  for (const addon of addons) {
    const li = document.createElement("li");
    li.className = "addon";
    li.dataset.plan = addon.plan;
    li.dataset.subscription = addon.subscriptionId;
    const adds = addonGrants(addon);
    li.textContent = `${planName(addon.plan)} × ${addon.quantity}` + (adds ? `: ${adds}` : "") +
      (addon.until ? ` — until ${date(addon.until)}` : "");
    list.append(li);
  }
  show("addon-list", addons.length > 0);
  show("addons-empty", addons.length === 0);
}

// "+5 agents, +1,000 messages a day, Audit log" for one add-on of the catalog × its quantity, in the catalog's words.
function addonGrants(addon) {
  const plan = catalogPlan(addon.plan);
  if (!plan) return "";
  const limits = Object.entries(plan.limits || {}).map(([name, value]) =>
    value === "unlimited" ? describeLimit(name, value, words(), FORMAT) : `+${describeLimit(name, value * addon.quantity, words(), FORMAT)}`);
  return [...limits, ...(plan.features || []).map(feature)].join(", ");
}

function renderUsage() {
  const bars = $("usage-bars");
  bars.replaceChildren();
  // A limit of 0 with nothing used is one the plan does not have (seats on a personal account): not shown.
  for (const item of (state.usage?.usage || []).filter((i) => !(i.limit === 0 && !i.used && !i.held))) {
    const row = document.createElement("div");
    row.className = "usage";
    row.id = `usage-${item.feature}`;
    const label = document.createElement("label");
    const name = document.createElement("span");
    name.textContent = limitName(item.feature);
    const numbers = document.createElement("span");
    const bar = document.createElement("progress");
    if (item.kind === "credits") {
      numbers.textContent = `${count(item.remaining)} left, ${count(item.used)} spent`;
      bar.max = Math.max(item.remaining + item.used, 1);
      bar.value = item.remaining;
    } else if (item.limit === "unlimited") {
      numbers.textContent = `${count(item.used)} used, no limit`;
      bar.max = 1;
      bar.value = 0;
    } else {
      const resets = item.resetsAt ? `, resets ${new Date(item.resetsAt).toLocaleString("en-US", { dateStyle: "medium", timeStyle: "short" })}` : "";
      // A per-member cap inside an organization's pool: the caller's own share (GET /usage's `member`).
      const member = item.member ? `; you: ${count(item.member.used)} of ${count(item.member.limit)}` : "";
      numbers.textContent = `${count(item.used)} of ${count(item.limit ?? 0)}${member}${resets}`;
      bar.max = Math.max(item.limit || 0, 1);
      bar.value = Math.min(item.used + (item.held || 0), bar.max);
    }
    label.append(name, numbers);
    row.append(label, bar);
    bars.append(row);
  }
}

// ------------------------------------------------------------------------------------------- the history

// The timeline, newest first: when, what happened (the version's reasons in words), what changed (its limits and
// features), and the event that caused it.
function renderHistory() {
  const list = $("history-list");
  const versions = (state.token && state.history) || null;
  list.replaceChildren();
  if (!versions) {
    const error = state.token ? state.historyError : null;
    $("history-empty").textContent = error || "";
    show("history-list", false);
    show("history-empty", Boolean(error));
    return;
  }
  versions.forEach((v, i) => {
    const li = document.createElement("li");
    li.className = "history-entry";
    li.dataset.version = v.version;
    li.dataset.reasons = v.provenance.reasons.join(" ");
    const when = document.createElement("time");
    when.className = "when";
    when.dateTime = v.appliedAt;
    when.textContent = dateTime(v.appliedAt);
    const what = document.createElement("p");
    what.className = "what";
    what.textContent = happened(v, versions[i - 1]?.entitlements);
    li.append(when, what);
    const changed = changedText(v);
    if (changed) {
      const p = document.createElement("p");
      p.className = "changes";
      p.textContent = changed;
      li.append(p);
    }
    const cause = document.createElement("p");
    cause.className = "cause";
    const c = v.provenance.cause;
    cause.textContent = c ? `${c.type} · Stripe event ${c.eventId}` : "no event: the hourly sweep of lapsed grants, or a reconcile";
    li.append(cause);
    list.prepend(li); // newest first
  });
  $("history-empty").textContent = "No changes yet";
  show("history-list", versions.length > 0);
  show("history-empty", versions.length === 0);
}

const dateTime = (iso) => new Date(iso).toLocaleString("en-US", { dateStyle: "medium", timeStyle: "short" });
const defaultPlan = () => state.catalog?.plans.find((p) => p.default) || null;
const changeOf = (v, field) => v.provenance.changes.find((c) => c.field === field);
const held = (addons) => new Map((addons || []).map((a) => [a.plan, a]));
const addonText = (plan, quantity) => `${planName(plan)} × ${quantity}`;

// What happened, in words: one sentence per reason tag, and what the tags do not say (a switch scheduled for the
// period end or dropped, an add-on ending on its own, a renewal). `before`: the version listed before this one.
function happened(v, before) {
  const e = v.entitlements;
  const reasons = v.provenance.reasons;
  const was = before || null;
  const plan = changeOf(v, "plan");
  const status = changeOf(v, "status");
  const addons = changeOf(v, "addons");
  const [addonsBefore, addonsAfter] = [held(addons ? addons.from : e.addons), held(e.addons)];
  const toFree = e.status === "free";
  const sentences = [];
  for (const reason of reasons) {
    if (reason === "plan_changed") {
      const from = plan?.from ?? null;
      if (toFree) sentences.push(`${planName(from)} ended — back on ${planName(e.plan)}`);
      else if (!from || status?.from === "free" || status?.from === null) sentences.push(`Subscribed to ${planName(e.plan)}`);
      else sentences.push(`Switched from ${planName(from)} to ${planName(e.plan)}`);
    } else if (reason === "addon_added" || reason === "addon_removed") {
      const adding = reason === "addon_added";
      for (const id of new Set([...addonsBefore.keys(), ...addonsAfter.keys()])) {
        const [q0, q1] = [addonsBefore.get(id)?.quantity || 0, addonsAfter.get(id)?.quantity || 0];
        if (adding && q1 > q0) sentences.push(q0 ? `Add-on increased: ${planName(id)} × ${q0} → ${q1}` : `Add-on added: ${addonText(id, q1)}`);
        if (!adding && q1 < q0) sentences.push(q1 ? `Add-on reduced: ${planName(id)} × ${q0} → ${q1}` : `Add-on removed: ${addonText(id, q0)}`);
      }
    } else if (reason === "payment_failed") {
      const until = e.graceUntil || v.provenance.grace?.until;
      sentences.push(`Payment failed — grace until ${date(until)} (${planName(e.plan)} kept meanwhile)`);
    } else if (reason === "grace_started") {
      if (!reasons.includes("payment_failed")) sentences.push(`Grace period started — until ${date(e.graceUntil || v.provenance.grace?.until)}`);
    } else if (reason === "grace_ended") {
      sentences.push(toFree ? "Grace period ran out unpaid" : "Payment succeeded — grace period over");
    } else if (reason === "trial_started") {
      sentences.push(`Trial of ${planName(e.plan)} started — until ${date(e.trialEnd)}`);
    } else if (reason === "trial_ended") {
      sentences.push(`Trial ended`);
    } else if (reason === "canceled") {
      if (toFree) {
        if (!reasons.includes("plan_changed")) sentences.push(`Subscription ended — back on ${planName(e.plan)}`);
      } else {
        const ending = [`${planName(e.plan)} ends ${date(e.periodEnd)}`,
          ...[...addonsAfter.values()].filter((a) => a.until).map((a) => `${addonText(a.plan, a.quantity)} ends ${date(a.until)}`)];
        sentences.push(`Canceled at period end: ${ending.join(", ")}`);
      }
    } else if (reason === "resumed") {
      const resumed = [planName(e.plan), ...[...addonsAfter.values()]
        .filter((a) => !a.until && addonsBefore.get(a.plan)?.until).map((a) => addonText(a.plan, a.quantity))];
      sentences.push(`Resumed ${resumed.join(" and ")}`);
    } else if (reason === "seats_changed") {
      sentences.push("Seats changed");
    } else if (reason === "catalog_changed") {
      sentences.push("The catalog changed (a deploy moved the numbers)");
    } else {
      sentences.push(reason.replaceAll("_", " "));
    }
  }
  // Add-ons canceled or resumed on their own (the plan's cancel and resume already named them).
  if (!reasons.includes("canceled") && !reasons.includes("resumed")) {
    for (const a of addonsAfter.values()) {
      const prior = addonsBefore.get(a.plan);
      if (a.until && !prior?.until && prior) sentences.push(`Add-on canceled: ${addonText(a.plan, a.quantity)} ends ${date(a.until)}`);
      if (!a.until && prior?.until) sentences.push(`Add-on resumed: ${addonText(a.plan, a.quantity)}`);
    }
  }
  // The switch Stripe's schedule makes at the period end (GET /entitlements' scheduledChange): made or dropped.
  const [s0, s1] = [was?.scheduledChange || null, e.scheduledChange || null];
  if (s1 && !sameChange(s0, s1)) sentences.push(`Scheduled a switch to ${planName(s1.plan)} on ${date(s1.at)}`);
  else if (s0 && !s1 && !(reasons.includes("plan_changed") && e.plan === s0.plan)) {
    sentences.push(`Scheduled switch to ${planName(s0.plan)} dropped`);
  }
  const period = changeOf(v, "periodEnd");
  if (!sentences.length && period?.from && period?.to) sentences.push(`Renewed — the period now ends ${date(period.to)}`);
  if (!sentences.length) sentences.push(v.provenance.previousVersion ? "Entitlements updated" : `Started on ${planName(e.plan)}`);
  return sentences.join(". ");
}

// "Agents 3 → 13 · Messages a day 1,000 → 11,000 · + Audit log": the limits and features that moved (the
// first version moves from the default plan's).
function changedText(v) {
  const first = !v.provenance.previousVersion;
  const base = first ? defaultPlan() : null;
  const number = (value) => (value === null || value === undefined ? null : value === "unlimited" ? "unlimited" : count(value));
  const parts = [];
  for (const c of v.provenance.changes.filter((c) => c.field.startsWith("limits."))) {
    const name = c.field.slice("limits.".length);
    const from = number(c.from ?? base?.limits?.[name]);
    const to = number(c.to);
    if (from === to) continue;
    parts.push(to === null ? `${limitName(name)} ${from} → none` : from === null ? `${limitName(name)} ${to}` : `${limitName(name)} ${from} → ${to}`);
  }
  const features = changeOf(v, "features");
  if (features) {
    const [before, after] = [new Set(features.from ?? base?.features ?? []), new Set(features.to || [])];
    for (const f of after) if (!before.has(f)) parts.push(`+ ${feature(f)}`);
    for (const f of before) if (!after.has(f)) parts.push(`− ${feature(f)}`);
  }
  return parts.join(" · ");
}

// "Choose" without a plan; "Switch" with one (not on the current plan's card: use the portal for its other
// interval), for the interval the toggle picks. The current plan's card: a badge and a line that says so.
function renderPlanButtons() {
  if (!state.catalog) return;
  const live = state.token && hasLivePlan();
  for (const interval of ["month", "year"]) {
    $(`interval-${interval}`)?.setAttribute("aria-pressed", String(state.interval === interval));
  }
  for (const plan of state.catalog.plans.filter((p) => !p.addon)) {
    const current = Boolean(state.entitlements && state.token && state.entitlements.plan === plan.id);
    const card = document.querySelector(`.plan[data-plan="${plan.id}"]`);
    if (!card) continue;
    card.classList.toggle("current", current);
    card.querySelector(".badge").hidden = !current;
    const text = card.querySelector(".current-text");
    text.hidden = !current;
    text.textContent = current ? currentPlanText(plan) : "";
    const prices = plan.contactSales ? [] : plan.prices;
    const interval = prices.some((p) => p.interval === state.interval) ? state.interval : prices[0]?.interval;
    for (const price of prices) {
      const key = price.lookupKey || price.id;
      const picked = price.interval === interval;
      show(`subscribe-${key}`, picked && !live);
      show(`change-${key}`, picked && live && !current);
    }
  }
}

function currentPlanText(plan) {
  const e = state.entitlements;
  if (plan.default) return "You are on this plan.";
  if (e.status === "canceling") return `Your plan until ${date(e.periodEnd)}.`;
  return e.periodEnd ? `Your plan, renewing on ${date(e.periodEnd)}.` : "Your plan.";
}

// ------------------------------------------------------------------------------------------- start

function start() {
  // billing-api allows one origin (CORS, redirects, the token's azp): open the page there.
  if (config.appOrigin && location.origin !== config.appOrigin) {
    location.replace(config.appOrigin + location.pathname + location.search + location.hash);
    return;
  }
  state.token = takeTokenFromFragment();
  const query = new URLSearchParams(location.search);
  if (query.get("checkout") === "success") notice("Payment done. Your account shows it in a moment.");
  if (query.get("checkout") === "canceled") notice("Checkout canceled: nothing was charged.");
  if (query.get("portal")) notice("Back from the billing portal.");
  if (query.toString()) history.replaceState(null, "", location.pathname);

  $("generate-cost").textContent = config.generateCost;
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("org-select").addEventListener("change", async () => {
    const value = $("org-select").value;
    if (value === "__create") {
      show("org-create-form", true);
      $("org-name").focus();
      return;
    }
    show("org-create-form", false);
    $("org-select").disabled = true;
    try {
      await setActiveOrganization(value || null);
    } finally {
      $("org-select").disabled = false;
    }
  });
  $("org-create").addEventListener("click", () => action($("org-create"), createOrganization));
  $("org-create-cancel").addEventListener("click", () => {
    show("org-create-form", false);
    renderSwitcher();
  });
  for (const at of ["now", "period_end"]) {
    $(`change-when-${at}`).addEventListener("change", () => {
      if (!state.change || !$(`change-when-${at}`).checked) return;
      state.change = { ...state.change, at };
      renderChangePreview();
    });
  }
  for (const [id, work] of [
    ["portal", openPortal],
    // The add-ons' subscriptions are canceled with the plan (send `keepAddons: true` to keep them).
    ["cancel", (key) => subscriptionAction(() => billing.cancel({ atPeriodEnd: true }, { idempotencyKey: key }), "Canceled at period end")],
    ["resume", (key) => subscriptionAction(() => billing.resume({ idempotencyKey: key }), "Resumed")],
    ["change-confirm", (key) => confirmChange(undefined, key)],
    ["change-at-period-end", (key) => confirmChange("period_end", key)],
    ["change-dismiss", async () => { show("change-panel", false); state.change = null; }],
    ["send-message", (key) => useProduct("/api/send-message", key)],
    ["generate", (key) => useProduct("/api/generate", key)],
    ["advance-clock", () => advanceClock()],
  ]) {
    $(id).addEventListener("click", () => action($(id), work)); // work(idempotency key)
  }

  render();
  loadPlans();
  loadClerk();
  refresh();
  setInterval(refresh, POLL_MS); // refresh() does nothing while signed out
}

start();
