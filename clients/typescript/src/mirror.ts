// The zero-call check (docs/usage.md, "The zero-call check"): the entitlement processor mirrors a compact copy of
// the entitlements into Clerk's `publicMetadata.billing` (a user's, or an organization's), every key present; a
// session token template adds it to the claims, e.g. `{"billing": "{{user.public_metadata.billing}}"}`.
import type { Entitlements, ScheduledChange } from "./types.js";

/** `publicMetadata.billing`, as the processor writes it. `credits` is the balance after the last purchase only. */
export interface BillingMirror {
  plan: string;
  status: Entitlements["status"];
  features: string[];
  limits: Entitlements["limits"];
  credits: number;
  periodEnd: string | null;
  graceUntil: string | null;
  scheduledChange: ScheduledChange | null;
}

export interface MirrorOptions {
  /** The claim the session token template puts the user's mirror in. Default `billing`. */
  claim?: string;
  /**
   * The claim holding the active organization's mirror (a template such as
   * `{"orgBilling": "{{org.public_metadata.billing}}"}`). Without it, a session with an active organization has no
   * mirror here: the user's own `billing` is not the organization's.
   */
  orgClaim?: string;
  /** For tests: the time now. */
  now?: number;
}

/**
 * The mirror in a session's claims, or null when there is none to trust: no claim, not the subject the session
 * acts for, or out of date (a grace period or a canceling plan whose end has passed reads as the free plan
 * before the hourly sweep rewrites the mirror — ask `GET /entitlements` then).
 */
export function mirrorFromClaims(claims: unknown, options: MirrorOptions = {}): BillingMirror | null {
  if (typeof claims !== "object" || claims === null) return null;
  const c = claims as Record<string, unknown>;
  const o = c.o as { id?: unknown } | undefined;
  const org = (typeof o === "object" && o !== null && typeof o.id === "string" ? o.id : undefined) ?? c.org_id;
  const name = org ? options.orgClaim : (options.claim ?? "billing");
  if (!name) return null;
  let value = c[name];
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!isMirror(value)) return null;
  const now = options.now ?? Date.now();
  const passed = (t: string | null) => t !== null && Date.parse(t) <= now;
  if (value.status === "past_due" && passed(value.graceUntil)) return null;
  if (value.status === "canceling" && passed(value.periodEnd)) return null;
  return value;
}

function isMirror(v: unknown): v is BillingMirror {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    typeof m.plan === "string" &&
    typeof m.status === "string" &&
    Array.isArray(m.features) &&
    m.features.every((f) => typeof f === "string") &&
    typeof m.limits === "object" &&
    m.limits !== null
  );
}
