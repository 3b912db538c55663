// React bindings: a provider holding one billing-api client, hooks over its reads, and unstyled components with
// class names (`entitle-…`; @entitle/client/styles.css is one small optional stylesheet). React is a peer
// dependency (18 or later); nothing here needs anything else.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { createBillingClient, newIdempotencyKey, type BillingClient, type TokenGetter } from "./billing.js";
import { EntitleError } from "./errors.js";
import {
  describeLimit,
  describeStatus,
  featureDescription,
  featureName,
  formatAmount,
  formatDate,
  formatLimit,
  limitName,
  type FormatOptions,
  type WordSources,
} from "./format.js";
import { mirrorFromClaims, type BillingMirror } from "./mirror.js";
import type {
  CatalogPrice,
  ChangePreview,
  Entitlements,
  Plan,
  Plans,
  StoppedItem,
  SubscriptionState,
  UsageItem,
  UsageList,
} from "./types.js";

export { mirrorFromClaims, describeStatus, formatAmount, formatDate, formatLimit };
export type { BillingMirror, FormatOptions };

// ------------------------------------------------------------------------------------------------ the store

interface Data {
  entitlements: Entitlements;
  usage: UsageList;
  plans: Plans;
}
type Key = keyof Data;

export interface Resource<T> {
  data?: T;
  error?: Error;
  /** A request is on its way (the first, or a refresh). */
  loading: boolean;
  /** Which request answered `data`: requests are numbered per read, in the order they were sent. */
  request?: number;
}

/** One provider's reads, shared by every hook and component under it; each read is fetched once, then refreshed. */
class Store {
  private states: { [K in Key]: Resource<Data[K]> };
  private sequence: Record<Key, number> = { entitlements: 0, usage: 0, plans: 0 };
  private listeners = new Set<() => void>();
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly client: BillingClient,
    initial: Partial<Data>,
  ) {
    this.states = {
      entitlements: { data: initial.entitlements, loading: false },
      usage: { data: initial.usage, loading: false },
      plans: { data: initial.plans, loading: false },
    };
  }

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  get<K extends Key>(key: K): Resource<Data[K]> {
    return this.states[key];
  }

  /** The number of the last request of `key` sent so far. */
  sent(key: Key): number {
    return this.sequence[key];
  }

  /** Fetch `key` unless it is loaded or loading; `force`: fetch again (the latest request's answer wins). */
  async load<K extends Key>(key: K, force = false): Promise<void> {
    const state = this.states[key];
    if (!force && (state.data !== undefined || state.loading || state.error !== undefined)) return;
    const n = ++this.sequence[key];
    this.set(key, { ...this.states[key], loading: true });
    try {
      const data = (await this.fetch(key)) as Data[K];
      if (n === this.sequence[key]) this.set(key, { data, loading: false, request: n });
    } catch (e) {
      if (n === this.sequence[key]) {
        const { data, request } = this.states[key];
        this.set(key, { data, request, error: e instanceof Error ? e : new Error(String(e)), loading: false });
      }
    }
  }

  /** After a billing change: read again now, and again while Stripe's events reach the entitlements (1–3 s). */
  refreshSoon(keys: Key[] = ["entitlements", "usage"], delays: number[] = [2000, 5000]) {
    for (const key of keys) void this.load(key, true);
    for (const ms of delays) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        for (const key of keys) void this.load(key, true);
      }, ms);
      (timer as { unref?: () => void }).unref?.();
      this.timers.add(timer);
    }
  }

  dispose() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private fetch(key: Key): Promise<Data[Key]> {
    switch (key) {
      case "entitlements":
        return this.client.entitlements();
      case "usage":
        return this.client.usage();
      case "plans":
        return this.client.plans();
    }
  }

  private set<K extends Key>(key: K, state: Resource<Data[K]>) {
    this.states = { ...this.states, [key]: state };
    for (const listener of this.listeners) listener();
  }
}

// --------------------------------------------------------------------------------------------- the provider

