#!/usr/bin/env node
// test/fixtures/ from a run's recordings: one sample of each kind of answer (route or path, status, error code,
// refusal reason, the shape of the answer), copied as recorded (crates/test-support/src/http.rs writes them).
//   node scripts/pick-fixtures.mjs [SAMPLES_DIR]     default ../../.local/samples; replaces test/fixtures/{api,usage-api}
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const from = resolve(here, process.argv[2] ?? process.env.SAMPLES_DIR ?? "../../.local/samples");
const to = join(here, "test/fixtures");

function shape(body) {
  if (body === null || typeof body !== "object") return "none";
  if ("error" in body) return body.error.code;
  if ("allowed" in body) {
    if (!body.allowed) return `refused-${body.reason}`;
    return body.overage !== undefined ? "overage" : body.usageId !== undefined ? "hold" : body.member ? "member" : "allowed";
  }
  if ("preview" in body) return "preview";
  if (typeof body.status === "string") {
    const marks = [body.addons && "addons", body.scheduledChange && "scheduled", body.resumed?.length && "resumed"];
    return [body.status, ...marks.filter(Boolean)].join("-");
  }
  if ("version" in body) return body.explain ? "at-explain" : "at";
  return "ok";
}

const kinds = {
  api: (s) => `${s.route}-${s.status}-${shape(s.body)}`,
  "usage-api": (s) => {
    const url = new URL(s.path, "http://recorded");
    const path = url.pathname.replace(/\/u_[^/]+/, "/hold").replaceAll("/", "_").replace(/^_/, "");
    const query = [...url.searchParams.keys()].sort().join("+");
    return `${s.method}-${path}${query ? `-${query}` : ""}-${s.status}-${shape(s.body)}`;
  },
};

let total = 0;
for (const [kind, key] of Object.entries(kinds)) {
  const dir = join(from, kind);
  const picked = new Map();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const sample = JSON.parse(readFileSync(join(dir, file), "utf8"));
    const k = key(sample).replace(/[^A-Za-z0-9_+.-]/g, "_");
    if (!picked.has(k)) picked.set(k, sample);
  }
  rmSync(join(to, kind), { recursive: true, force: true });
  mkdirSync(join(to, kind), { recursive: true });
  for (const [k, sample] of picked) writeFileSync(join(to, kind, `${k}.json`), `${JSON.stringify(sample, null, 1)}\n`);
  console.log(`${kind}: ${picked.size} fixtures`);
  total += picked.size;
}
console.log(`test/fixtures: ${total} from ${from}`);
