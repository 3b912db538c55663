// Recorded responses and a fake fetch that answers them.
//
// The Rust tests record every billing-api and usage-api answer they receive when run with SAMPLES_DIR
// (crates/test-support/src/http.rs): `$SAMPLES_DIR/api/*.json` is `{route, status, body}` (route: the last path
// segment, `subscription_<action>` for the subscription routes), `$SAMPLES_DIR/usage-api/*.json` is
// `{method, path, status, body}` (the path as requested, query included). test/fixtures/ holds a representative
// copy of them (scripts/pick-fixtures.mjs), so the tests run without the Rust side.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE = dirname(dirname(fileURLToPath(import.meta.url)));
export const FIXTURES = join(PACKAGE, "test/fixtures");
/** The recordings of the last `make test-rust`: SAMPLES_DIR, default the repository's .local/samples. */
export const SAMPLES = resolve(PACKAGE, process.env.SAMPLES_DIR || "../../.local/samples");

/** Every sample of `kind` (`api` or `usage-api`) in `dir`, sorted by file name, with `file` added. */
export function loadSamples(dir, kind) {
  const sub = join(dir, kind);
  if (!existsSync(sub)) return [];
  return readdirSync(sub)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ ...JSON.parse(readFileSync(join(sub, f), "utf8")), file: join(kind, f) }));
}

/** The first fixture of `kind` that `predicate` accepts (a structured clone: tests may change it). */
export function fixture(kind, predicate) {
  const found = loadSamples(FIXTURES, kind).find(predicate);
  if (!found) throw new Error(`no ${kind} fixture matches ${predicate}`);
  return structuredClone(found);
}

export function jsonResponse(status, body, headers = {}) {
  const text = body === null || body === undefined ? null : JSON.stringify(body);
  return new Response(status === 304 ? null : text, {
    status,
    headers: { ...(text ? { "content-type": "application/json" } : {}), ...headers },
  });
}

/**
 * A fetch that answers from `answer(request)` (a `{status, body, headers}` or a function throwing for no answer),
 * keeping every request it was sent: `{method, url, path, query, headers, body}`.
 */
export function fakeFetch(answer) {
  const calls = [];
  const f = async (url, init = {}) => {
    const u = new URL(url);
    const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const call = {
      method: init.method ?? "GET",
      url,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const a = await answer(call, calls.length);
    return jsonResponse(a.status, a.body, a.headers);
  };
  f.calls = calls;
  return f;
}

export const noSleep = async () => {};
export const BASE = "https://api.example.test/prod";