interface EntitleContextValue {
  client: BillingClient;
  store: Store;
  /** The session claims' mirror of the entitlements, when there is one to trust. */
  mirror: BillingMirror | null;
  /** Whether there is a session (a token getter) at all: signed-out pages read only `GET /plans`. */
  signedIn: boolean;
  /** `organization` when the session has an active organization, `user` when signed in without one. */
  subjectKind: "user" | "organization" | null;
  format: FormatOptions;
}

const EntitleContext = createContext<EntitleContextValue | null>(null);

export interface EntitleProviderProps extends FormatOptions {
  /** billing-api's base URL (with `client`, not needed). */
  baseUrl?: string;
  /** The Clerk session token getter: `useAuth().getToken`. Leave it out on signed-out pages. */
  getToken?: TokenGetter;
  /**
   * The session token's claims (`useAuth().sessionClaims`): the mirror in them (`billing`, or `orgClaim` for an
   * active organization) answers `<PlanGate>` with no request; they also tell whose billing the session acts for.
   */
  claims?: unknown;
  /** The claim of the user's mirror. Default `billing`. */
  claim?: string;
  /** The claim of the active organization's mirror, if your session token template adds one. */
  orgClaim?: string;
  /** A client of your own (options, `fetch`); else one is made from `baseUrl` and `getToken`. */
  client?: BillingClient;
  /** Answers already at hand (rendered on a server, say): not fetched again until refreshed. */
  initial?: Partial<Data>;
  children?: ReactNode;
}

export function EntitleProvider(props: EntitleProviderProps) {
  const { baseUrl, client: given, claims, claim, orgClaim, locale, timeZone, initial, children } = props;
  // The latest getter, without making a new client each render.
  const tokenRef = useRef(props.getToken);
  tokenRef.current = props.getToken;
  const signedIn = props.getToken !== undefined || given !== undefined;

  const client = useMemo(() => {
    if (given) return given;
    if (!baseUrl) throw new TypeError("EntitleProvider needs baseUrl (or client)");
    return createBillingClient({ baseUrl, getToken: () => (tokenRef.current ? tokenRef.current() : null) });
  }, [given, baseUrl]);

  const orgId = activeOrganization(claims);
  const sub = claimString(claims, "sub");
  const subjectKey = orgId ?? sub ?? "";
  // Another subject (an organization switched to, another user): nothing read for the last one is shown.
  // `initial` is read once per subject.
  const store = useMemo(() => new Store(client, initial ?? {}), [client, subjectKey]);
  useEffect(() => () => store.dispose(), [store]);

  const mirror = useMemo(() => mirrorFromClaims(claims, { claim, orgClaim }), [claims, claim, orgClaim]);
  const value = useMemo<EntitleContextValue>(
    () => ({
      client,
      store,
      mirror,
      signedIn,
      subjectKind: orgId ? "organization" : signedIn && claims ? "user" : null,
      format: { locale, timeZone },
    }),
    [client, store, mirror, signedIn, orgId, claims, locale, timeZone],
  );
  return <EntitleContext.Provider value={value}>{children}</EntitleContext.Provider>;
}

function activeOrganization(claims: unknown): string | null {
  if (typeof claims !== "object" || claims === null) return null;
  const c = claims as { o?: { id?: unknown }; org_id?: unknown };
  if (typeof c.o?.id === "string") return c.o.id;
  return typeof c.org_id === "string" ? c.org_id : null;
}

function claimString(claims: unknown, name: string): string | null {
  if (typeof claims !== "object" || claims === null) return null;
  const v = (claims as Record<string, unknown>)[name];
  return typeof v === "string" ? v : null;
}

/** The provider's client, mirror and formatting; throws outside `<EntitleProvider>`. */
export function useEntitle(): EntitleContextValue & { refresh: (keys?: Key[]) => void } {
  const ctx = useContext(EntitleContext);
  if (!ctx) throw new Error("useEntitle and the Entitle components need an <EntitleProvider> above them");
  const { store } = ctx;
  const refresh = useCallback((keys?: Key[]) => store.refreshSoon(keys), [store]);
  return { ...ctx, refresh };
}

export interface ResourceResult<T> extends Resource<T> {
  /** Fetch again. */
  refresh: () => Promise<void>;
}

