// "What your plan includes": every feature of the catalog in its words (GET /plans' `features`), each marked
// by the package's React <PlanGate> — included or not — for the subject the session acts for. The page hands
// the provider what it already read (`initial`: the entitlements and the catalog), so the gates render with no
// request of their own; the provider is keyed by the entitlements' version, so a change re-renders them.
import { createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { EntitleProvider, PlanGate } from "@entitle/client/react";
import { featureDescription, featureName } from "@entitle/client";

let root = null;

export function mountFeatures(container, { client, catalog, entitlements }) {
  if (!container) return;
  root ??= createRoot(container);
  if (!catalog || !entitlements) {
    root.render(null);
    return;
  }
  const from = { plans: catalog, words: entitlements.words };
  const ids = Object.keys(catalog.features ?? {});
  const key = `${entitlements.userId}:${entitlements.updatedAt ?? ""}:${entitlements.features.join(",")}`;
  root.render(
    h(
      EntitleProvider,
      { key, client, initial: { entitlements, plans: catalog }, locale: "en-US" },
      h(
        "ul",
        { className: "feature-list" },
        ids.map((id) =>
          h(
            "li",
            { key: id, id: `feature-${id}`, className: "feature" },
            h("span", { className: "feature-name" }, featureName(id, from)),
            h("span", { className: "feature-description" }, featureDescription(id, from)),
            h(
              PlanGate,
              { feature: id, fallback: h("span", { className: "feature-state not-included" }, "Not in your plan") },
              h("span", { className: "feature-state included" }, "Included"),
            ),
          ),
        ),
      ),
    ),
  );
}
