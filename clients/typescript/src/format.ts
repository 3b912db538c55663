// Words for people: statuses, dates, amounts and limits, with Intl (no locale data shipped).
import type { EntitlementWords, Entitlements, Limit, Plans, Unit } from "./types.js";

export interface FormatOptions {
  /** A BCP 47 locale; default the runtime's. */
  locale?: string;
  /** An IANA time zone for dates; default the runtime's (set it when rendering on a server). */
  timeZone?: string;
}

/** `2026-12-22T10:00:00Z` → `Dec 22, 2026` (in the locale). */
export function formatDate(at: string | null | undefined, options: FormatOptions = {}): string {
  if (!at) return "";
  const t = new Date(at);
  if (Number.isNaN(t.getTime())) return at;
  return new Intl.DateTimeFormat(options.locale, { dateStyle: "medium", timeZone: options.timeZone }).format(t);
}

/** An amount in the currency's smallest unit (Stripe's), e.g. 4900 usd → `$49`, 4950 → `$49.50`, 500 jpy → `¥500`. */
export function formatAmount(amount: number, currency: string, options: FormatOptions = {}): string {
  const code = currency.toUpperCase();
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions()
    .maximumFractionDigits ?? 2;
  const units = amount / 10 ** digits;
  return new Intl.NumberFormat(options.locale, {
    style: "currency",
    currency: code,
    minimumFractionDigits: Number.isInteger(units) ? 0 : digits,
    maximumFractionDigits: digits,
  }).format(units);
}

/** `1000` → `1,000`; `"unlimited"` → `Unlimited`. */
export function formatLimit(limit: Limit | null | undefined, options: FormatOptions = {}): string {
  if (limit === "unlimited") return "Unlimited";
  if (limit === null || limit === undefined) return "";
  return new Intl.NumberFormat(options.locale).format(limit);
}

type StatusFields = Pick<Entitlements, "status" | "periodEnd" | "graceUntil"> & { trialEnd?: string | null };

/**
 * The status in words: `Free`, `Active`, `Trial until Dec 22, 2026`, `Payment failed: plan kept until …`,
 * `Cancels at period end on …`.
 */
export function describeStatus(e: StatusFields, options: FormatOptions = {}): string {
  const date = (t: string | null | undefined) => formatDate(t, options);
  switch (e.status) {
    case "free":
      return "Free";
    case "active":
      return "Active";
    case "trialing":
      return e.trialEnd ? `Trial until ${date(e.trialEnd)}` : "Trial";
    case "past_due":
      return e.graceUntil ? `Payment failed: plan kept until ${date(e.graceUntil)}` : "Payment failed";
    case "canceling":
      return e.periodEnd ? `Cancels at period end on ${date(e.periodEnd)}` : "Cancels at period end";
    default:
      return String(e.status);
  }
}

// ------------------------------------------------------------------------------------------------- words

/**
 * Where the catalog's words come from: `GET /plans` (names, descriptions, units) and/or an entitlements answer's
 * `words` (names and units of what it grants). Either may be missing; an id without words is shown as itself.
 */
export interface WordSources {
  plans?: Plans | null;
  words?: EntitlementWords | null;
}

/** A feature's display name (`api_access` → `API access`), or its id when the catalog has no words for it. */
export function featureName(id: string, from: WordSources = {}): string {
  return from.plans?.features?.[id]?.name ?? from.words?.features?.[id] ?? id;
}

/** A feature's description from `GET /plans`, or `""`. */
export function featureDescription(id: string, from: WordSources = {}): string {
  return from.plans?.features?.[id]?.description ?? "";
}

/** A limit's display name (`messages_per_day` → `Messages a day`), or its id. */
export function limitName(id: string, from: WordSources = {}): string {
  return from.plans?.limits?.[id]?.name ?? from.words?.limits?.[id]?.name ?? id;
}

/** A limit's unit (`{one: "agent", other: "agents"}`), when the catalog gives one. */
export function limitUnit(id: string, from: WordSources = {}): Unit | null {
  return from.plans?.limits?.[id]?.unit ?? from.words?.limits?.[id]?.unit ?? null;
}

/** `3` agents → `3 agents`, `1` → `1 agent` (the plural form by `Intl.PluralRules`). */
export function formatCount(n: number, unit: Unit, options: FormatOptions = {}): string {
  const form = new Intl.PluralRules(options.locale ?? "en").select(n) === "one" ? unit.one : unit.other;
  return `${formatLimit(n, options)} ${form}`;
}

const RESETS: Record<string, string> = { day: " a day", month: " a month", billing_period: " per billing period" };

/**
 * A plan's limit as a card lists it: `10 agents`, `1,000 messages a day`, `Unlimited agents`; without words,
 * `messages_per_day: 1,000`.
 */
export function describeLimit(id: string, value: Limit, from: WordSources = {}, options: FormatOptions = {}): string {
  const unit = limitUnit(id, from);
  if (!unit) return `${limitName(id, from)}: ${formatLimit(value, options)}`;
  const resets = RESETS[from.plans?.limits?.[id]?.resets ?? ""] ?? "";
  const counted = value === "unlimited" ? `Unlimited ${unit.other}` : formatCount(value, unit, options);
  return counted + resets;
}