function useResource<K extends Key>(key: K, enabled: boolean): ResourceResult<Data[K]> {
  const { store } = useEntitle();
  const state = useSyncExternalStore(
    store.subscribe,
    () => store.get(key),
    () => store.get(key),
  );
  useEffect(() => {
    if (enabled) void store.load(key);
  }, [store, key, enabled]);
  const refresh = useCallback(() => store.load(key, true), [store, key]);
  const pending = enabled && state.data === undefined && state.error === undefined;
  return { ...state, loading: state.loading || pending, refresh };
}

export interface HookOptions {
  /** false: do not fetch (yet). Default true. */
  enabled?: boolean;
}

/** `GET /entitlements` of the subject the session acts for (the user, or the active organization). */
export function useEntitlements(options: HookOptions = {}): ResourceResult<Entitlements> {
  return useResource("entitlements", options.enabled ?? true);
}

/** `GET /usage`: every limit with what is used, held and left. */
export function useUsage(options: HookOptions = {}): ResourceResult<UsageList> {
  return useResource("usage", options.enabled ?? true);
}

/** `GET /plans`: the catalog (public; kept by `ETag`). */
export function usePlans(options: HookOptions = {}): ResourceResult<Plans> {
  return useResource("plans", options.enabled ?? true);
}

// ------------------------------------------------------------------------------------------------- words

