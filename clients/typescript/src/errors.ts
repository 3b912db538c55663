// Typed errors, one class per thing a caller does differently. Every error of the API is
// `{"error": {"code", "message"}}` (docs/openapi.yaml); a refused usage request is a `200` with `allowed: false` and a
// `reason` (docs/usage.md), which `consume` and `hold` turn into a `Refused` error.
import type { Decision } from "./types.js";

/** Where an error came from: the request that was answered (or not). */
export interface RequestInfo {
  method: string;
  path: string;
}

export interface EntitleErrorInit {
  status: number;
  code: string;
  message: string;
  body?: unknown;
  request?: RequestInfo;
  /** From `Retry-After`, in milliseconds, when the answer had one. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** Every error this package throws. `code` is the API's stable `error.code` (or `reason` for a refusal). */
export class EntitleError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: unknown;
  readonly request?: RequestInfo;
  readonly retryAfterMs?: number;

  constructor(init: EntitleErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.body = init.body;
    this.request = init.request;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** 400 and 413: the request itself is wrong (`unknown_feature`, `invalid_amount`, `unknown_price`, `contact_sales`, …). */
export class BadRequest extends EntitleError {}
/** 401: no session token, an expired or refused one, or a bad server key. */
export class Unauthorized extends EntitleError {}
/** 403: `billing_permission_required`, `not_a_member`, `user_deleted`. */
export class Forbidden extends EntitleError {}
/** 404: `no_customer`, `no_subscription`, `hold_not_found`, `not_found`. */
export class NotFound extends EntitleError {}
/** 409: the state does not allow it (`no_plan_item`, `plan_change_unsupported`, …). */
export class Conflict extends EntitleError {}
/** 409 `idempotency_conflict`: the idempotency key was used before with another body (or route). Never retried. */
export class IdempotencyConflict extends Conflict {}
/** 409 `subscription_exists`: a live plan already; change it with `changePlan` (or the portal). */
export class SubscriptionExists extends Conflict {}
/** 409 `subscription_ended`: nothing to resume or change; start a new checkout. */
export class SubscriptionEnded extends Conflict {}
/** 409 `hold_settled`: the hold was committed or released otherwise. */
export class HoldSettled extends Conflict {}
/** 409 `hold_expired`: the hold expired and no longer counts. */
export class HoldExpired extends Conflict {}
/** 502: Stripe refused (`payment_provider_error`, `price_unavailable`); retrying will not help. */
export class PaymentProviderError extends EntitleError {}
/** 5xx (but 502), 429, a timeout or no answer at all, after the retries: try again later (`retryAfterMs`). */
export class Unavailable extends EntitleError {}

/** A usage request answered `allowed: false` (a normal `200`: nothing was recorded). `decision` is the answer. */
export class Refused extends EntitleError {
  readonly decision: Decision;
  constructor(decision: Decision, request?: RequestInfo) {
    const reason = decision.reason ?? "refused";
    super({
      status: 200,
      code: reason,
      message: `${decision.feature}: ${reason.replaceAll("_", " ")} (used ${decision.used}, limit ${decision.limit ?? "none"})`,
      body: decision,
      request,
    });
    this.decision = decision;
  }
}
/** `limit_exceeded`: the plan's limit (with its add-ons) is reached. */
export class LimitExceeded extends Refused {}
/** `member_limit_exceeded`: the organization's pool has room, the member's own cap (`decision.member`) does not. */
export class MemberLimitExceeded extends LimitExceeded {}
/** `insufficient_credits`: the credits balance (less live holds) is below the amount. */
export class InsufficientCredits extends Refused {}
/** `not_in_plan`: neither the plan nor an add-on grants this feature or limit. */
export class NotInPlan extends Refused {}

/** The error for a refused decision, by its `reason`. */
export function refusal(decision: Decision, request?: RequestInfo): Refused {
  switch (decision.reason) {
    case "limit_exceeded":
      return new LimitExceeded(decision, request);
    case "member_limit_exceeded":
      return new MemberLimitExceeded(decision, request);
    case "insufficient_credits":
      return new InsufficientCredits(decision, request);
    case "not_in_plan":
      return new NotInPlan(decision, request);
    default:
      return new Refused(decision, request);
  }
}

/** The error for an HTTP answer that is not 2xx, by status and `error.code`. */
export function errorFromResponse(init: EntitleErrorInit): EntitleError {
  const { status, code } = init;
  if (status === 409) {
    switch (code) {
      case "idempotency_conflict":
        return new IdempotencyConflict(init);
      case "subscription_exists":
        return new SubscriptionExists(init);
      case "subscription_ended":
        return new SubscriptionEnded(init);
      case "hold_settled":
        return new HoldSettled(init);
      case "hold_expired":
        return new HoldExpired(init);
      default:
        return new Conflict(init);
    }
  }
  if (status === 400 || status === 413) return new BadRequest(init);
  if (status === 401) return new Unauthorized(init);
  if (status === 403) return new Forbidden(init);
  if (status === 404) return new NotFound(init);
  // The functions' own 502 (Stripe refused) has an error body; a bare 502 is the gateway's: the function failed.
  if (status === 502 && hasErrorBody(init.body)) return new PaymentProviderError(init);
  if (status === 429 || status >= 500) return new Unavailable(init);
  return new EntitleError(init);
}

/** Whether a body is the API's own error shape, `{"error": {"code", "message"}}`. */
export function hasErrorBody(body: unknown): body is { error: { code: string; message: string } } {
  if (typeof body !== "object" || body === null) return false;
  const error = (body as { error?: unknown }).error;
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string";
}
