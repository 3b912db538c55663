// billing-api from the signed-in user's browser (docs/api.md): the Clerk session token, asked for right before each
// call, as a Bearer header. With an active organization in the session, billing-api acts for the organization.
import { Transport, instant, type TransportOptions } from "./http.js";
import type {
  CancelRequest,
  ChangePreview,
  ChangeRequest,
  Checkout,
  CheckoutRequest,
  Entitlements,
  History,
  Plans,
  Portal,
  PortalRequest,
  SubscriptionChange,
  SubscriptionState,
  Timestamp,
  UsageList,
} from "./types.js";

/** Returns the Clerk session token (`useAuth().getToken`, `Clerk.session.getToken`), or null when signed out. */
export type TokenGetter = () => Promise<string | null | undefined> | string | null | undefined;

export interface BillingClientOptions extends TransportOptions {
  /** Needed by every route but `plans()`. A call without a token throws `Unauthorized` (`no_session`) unsent. */
  getToken?: TokenGetter;
}

/** Options of every POST. */
export interface PostOptions {
  /**
   * The `Idempotency-Key` of this user action: one per click, the same on every retry of it (docs/api.md,
   * "Idempotency"). Default: a new one per call, kept across this call's own retries.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface GetOptions {
  signal?: AbortSignal;
}

/** `POST /subscription/change` without `preview`. */
export type ChangeOptions = Omit<ChangeRequest, "preview">;

export interface BillingClient {
  /** `GET /plans`: the catalog (public). Sends the last `ETag`; a `304` answers the copy kept. */
  plans(options?: GetOptions): Promise<Plans>;
  /** `GET /entitlements`: the subject's entitlements; `credits` is the live balance. */
  entitlements(options?: GetOptions): Promise<Entitlements>;
  /** `GET /usage`: every metered, allocated and credits limit. */
  usage(options?: GetOptions): Promise<UsageList>;
  /** `GET /entitlements/history`: the entitlement versions, oldest first, with their provenance. */
  history(range?: { from?: Date | Timestamp; to?: Date | Timestamp }, options?: GetOptions): Promise<History>;
  /** `POST /checkout`: a Checkout session for a plan price, add-on or credit pack; send the browser to `url`. */
  checkout(request: CheckoutRequest, options?: PostOptions): Promise<Checkout>;
  /** `POST /portal`: a billing portal session; send the browser to `url`. */
  portal(request: PortalRequest, options?: PostOptions): Promise<Portal>;
  /** `POST /subscription/cancel`: at the period end by default. */
  cancel(request?: CancelRequest, options?: PostOptions): Promise<SubscriptionState>;
  /** `POST /subscription/resume`: undo a cancel at the period end. */
  resume(options?: PostOptions): Promise<SubscriptionState>;
  /** `POST /subscription/change` with `preview: true`: what Stripe would charge; changes nothing. */
  previewChange(request: ChangeOptions, options?: PostOptions): Promise<ChangePreview>;
  /** `POST /subscription/change`: switch the plan now (prorated) or `at: "period_end"`. */
  changePlan(request: ChangeOptions, options?: PostOptions): Promise<SubscriptionState>;
}

export function createBillingClient(options: BillingClientOptions): BillingClient {
  const getToken = options.getToken;
  const authed = new Transport(options, async () => {
    const token = getToken ? await getToken() : null;
    return token ? `Bearer ${token}` : null;
  });
  const open = new Transport(options);
  let plansCache: { etag: string; plans: Plans } | undefined;

  const get = async <T>(path: string, query: Record<string, string | undefined> | undefined, o?: GetOptions) =>
    (await authed.send<T>({ method: "GET", path, query, retry: true, signal: o?.signal })).body;

  // Every POST carries an Idempotency-Key, so a retry (same key, same body) is answered, never run, twice.
  const post = async <T>(path: string, body: unknown, o?: PostOptions) =>
    (
      await authed.send<T>({
        method: "POST",
        path,
        body,
        headers: { "idempotency-key": o?.idempotencyKey ?? newIdempotencyKey() },
        retry: true,
        signal: o?.signal,
      })
    ).body;

  return {
    async plans(o) {
      const headers: Record<string, string> = plansCache ? { "if-none-match": plansCache.etag } : {};
      const answer = await open.send<Plans>({ method: "GET", path: "/plans", headers, retry: true, signal: o?.signal });
      if (answer.status === 304 && plansCache) return plansCache.plans;
      const etag = answer.headers.get("etag");
      plansCache = etag ? { etag, plans: answer.body } : undefined;
      return answer.body;
    },
    entitlements: (o) => get<Entitlements>("/entitlements", undefined, o),
    usage: (o) => get<UsageList>("/usage", undefined, o),
    history: (range, o) =>
      get<History>(
        "/entitlements/history",
        {
          from: range?.from === undefined ? undefined : instant(range.from),
          to: range?.to === undefined ? undefined : instant(range.to),
        },
        o,
      ),
    checkout: (request, o) => post<Checkout>("/checkout", request, o),
    portal: (request, o) => post<Portal>("/portal", request, o),
    cancel: (request, o) => post<SubscriptionState>("/subscription/cancel", request ?? {}, o),
    resume: (o) => post<SubscriptionState>("/subscription/resume", {}, o),
    async previewChange(request, o) {
      const answer = await post<SubscriptionChange>("/subscription/change", { ...request, preview: true }, o);
      if (!("preview" in answer)) throw new TypeError("POST /subscription/change answered no preview");
      return answer;
    },
    async changePlan(request, o) {
      const { preview: _, ...body } = request as ChangeRequest;
      const answer = await post<SubscriptionChange>("/subscription/change", body, o);
      if ("preview" in answer) throw new TypeError("POST /subscription/change answered a preview");
      return answer;
    },
  };
}

/** A new idempotency key (a UUID; `crypto.randomUUID` where there is one). */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(Math.random() * 4)]}${hex(3)}-${hex(12)}`;
}
