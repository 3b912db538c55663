// usage-api for the product's servers (docs/usage.md), with the server API key. Never bundle this entry point for a
// browser: the key would be in it (the client refuses to start where there is a `document`).
//
// Retries: everything here is safe to send again. `check` records nothing and the reads read; `consume` and `hold`
// carry their idempotency key in the body, so the same body again is answered by the first answer (72 h); a
// commit or release is recorded per hold and replayed the same. Only no answer, 429 and 5xx are retried.
import { refusal } from "./errors.js";
import { Transport, instant, type Query, type TransportOptions } from "./http.js";
import type {
  CreditsLedger,
  Decision,
  Entitlements,
  EntitlementsAt,
  Explanation,
  History,
  SubjectId,
  Timestamp,
  UsageList,
  UserId,
} from "./types.js";

export * from "./errors.js";
export { mirrorFromClaims, type BillingMirror, type MirrorOptions } from "./mirror.js";
export type * from "./types.js";
export type { TransportOptions } from "./http.js";

export interface UsageClientOptions extends TransportOptions {
  /** A key of `USAGE_API_KEYS` (`make dev` prints a local one). */
  apiKey: string;
  /** Start even where there is a `document` (a browser): only for tests that simulate one. */
  dangerouslyAllowBrowser?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

interface Subjected {
  /** The user (`user_…`) or organization (`org_…`) billed. */
  subject: SubjectId;
  /** With an organization's subject: the member acting (their per-member caps apply too). */
  memberId?: UserId;
}

export interface CheckRequest extends Subjected {
  feature: string;
  /** Default 1. */
  amount?: number;
}

export interface ConsumeRequest extends Subjected {
  feature: string;
  /** Negative for an allocated release or a credit refund; never 0. */
  amount: number;
  /**
   * Required: the id of the thing counted (message id, job id, `agent_9_create`), never a value made at retry time.
   * The same key with the same body answers the first answer and counts nothing; with another body it is
   * `IdempotencyConflict`.
   */
  idempotencyKey: string;
}

export interface HoldRequest extends ConsumeRequest {
  /** How long the hold counts if it is neither committed nor released: 1 to 3600. */
  seconds: number;
}

/** An allowed decision: what `consume` and `hold` return (a refusal is thrown). */
export type Allowed = Decision & { allowed: true };

export interface Hold {
  readonly usageId: string;
  /** The answer that made the hold. */
  readonly decision: Allowed;
  /** Committed or released (by these methods). */
  readonly settled: boolean;
  /** Record `amount` (at most what was held) and free the rest. */
  commit(amount: number, options?: CallOptions): Promise<Decision>;
  /** Free the hold entirely. */
  release(options?: CallOptions): Promise<Decision>;
}

export interface UsageClient {
  /** `POST /v1/check`: may the subject spend `amount` of `feature` now? Records nothing; a refusal is `allowed: false`. */
  check(request: CheckRequest, options?: CallOptions): Promise<Decision>;
  /**
   * `POST /v1/usage`: consume now. Throws a `Refused` error (`LimitExceeded`, `MemberLimitExceeded`,
   * `InsufficientCredits`, `NotInPlan`) when refused; nothing was recorded then.
   */
  consume(request: ConsumeRequest, options?: CallOptions): Promise<Allowed>;
  /** `POST /v1/usage` with `hold`: reserve `amount` for `seconds`. Refusals are thrown as by `consume`. */
  hold(request: HoldRequest, options?: CallOptions): Promise<Hold>;
  /** `POST /v1/usage/{usageId}/commit`. */
  commit(usageId: string, amount: number, options?: CallOptions): Promise<Decision>;
  /** `POST /v1/usage/{usageId}/release`. */
  release(usageId: string, options?: CallOptions): Promise<Decision>;
  /**
   * Hold, run `fn`, settle: if `fn` throws (or rejects) the hold is released and the error rethrown; if it returns
   * without settling, the whole amount held is committed. `fn` may `hold.commit(actual)` itself.
   */
  withHold<T>(request: HoldRequest, fn: (hold: Hold) => Promise<T> | T): Promise<T>;
  /** `GET /v1/usage`: every declared limit (with `memberId`, the member's part of each capped one). */
  usage(subject: SubjectId, options?: CallOptions & { memberId?: UserId }): Promise<UsageList>;
  /** `GET /v1/entitlements`: the entitlements that hold now; `credits` is the live balance. */
  entitlements(subject: SubjectId, options?: CallOptions): Promise<Entitlements>;
  /** `GET /v1/entitlements?at=`: the version in force at an instant, with its provenance (`explain` too if asked). */
  entitlementsAt(
    subject: SubjectId,
    at: Date | Timestamp,
    options?: CallOptions & { explain?: boolean },
  ): Promise<EntitlementsAt>;
  /** `GET /v1/entitlements?explain=true`: where each limit and feature comes from (now, or `at`). */
  explain(
    subject: SubjectId,
    options?: CallOptions & { at?: Date | Timestamp },
  ): Promise<EntitlementsAt & { explain: Explanation }>;
  /** `GET /v1/entitlements/history`: the versions between two instants, oldest first. */
  history(
    subject: SubjectId,
    range?: { from?: Date | Timestamp; to?: Date | Timestamp },
    options?: CallOptions,
  ): Promise<History>;
  /** `GET /v1/credits/ledger`: the balance and the newest movements (default 100, at most 1000). */
  creditsLedger(subject: SubjectId, options?: CallOptions & { limit?: number }): Promise<CreditsLedger>;
}

export function createUsageClient(options: UsageClientOptions): UsageClient {
  if (!options.apiKey) throw new TypeError("apiKey is required (a key of USAGE_API_KEYS)");
  if (!options.dangerouslyAllowBrowser && typeof (globalThis as { document?: unknown }).document !== "undefined") {
    throw new Error(
      "@entitle/client/server holds the usage-api key and must not run in a browser; " +
        "call it from your server, and use @entitle/client (billing-api) in the browser",
    );
  }
  const bearer = `Bearer ${options.apiKey}`;
  const transport = new Transport(options, async () => bearer);

  const get = async <T>(path: string, query: Query, o?: CallOptions) =>
    (await transport.send<T>({ method: "GET", path, query, retry: true, signal: o?.signal })).body;
  const post = async <T>(path: string, body: unknown, o?: CallOptions) =>
    (await transport.send<T>({ method: "POST", path, body, retry: true, signal: o?.signal })).body;
  const at = (t: Date | Timestamp | undefined) => (t === undefined ? undefined : instant(t));

  const decide = async (request: ConsumeRequest, hold: number | undefined, o?: CallOptions): Promise<Allowed> => {
    if (typeof request.idempotencyKey !== "string" || request.idempotencyKey.length === 0) {
      throw new TypeError("consume and hold need an idempotencyKey: the id of the thing counted");
    }
    const body: Record<string, unknown> = {
      subject: request.subject,
      feature: request.feature,
      amount: request.amount,
      idempotencyKey: request.idempotencyKey,
    };
    if (request.memberId !== undefined) body.memberId = request.memberId;
    if (hold !== undefined) body.hold = { seconds: hold };
    const decision = await post<Decision>("/v1/usage", body, o);
    if (!decision.allowed) throw refusal(decision, { method: "POST", path: "/v1/usage" });
    return decision as Allowed;
  };

  const settlePath = (usageId: string, action: "commit" | "release") =>
    `/v1/usage/${encodeURIComponent(usageId)}/${action}`;

  const client: UsageClient = {
    check(request, o) {
      const body: Record<string, unknown> = { subject: request.subject, feature: request.feature };
      if (request.amount !== undefined) body.amount = request.amount;
      if (request.memberId !== undefined) body.memberId = request.memberId;
      return post<Decision>("/v1/check", body, o);
    },
    consume: (request, o) => decide(request, undefined, o),
    async hold(request, o) {
      const decision = await decide(request, request.seconds, o);
      if (!decision.usageId) throw new TypeError("POST /v1/usage answered a hold without a usageId");
      const usageId = decision.usageId;
      let settled = false;
      return {
        usageId,
        decision,
        get settled() {
          return settled;
        },
        async commit(amount, co) {
          const answer = await client.commit(usageId, amount, co);
          settled = true;
          return answer;
        },
        async release(co) {
          const answer = await client.release(usageId, co);
          settled = true;
          return answer;
        },
      };
    },
    commit: (usageId, amount, o) => post<Decision>(settlePath(usageId, "commit"), { amount }, o),
    release: (usageId, o) => post<Decision>(settlePath(usageId, "release"), undefined, o),
    async withHold(request, fn) {
      const hold = await client.hold(request);
      let value: Awaited<ReturnType<typeof fn>>;
      try {
        value = await fn(hold);
      } catch (error) {
        if (!hold.settled) {
          // If the release itself fails, the hold still stops counting when it expires (`seconds`).
          await hold.release().catch(() => undefined);
        }
        throw error;
      }
      if (!hold.settled) await hold.commit(request.amount);
      return value;
    },
    usage: (subject, o) => get<UsageList>("/v1/usage", { subject, memberId: o?.memberId }, o),
    entitlements: (subject, o) => get<Entitlements>("/v1/entitlements", { subject }, o),
    entitlementsAt: (subject, t, o) =>
      get<EntitlementsAt>("/v1/entitlements", { subject, at: at(t), explain: o?.explain ? "true" : undefined }, o),
    explain: (subject, o) =>
      get<EntitlementsAt & { explain: Explanation }>(
        "/v1/entitlements",
        { subject, at: at(o?.at), explain: "true" },
        o,
      ),
    history: (subject, range, o) =>
      get<History>("/v1/entitlements/history", { subject, from: at(range?.from), to: at(range?.to) }, o),
    creditsLedger: (subject, o) => get<CreditsLedger>("/v1/credits/ledger", { subject, limit: o?.limit }, o),
  };
  return client;
}
