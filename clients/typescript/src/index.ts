// @entitle/client: billing-api from the browser (the signed-in user's plans, entitlements, usage, Checkout, portal
// and subscription changes). The server side is @entitle/client/server; React components are @entitle/client/react.
export { createBillingClient, newIdempotencyKey } from "./billing.js";
export type { BillingClient, BillingClientOptions, ChangeOptions, GetOptions, PostOptions, TokenGetter } from "./billing.js";
export { mirrorFromClaims, type BillingMirror, type MirrorOptions } from "./mirror.js";
export {
  describeLimit,
  describeStatus,
  featureDescription,
  featureName,
  formatAmount,
  formatCount,
  formatDate,
  formatLimit,
  limitName,
  limitUnit,
  type FormatOptions,
  type WordSources,
} from "./format.js";
export * from "./errors.js";
export type * from "./types.js";
export type { TransportOptions } from "./http.js";