/** Words for the errors a person can meet here; others keep the API's message. */
export function errorText(error: unknown): string {
  if (!(error instanceof EntitleError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case "no_session":
    case "unauthorized":
      return "Your session has ended: sign in again.";
    case "billing_permission_required":
      return "Only the organization's billing managers can change its plan.";
    case "not_a_member":
      return "You are no longer a member of this organization.";
    case "no_customer":
      return "There is no billing account yet: choose a plan first.";
    case "no_subscription":
      return "There is no subscription to change.";
    case "subscription_exists":
      return "You already have a plan: switch plans instead.";
    case "subscription_ended":
      return "This subscription has ended: choose a plan to subscribe again.";
    case "contact_sales":
      return "This plan is sold by our sales team.";
    case "already_on_plan":
      return "You are already on this plan.";
    case "plan_change_unsupported":
      return "This plan cannot be switched here: contact support.";
    case "user_deleted":
      return "This account was deleted.";
  }
  if (error.status === 0 || error.status >= 500) {
    return error.status === 502
      ? "The payment provider refused this. Try again later or contact support."
      : "Billing is unavailable right now. Try again in a moment.";
  }
  return error.message;
}

/** `names` (a prop) first, else the catalog's words, else the id. */
const label = (names: Record<string, string> | undefined, id: string, from: WordSources = {}) =>
  names?.[id] ?? featureName(id, from);

function planName(plans: Plans | undefined, id: string | null | undefined): string {
  if (!id) return "";
  return plans?.plans.find((p) => p.id === id)?.name ?? id;
}

// ---------------------------------------------------------------------------------------------- PlanGate

export interface PlanGateProps {
  /** A feature of the plan (or an add-on), e.g. `sso`. */
  feature: string;
  children?: ReactNode;
  /** Rendered when the subject does not have it (an upgrade prompt, say). */
  fallback?: ReactNode;
  /** Rendered while the entitlements are read (only without a mirror in the claims). */
  loading?: ReactNode;
}

/**
 * Renders `children` when the subject has `feature`: from the session claims' mirror when there is one (no request),
 * else from `GET /entitlements`. A failed read renders `fallback`.
 */
export function PlanGate({ feature, children, fallback = null, loading = null }: PlanGateProps) {
  const { mirror } = useEntitle();
  const entitlements = useEntitlements({ enabled: mirror === null });
  const features = mirror?.features ?? entitlements.data?.features;
  if (!features) return <>{entitlements.error ? fallback : loading}</>;
  return <>{features.includes(feature) ? children : fallback}</>;
}

// ------------------------------------------------------------------------------------------- PricingTable

export type Interval = "month" | "year";

export interface PlanChoice {
  plan: Plan;
  price: CatalogPrice;
}

export interface PricingTableProps {
  /** The catalog; default `GET /plans`. */
  plans?: Plans;
  /** The plan to mark as the current one; default the subject's (claims' mirror, else `GET /entitlements`). */
  currentPlan?: string | null;
  /** Which plans to list: `user`, `organization`; default the session's subject, all when signed out. */
  for?: "user" | "organization" | "all";
  defaultInterval?: Interval;
  /** Where Checkout returns: default this page. */
  successUrl?: string;
  cancelUrl?: string;
  /** A contact-sales plan's button links here (`mailto:` or a form). */
  contactSalesUrl?: string;
  /** Display names of features (`{ api_access: "API access" }`); default the catalog's `[features]` words. */
  featureNames?: Record<string, string>;
  /**
   * Instead of the default (Checkout for a new subscriber, a previewed plan change for a subscriber): your own.
   */
  onSelect?: (choice: PlanChoice) => void | Promise<void>;
  /** Where to send the browser (Checkout's URL); default `window.location.assign`. */
  onRedirect?: (url: string) => void;
  className?: string;
}

function pricesOf(plan: Plan): CatalogPrice[] {
  return plan.prices.filter((p) => p.interval !== null);
}

function priceFor(plan: Plan, interval: Interval): CatalogPrice | undefined {
  const prices = pricesOf(plan);
  return prices.find((p) => p.interval === interval) ?? prices[0];
}

const priceKey = (price: CatalogPrice) => price.lookupKey ?? price.id ?? "";

function redirect(url: string) {
  (globalThis as { location?: { assign(url: string): void } }).location?.assign(url);
}

function here(): string {
  return (globalThis as { location?: { href: string } }).location?.href ?? "";
}

/** The plans of `GET /plans` side by side: a monthly / yearly toggle, the current plan marked, contact-sales plans. */
export function PricingTable(props: PricingTableProps) {
  const ctx = useEntitle();
  const { mirror, signedIn, format, subjectKind, client, store } = ctx;
  const fetched = usePlans({ enabled: props.plans === undefined });
  const plans = props.plans ?? fetched.data;
  const entitlements = useEntitlements({ enabled: signedIn && props.currentPlan === undefined && mirror === null });
  const current = props.currentPlan !== undefined ? props.currentPlan : (mirror?.plan ?? entitlements.data?.plan ?? null);
  const status = mirror?.status ?? entitlements.data?.status;
  const subscribed = status !== undefined && status !== "free";

  const [interval, setBillingInterval] = useState<Interval>(props.defaultInterval ?? "month");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [changing, setChanging] = useState<PlanChoice | null>(null);

  if (!plans) {
    if (fetched.error) return <p className="entitle-error" role="alert">{errorText(fetched.error)}</p>;
    return <p className="entitle-loading">Loading plans…</p>;
  }

  const audience = props.for ?? subjectKind ?? "all";
  const listed = plans.plans
    .filter((p) => !p.addon)
    .filter((p) => audience === "all" || p.for === "both" || p.for === audience)
    .sort((a, b) => a.rank - b.rank);
  const intervals = new Set(listed.flatMap((p) => pricesOf(p).map((price) => price.interval)));
  const toggle = intervals.has("month") && intervals.has("year");

  const select = async (choice: PlanChoice) => {
    setError(null);
    setNotice(null);
    if (props.onSelect) return props.onSelect(choice);
    if (subscribed) return setChanging(choice);
    setBusy(choice.plan.id);
    try {
      const { url } = await client.checkout({
        price: priceKey(choice.price),
        successUrl: props.successUrl ?? here(),
        cancelUrl: props.cancelUrl ?? here(),
      });
      (props.onRedirect ?? redirect)(url);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className={cx("entitle-pricing", props.className)}>
      {toggle && (
        <div className="entitle-interval" role="group" aria-label="Billing period">
          {(["month", "year"] as const).map((i) => (
            <button
              key={i}
              type="button"
              className={cx("entitle-interval__option", interval === i && "entitle-interval__option--selected")}
              aria-pressed={interval === i}
              onClick={() => setBillingInterval(i)}
            >
              {i === "month" ? "Monthly" : "Yearly"}
            </button>
          ))}
        </div>
      )}
      <ul className="entitle-plans">
        {listed.map((plan) => {
          const isCurrent = plan.id === current;
          const price = priceFor(plan, interval);
          return (
            <li
              key={plan.id}
              className={cx("entitle-plan", isCurrent && "entitle-plan--current", plan.contactSales && "entitle-plan--sales")}
              aria-current={isCurrent ? "true" : undefined}
              data-plan={plan.id}
            >
              <h3 className="entitle-plan__name">{plan.name}</h3>
              {isCurrent && <span className="entitle-plan__badge">Current plan</span>}
              <PlanPrice plan={plan} price={price} format={format} />
              {price?.trialDays ? <p className="entitle-plan__trial">{price.trialDays}-day free trial</p> : null}
              {plan.seats && <SeatsLine seats={plan.seats} interval={price?.interval ?? interval} format={format} />}
              <ul className="entitle-plan__features">
                {Object.entries(plan.limits).map(([name, value]) => (
                  <li key={`limit:${name}`} className="entitle-plan__limit">
                    {props.featureNames?.[name] ? `${props.featureNames[name]}: ${formatLimit(value, format)}` : describeLimit(name, value, { plans }, format)}
                  </li>
                ))}
                {plan.features.map((f) => (
                  <li key={f} className="entitle-plan__feature" title={featureDescription(f, { plans }) || undefined}>
                    {label(props.featureNames, f, { plans })}
                  </li>
                ))}
              </ul>
              <PlanAction
                plan={plan}
                price={price}
                isCurrent={isCurrent}
                subscribed={subscribed}
                busy={busy === plan.id}
                contactSalesUrl={props.contactSalesUrl}
                onSelect={select}
              />
            </li>
          );
        })}
      </ul>
      {changing && (
        <ChangeConfirm
          choice={changing}
          plans={plans}
          onDone={(text) => {
            setChanging(null);
            setNotice(text);
            store.refreshSoon();
          }}
          onClose={() => setChanging(null)}
        />
      )}
      {error && <p className="entitle-error" role="alert">{error}</p>}
      {notice && <p className="entitle-notice" role="status">{notice}</p>}
    </div>
  );
}

function PlanPrice({ plan, price, format }: { plan: Plan; price?: CatalogPrice; format: FormatOptions }) {
  if (price && price.amount !== null && price.currency) {
    return (
      <p className="entitle-plan__price">
        <span className="entitle-plan__amount">{formatAmount(price.amount, price.currency, format)}</span>
        {price.interval && <span className="entitle-plan__interval">/{price.interval}</span>}
      </p>
    );
  }
  const words = plan.contactSales ? "Custom pricing" : plan.default ? "Free" : "";
  return words ? <p className="entitle-plan__price">{words}</p> : null;
}

function SeatsLine({ seats, interval, format }: { seats: NonNullable<Plan["seats"]>; interval: string; format: FormatOptions }) {
  const extra = seats.prices.find((p) => p.interval === interval) ?? seats.prices[0];
  return (
    <p className="entitle-plan__seats">
      {seats.included} seats included
      {extra && extra.amount !== null && extra.currency
        ? `, then ${formatAmount(extra.amount, extra.currency, format)} per seat`
        : ""}
    </p>
  );
}

function PlanAction(props: {
  plan: Plan;
  price?: CatalogPrice;
  isCurrent: boolean;
  subscribed: boolean;
  busy: boolean;
  contactSalesUrl?: string;
  onSelect: (choice: PlanChoice) => void;
}) {
  const { plan, price, isCurrent } = props;
  if (isCurrent) {
    return (
      <button type="button" className="entitle-button" disabled>
        Current plan
      </button>
    );
  }
  if (plan.contactSales) {
    return props.contactSalesUrl ? (
      <a className="entitle-button entitle-button--sales" href={props.contactSalesUrl}>
        Contact sales
      </a>
    ) : (
      <span className="entitle-plan__sales">Contact sales</span>
    );
  }
  // The free plan is reached by canceling (the account panel), not bought.
  if (plan.default || !price) return null;
  return (
    <button
      type="button"
      className="entitle-button entitle-button--primary"
      disabled={props.busy}
      onClick={() => props.onSelect({ plan, price })}
    >
      {props.busy ? "Redirecting…" : props.subscribed ? `Switch to ${plan.name}` : `Choose ${plan.name}`}
    </button>
  );
}

/** A plan change, previewed for when it would happen (now or at the period end), then confirmed. */
function ChangeConfirm(props: { choice: PlanChoice; plans: Plans; onDone: (notice: string) => void; onClose: () => void }) {
  const { client, format } = useEntitle();
  const { plan, price } = props.choice;
  const [at, setAt] = useState<"now" | "period_end">("now");
  const [preview, setPreview] = useState<ChangePreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // One user intent, one key: a retry of the confirmation is answered, not run, twice.
  const key = useRef(newIdempotencyKey());

  useEffect(() => {
    let live = true;
    setPreview(null);
    setError(null);
    client.previewChange({ price: priceKey(price), at }).then(
      (p) => live && setPreview(p),
      (e) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [client, price, at]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const state = await client.changePlan({ price: priceKey(price), at }, { idempotencyKey: key.current });
      props.onDone(
        at === "period_end" && state.scheduledChange
          ? `${plan.name} starts on ${formatDate(state.scheduledChange.at, format)}.`
          : `You are now on ${planName(props.plans, state.plan) || plan.name}.`,
      );
    } catch (e) {
      setError(errorText(e));
      key.current = newIdempotencyKey();
    } finally {
      setBusy(false);
    }
  };

  const p = preview?.preview;
  return (
    <div className="entitle-change" role="dialog" aria-label={`Switch to ${plan.name}`}>
      <h3 className="entitle-change__title">Switch to {plan.name}</h3>
      <fieldset className="entitle-change__when">
        <label>
          <input type="radio" name="entitle-change-at" checked={at === "now"} onChange={() => setAt("now")} /> Now
        </label>
        <label>
          <input type="radio" name="entitle-change-at" checked={at === "period_end"} onChange={() => setAt("period_end")} />{" "}
          At the end of the period
        </label>
      </fieldset>
      {p ? (
        <p className="entitle-change__preview">
          {p.dueNow > 0 ? `Charged now: ${formatAmount(p.dueNow, p.currency, format)}. ` : "Nothing is charged now. "}
          {p.nextInvoiceAmount !== null && p.nextInvoiceAt
            ? `Next invoice: ${formatAmount(p.nextInvoiceAmount, p.currency, format)} on ${formatDate(p.nextInvoiceAt, format)}.`
            : ""}
        </p>
      ) : (
        !error && <p className="entitle-loading">Asking what it would cost…</p>
      )}
      {error && <p className="entitle-error" role="alert">{error}</p>}
      <div className="entitle-actions">
        <button type="button" className="entitle-button entitle-button--primary" disabled={!p || busy} onClick={confirm}>
          {at === "now" ? "Switch now" : "Switch at the period end"}
        </button>
        <button type="button" className="entitle-button" onClick={props.onClose}>
          Back
        </button>
      </div>
    </div>
  );
}

// ------------------------------------------------------------------------------------------- AccountPanel

export interface AccountPanelProps {
  /** Where the billing portal returns: default this page. */
  returnUrl?: string;
  /** Display names of limits; default the catalog's words (`GET /plans`, the entitlements' `words`). */
  featureNames?: Record<string, string>;
  /** Where to send the browser (the portal's URL); default `window.location.assign`. */
  onRedirect?: (url: string) => void;
  className?: string;
}

function stoppedText(items: StoppedItem[], plans?: Plans): string {
  return items.map((i) => `${planName(plans, i.plan)}${i.quantity > 1 ? ` × ${i.quantity}` : ""}`).join(", ");
}

/**
 * The subject's plan and status in words, the period end, a grace banner while a payment has failed, usage bars,
 * add-ons, a scheduled change, and cancel / resume / the billing portal.
 */
export function AccountPanel(props: AccountPanelProps) {
  const { client, format, store } = useEntitle();
  const entitlements = useEntitlements();
  const usage = useUsage();
  const plans = usePlans();
  // A route's answer is shown at once, until a read of the entitlements sent after it agrees (Stripe's events take
  // 1–3 s to reach them), or for 15 s at most.
  const [answer, setAnswer] = useState<{ state: SubscriptionState; after: number } | null>(null);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const e = entitlements.data;
  useEffect(() => {
    if (!answer) return;
    if (e && (entitlements.request ?? 0) > answer.after && e.status === answer.state.status) {
      setAnswer(null);
      return;
    }
    const timer = setTimeout(() => setAnswer(null), 15_000);
    return () => clearTimeout(timer);
  }, [e, entitlements.request, answer]);
  const shownAnswer = (state: SubscriptionState) => {
    setAnswer({ state, after: store.sent("entitlements") });
    store.refreshSoon();
  };

  if (!e) {
    if (entitlements.error) return <p className="entitle-error" role="alert">{errorText(entitlements.error)}</p>;
    return <p className="entitle-loading">Loading your plan…</p>;
  }

  const a = answer?.state;
  const shown = a
    ? { ...e, plan: a.plan ?? e.plan, status: a.status, periodEnd: a.periodEnd ?? e.periodEnd, scheduledChange: a.scheduledChange ?? undefined }
    : e;
  const catalog = plans.data;
  const name = planName(catalog, shown.plan);
  const live = shown.status !== "free";
  const hasBilling = Boolean(shown.subscriptionId) || (shown.addons?.length ?? 0) > 0;

  // One idempotency key per click: the client sends it again on its own retries of that click.
  const act = async (what: string, run: (key: string) => Promise<void>) => {
    setBusy(what);
    setError(null);
    setNotice(null);
    try {
      await run(newIdempotencyKey());
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(null);
    }
  };

  const cancel = () =>
    act("cancel", async (idempotencyKey) => {
      const state = await client.cancel({ atPeriodEnd: true }, { idempotencyKey });
      setConfirmCancel(false);
      const parts = [
        state.periodEnd ? `Canceled: it ends on ${formatDate(state.periodEnd, format)}.` : "Canceled.",
        state.canceled?.length ? `Ending: ${stoppedText(state.canceled, catalog)}.` : "",
        state.droppedScheduledChange
          ? `The switch to ${planName(catalog, state.droppedScheduledChange.plan) || "another plan"} is dropped.`
          : "",
      ];
      setNotice(parts.filter(Boolean).join(" "));
      shownAnswer(state);
    });
  const resume = () =>
    act("resume", async (idempotencyKey) => {
      const state = await client.resume({ idempotencyKey });
      setNotice(
        state.resumed?.length
          ? `Resumed: ${stoppedText(state.resumed, catalog)}${state.periodEnd ? `, renewing on ${formatDate(state.periodEnd, format)}` : ""}.`
          : "Nothing was ending.",
      );
      shownAnswer(state);
    });
  const portal = () =>
    act("portal", async (idempotencyKey) => {
      const { url } = await client.portal({ returnUrl: props.returnUrl ?? here() }, { idempotencyKey });
      (props.onRedirect ?? redirect)(url);
    });

  return (
    <section className={cx("entitle-account", props.className)} aria-label="Your plan">
      <header className="entitle-account__header">
        <h2 className="entitle-account__plan">{name}</h2>
        <span className={`entitle-status entitle-status--${shown.status}`}>{describeStatus(shown, format)}</span>
      </header>
      {(shown.status === "active" || shown.status === "past_due") && shown.periodEnd && (
        <p className="entitle-account__period">Renews on {formatDate(shown.periodEnd, format)}</p>
      )}
      {shown.status === "past_due" && (
        <div className="entitle-banner entitle-banner--grace" role="alert">
          Your last payment failed.{" "}
          {shown.graceUntil
            ? `${name} is kept until ${formatDate(shown.graceUntil, format)}: update your payment method to keep it.`
            : "Update your payment method to keep your plan."}{" "}
          <button type="button" className="entitle-button" disabled={busy !== null} onClick={portal}>
            Update payment method
          </button>
        </div>
      )}
      {shown.scheduledChange && (
        <p className="entitle-account__scheduled">
          Switches to {planName(catalog, shown.scheduledChange.plan) || "another plan"} on{" "}
          {formatDate(shown.scheduledChange.at, format)}.
        </p>
      )}
      {shown.addons && shown.addons.length > 0 && (
        <div className="entitle-account__addons">
          <h3>Add-ons</h3>
          <ul className="entitle-addons">
            {shown.addons.map((a) => (
              <li key={`${a.subscriptionId}:${a.plan}`} className="entitle-addon">
                {planName(catalog, a.plan)}
                {a.quantity > 1 ? ` × ${a.quantity}` : ""}
                {a.until ? ` (until ${formatDate(a.until, format)})` : ""}
              </li>
            ))}
          </ul>
        </div>
      )}
      {usage.data && usage.data.usage.some(shownUsage) && (
        <div className="entitle-account__usage">
          <h3>Usage</h3>
          <ul className="entitle-usage">
            {usage.data.usage.filter(shownUsage).map((item) => (
              <UsageBar
                key={item.feature}
                item={item}
                title={props.featureNames?.[item.feature] ?? limitName(item.feature, { plans: catalog, words: e.words })}
                format={format}
              />
            ))}
          </ul>
        </div>
      )}
      {usage.error && !usage.data && <p className="entitle-error">{errorText(usage.error)}</p>}
      <div className="entitle-actions">
        {live && shown.status !== "canceling" && !confirmCancel && (
          <button type="button" className="entitle-button" disabled={busy !== null} onClick={() => setConfirmCancel(true)}>
            Cancel plan
          </button>
        )}
        {confirmCancel && (
          <span className="entitle-confirm">
            {shown.periodEnd
              ? `Cancel ${name}? It stays until ${formatDate(shown.periodEnd, format)}.`
              : `Cancel ${name}?`}{" "}
            <button type="button" className="entitle-button entitle-button--danger" disabled={busy !== null} onClick={cancel}>
              {busy === "cancel" ? "Canceling…" : "Cancel plan"}
            </button>{" "}
            <button type="button" className="entitle-button" onClick={() => setConfirmCancel(false)}>
              Keep plan
            </button>
          </span>
        )}
        {shown.status === "canceling" && (
          <button type="button" className="entitle-button entitle-button--primary" disabled={busy !== null} onClick={resume}>
            {busy === "resume" ? "Resuming…" : "Resume plan"}
          </button>
        )}
        {hasBilling && (
          <button type="button" className="entitle-button" disabled={busy !== null} onClick={portal}>
            Manage billing
          </button>
        )}
      </div>
      {notice && <p className="entitle-notice" role="status">{notice}</p>}
      {error && <p className="entitle-error" role="alert">{error}</p>}
    </section>
  );
}

/** A limit of 0 with nothing used is one the plan does not have (`seats` of a personal account): not shown. */
function shownUsage(item: UsageItem): boolean {
  return !(item.limit === 0 && item.used === 0 && item.held === 0);
}

function UsageBar({ item, title, format }: { item: UsageItem; title: string; format: FormatOptions }) {
  if (item.kind === "credits") {
    return (
      <li className="entitle-usage__item entitle-usage__item--credits">
        <span className="entitle-usage__label">{title}</span>{" "}
        <span className="entitle-usage__value">{formatLimit(item.remaining, format)} left</span>
      </li>
    );
  }
  const limit = typeof item.limit === "number" ? item.limit : null;
  const used = item.used + item.held;
  const ratio = limit ? Math.min(1, used / limit) : 0;
  return (
    <li className={cx("entitle-usage__item", limit !== null && used >= limit && "entitle-usage__item--full")}>
      <span className="entitle-usage__label">{title}</span>{" "}
      <span className="entitle-usage__value">
        {limit === null
          ? `${formatLimit(item.used, format)} used (${formatLimit(item.limit ?? "unlimited", format).toLowerCase()})`
          : `${formatLimit(item.used, format)} of ${formatLimit(limit, format)}`}
        {item.held > 0 ? ` (${formatLimit(item.held, format)} held)` : ""}
        {item.resetsAt ? ` · resets ${formatDate(item.resetsAt, format)}` : ""}
      </span>
      {limit !== null && (
        <span
          className="entitle-meter"
          role="meter"
          aria-label={title}
          aria-valuemin={0}
          aria-valuemax={limit}
          aria-valuenow={Math.min(used, limit)}
        >
          <span className="entitle-meter__fill" style={{ width: `${Math.round(ratio * 100)}%` }} />
        </span>
      )}
    </li>
  );
}

function cx(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(" ");
}
