// Names for the generated types of docs/openapi.yaml (src/generated/openapi.ts, never edited by hand).
import type { components, operations } from "./generated/openapi.js";

export type { components, operations, paths } from "./generated/openapi.js";

type Schemas = components["schemas"];
type Json<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** A Clerk user (`user_…`) or organization (`org_…`). */
export type SubjectId = Schemas["SubjectId"];
/** A Clerk user (`user_…`). */
export type UserId = Schemas["UserId"];
/** An RFC 3339 UTC instant, `2026-11-22T10:00:00Z`. */
export type Timestamp = Schemas["Timestamp"];
/** A number, or `"unlimited"`. */
export type Limit = Schemas["Limit"];

export type Entitlements = Schemas["Entitlements"];
export type Status = Entitlements["status"];
export type Addon = NonNullable<Entitlements["addons"]>[number];
export type ScheduledChange = Schemas["ScheduledChange"];

export type Plans = Schemas["Plans"];
export type Plan = Plans["plans"][number];
export type CreditPack = Plans["creditPacks"][number];
export type CatalogPrice = Schemas["CatalogPrice"];
export type LimitDeclaration = Plans["limits"][string];
/** A feature's display name and description (`GET /plans`' `features`). */
export type FeatureWords = Schemas["FeatureWords"];
/** What a limit counts, `{one: "agent", other: "agents"}` (`Intl.PluralRules` categories). */
export type Unit = Schemas["Unit"];
/** An entitlements answer's `words`: names of the features and limits it grants. */
export type EntitlementWords = Schemas["EntitlementWords"];

export type UsageList = Schemas["UsageList"];
export type UsageItem = Schemas["UsageItem"];
export type MemberUsage = Schemas["MemberUsage"];
export type Decision = Schemas["Decision"];
export type Kind = Schemas["Kind"];
export type RefusalReason = NonNullable<Decision["reason"]>;

export type Checkout = Schemas["Checkout"];
export type CheckoutRequest = Schemas["CheckoutRequest"];
export type Portal = Schemas["Portal"];
export type PortalRequest = Schemas["PortalRequest"];
export type CancelRequest = Schemas["CancelRequest"];
export type ChangeRequest = Json<"changeSubscription">;
export type SubscriptionState = Schemas["SubscriptionState"];
export type StoppedItem = Schemas["StoppedItem"];
export type ChangePreview = Schemas["ChangePreview"];
export type SubscriptionChange = Schemas["SubscriptionChange"];

export type History = Schemas["History"];
export type HistoryVersion = History["versions"][number];
export type EntitlementsAt = Schemas["EntitlementsAt"];
export type Provenance = Schemas["Provenance"];
export type Explanation = Schemas["Explanation"];
export type CreditsLedger = Schemas["CreditsLedger"];
export type CreditsMovement = CreditsLedger["movements"][number];

/** Every error's body: `{"error": {"code", "message"}}`. */
export type ErrorBody = Schemas["Error"];
