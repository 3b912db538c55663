// Words for people: statuses, dates, amounts and limits, with Intl (no locale data shipped).
import type { Entitlements, Limit } from "./types.js";

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

/** The status in words: `Active`, `Trial until Dec 22, 2026`, `Payment failed: plan kept until …`, `Ends on …`. */
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
      return e.periodEnd ? `Ends on ${date(e.periodEnd)}` : "Ending at the period end";
    default:
      return String(e.status);
  }
}
