// One request over plain `fetch`, with the retries that are safe: the same request again (same body, same
// idempotency key) after no answer, a 429 or a 5xx of ours (502 only without our error body: Stripe's refusals are
// not retried), bounded, with exponential backoff and jitter, waiting at least what `Retry-After` asks.
import { Unavailable, errorFromResponse, hasErrorBody, type RequestInfo } from "./errors.js";

/** Options both clients take. */
export interface TransportOptions {
  /** The API's base URL, e.g. `https://abc.execute-api.us-east-1.amazonaws.com` (any stage or prefix). */
  baseUrl: string;
  /** A `fetch` to use instead of the global one (tests, instrumentation). */
  fetch?: typeof fetch;
  /** Retries after the first attempt, only where a retry is safe. Default 2; 0 turns them off. */
  retries?: number;
  /** The first backoff delay; each retry doubles it (with jitter). Default 250 ms. */
  retryDelayMs?: number;
  /** The longest wait before a retry. A `Retry-After` longer than this is not waited for: `Unavailable` at once. Default 10 s. */
  maxRetryDelayMs?: number;
  /** Abort an attempt after this long (then it counts as no answer). Default 15 s; 0 = never. */
  timeoutMs?: number;
  /** Extra headers on every request (tracing, say). */
  headers?: Record<string, string>;
  /** How to wait between retries; for tests. */
  sleep?: (ms: number) => Promise<void>;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface Call {
  method: "GET" | "POST";
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether the same request may be sent again. */
  retry: boolean;
  signal?: AbortSignal;
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export type Authorization = () => Promise<string | null>;

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class Transport {
  readonly baseUrl: string;
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    options: TransportOptions,
    private readonly authorization?: Authorization,
  ) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch: pass `fetch` (Node 18 or later has one)");
    // Called as a plain function, never as this object's method: a browser's fetch throws "Illegal invocation"
    // when `this` is anything but the window.
    this.fetch = (input, init) => f(input, init);
    this.retries = Math.max(0, Math.floor(options.retries ?? 2));
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.headers = options.headers ?? {};
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) params.append(name, String(value));
    }
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** The answer's body when it is 2xx (304 too: `body` null); else the typed error. */
  async send<T>(call: Call): Promise<Answer<T>> {
    const request: RequestInfo = { method: call.method, path: call.path };
    const url = this.url(call.path, call.query);
    const text = call.body === undefined ? undefined : JSON.stringify(call.body);
    for (let attempt = 0; ; attempt++) {
      const last = !call.retry || attempt >= this.retries;
      const headers: Record<string, string> = { accept: "application/json", ...this.headers, ...call.headers };
      if (text !== undefined) headers["content-type"] = "application/json";
      if (this.authorization) {
        // Asked before every attempt: a session token lives 60 s, the getter refreshes it.
        const value = await this.authorization();
        if (value === null) {
          throw errorFromResponse({ status: 401, code: "no_session", message: "not signed in: no session token", request });
        }
        headers.authorization = value;
      }

      let response: Response;
      try {
        response = await this.attempt(url, { method: call.method, headers, body: text }, call.signal);
      } catch (cause) {
        if (call.signal?.aborted) throw cause;
        if (last) {
          throw new Unavailable({
            status: 0,
            code: isTimeout(cause) ? "timeout" : "network",
            message: `${call.method} ${call.path}: no answer (${describe(cause)})`,
            request,
            cause,
          });
        }
        await this.sleep(this.backoff(attempt));
        continue;
      }

      const body = await readBody(response);
      if (response.ok || response.status === 304) {
        return { status: response.status, body: body as T, headers: response.headers };
      }
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      const error = errorFromResponse({
        status: response.status,
        code: hasErrorBody(body) ? body.error.code : `http_${response.status}`,
        message: hasErrorBody(body) ? body.error.message : `${call.method} ${call.path}: HTTP ${response.status}`,
        body,
        request,
        retryAfterMs,
      });
      const retryable =
        RETRY_STATUSES.has(response.status) && !(response.status === 502 && hasErrorBody(body));
      if (last || !retryable) throw error;
      const wait = Math.max(this.backoff(attempt), retryAfterMs ?? 0);
      if (wait > this.maxRetryDelayMs) throw error;
      await this.sleep(wait);
    }
  }

  private async attempt(url: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    signal?.throwIfAborted();
    if (!this.timeoutMs && !signal) return this.fetch(url, init);
    const controller = new AbortController();
    const abort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", abort, { once: true });
    const timer = this.timeoutMs
      ? setTimeout(() => controller.abort(new TimeoutError(this.timeoutMs)), this.timeoutMs)
      : undefined;
    try {
      return await this.fetch(url, { ...init, signal: controller.signal });
    } catch (e) {
      // fetch rejects with an AbortError; say it was the timeout.
      if (controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    }
  }

  /** Exponential backoff with full jitter in its upper half: [d/2, d], d = first × 2^attempt, capped. */
  private backoff(attempt: number): number {
    const d = Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** attempt);
    return Math.round(d / 2 + (Math.random() * d) / 2);
  }
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

function isTimeout(e: unknown): boolean {
  return e instanceof TimeoutError;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** An instant as the API reads them, `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds: no fraction, no offset). */
export function instant(at: Date | string): string {
  if (typeof at === "string") return at;
  if (Number.isNaN(at.getTime())) throw new TypeError("an invalid Date");
  return at.toISOString().replace(/\.\d+Z$/, "Z");
}

