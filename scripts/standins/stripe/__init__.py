"""A local fake of the Stripe API, for tests only (never point production at it).

    python3 scripts/fake_stripe.py --port 0 [--latency-ms N] [--hosted-pages] [--retry-scale F] [--chaos]
                                   [--chaos-window S] [--delivery-workers N] [--max-attempts N]
                                   [--retry-days 3,5,7] [--dunning-final canceled|unpaid]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.stripe.com (STRIPE_API_BASE): form-encoded bodies with
nested keys (`metadata[k]=v`, `line_items[0][price]=p`, `expand[]=x`), `Authorization: Bearer sk_test_...` (any
`sk_test_` key; a restricted `rk_test_` key only when POST /__fake/restricted_keys made it, and then refused with
Stripe's 403 for what its permissions lack: keys.py),
JSON answers shaped like the API objects since 2025 "basil" (events on the pinned version,
settings.API_VERSION), Stripe's error shape and statuses, and Stripe's idempotency (replay with
`Idempotent-Replayed: true`, 400 `idempotency_error` on a key reused with other params or another endpoint,
409 while the first request with the key is still running).

Covered: customers (create, retrieve, update, delete, search by one metadata equality), subscriptions
(retrieve, list, update — cancel_at_period_end, items' prices and quantities, items added and deleted,
with `proration_behavior`; `cancel_at` is refused — cancel with `prorate`/`invoice_now`, which also cancels
the subscription's schedule), invoice previews
(`/v1/invoices/create_preview` of an existing `subscription` with `subscription_details[items]` (`[id]` +
`[price]`) and `[proration_behavior]`; or, without `subscription`, of creating one for `customer` with
`subscription_details[items][i][price]` (+ `[quantity]`, default 1) starting at `subscription_details[start_date]`
(default now, may be in the future: then `next_payment_attempt` is that date), one unprorated line per item over
one interval of its price; refused: an unknown customer or price, mixed currencies, a one-time price, neither
`subscription` nor `customer`, `start_date` with `subscription`), checkout sessions (create, retrieve, line
items), subscription schedules (POST /v1/subscription_schedules `from_subscription` only, GET|POST
/v1/subscription_schedules/{id} — `phases[i][items][j][price|quantity]`, `[start_date]`, `[end_date]`,
`end_behavior`, `metadata` — POST /v1/subscription_schedules/{id}/release; at a phase boundary the test clock
makes the subscription's items exactly the phase's: a price that stays keeps its item id, new prices get new
items, others are removed; past the last phase `release` or `cancel`; cancel_at_period_end / cancel_at on a
scheduled subscription are refused as Stripe does).
  billing portal      POST /v1/billing_portal/sessions (`customer`, `return_url`, `configuration`): a fresh
                      account has NO default configuration, so without `configuration` it is a 400 ("No
                      configuration provided and your test mode default configuration has not been created...")
                      until one is saved (POST /__fake/portal/default); a given `configuration` must exist (400
                      resource_missing, param `configuration`) and be active; the session's `configuration` is
                      the one used. POST|GET /v1/billing_portal/configurations (create makes a NON-default one,
                      `is_default: false`; list filters `is_default`, `active`), GET|POST
                      /v1/billing_portal/configurations/{id} (`features`, `metadata`, `default_return_url`,
                      `active`).
State lives in memory behind one lock.

The catalog, shaped like the 2026-09-30 API reference (lists newest first, with `limit`, `starting_after`,
`ending_before` and `has_more`):
  products            POST /v1/products (`id` of the caller's choosing optional, `name`, `active`, `description`,
                      `metadata`, ...), GET|POST /v1/products/{id}, GET /v1/products (`active`, `ids[]`).
  prices              POST /v1/prices (an existing `product`, `currency`, `unit_amount`, `recurring[interval]`,
                      `[interval_count]`, `[usage_type]`, `[meter]` — an active meter, required when metered —
                      `transform_quantity[divide_by|round]`,
                      `lookup_key` + `transfer_lookup_key`, `nickname`, `metadata`, `active`, `tax_behavior`),
                      GET /v1/prices/{id}, POST /v1/prices/{id} (`active`, `metadata`, `nickname`, `lookup_key`,
                      `transfer_lookup_key`, `tax_behavior`), GET /v1/prices (`lookup_keys[]`, `product`, `active`,
                      `type`, `currency`, `recurring[...]`). A created price works wherever a seeded one does.
  entitlements        POST|GET /v1/entitlements/features (list: `lookup_key`, `archived`; archived features are
                      listed only with `archived=true`), GET|POST /v1/entitlements/features/{id} (`name`,
                      `metadata`, `active=false` archives); POST|GET /v1/products/{id}/features
                      (`entitlement_feature`), GET|DELETE /v1/products/{id}/features/{prodft_id}.
  billing meters      POST|GET /v1/billing/meters (list: `status`), GET|POST /v1/billing/meters/{id}
                      (`display_name`), POST /v1/billing/meters/{id}/deactivate|reactivate; POST
                      /v1/billing/meter_events (checked at once, where Stripe defers some checks to its meter
                      error reports: an active meter, an existing customer, a whole-number value, an unused
                      `identifier`).
  webhook endpoints   POST|GET /v1/webhook_endpoints, GET|POST|DELETE /v1/webhook_endpoints/{id}: the signing
                      `secret` only in the create's answer; `api_version` (a date, or date.name) set at creation and
                      never changed — the update takes `description`, `disabled`, `enabled_events`, `metadata`,
                      `url` and refuses any other parameter, as Stripe's.
`expand[]` resolves customers, prices, products, subscriptions, subscription schedules, checkout sessions,
portal configurations and features by id.

Control API for tests (no auth, JSON): POST /__fake/fail, GET /__fake/requests, GET /__fake/customers,
POST /__fake/customers, POST /__fake/prices, POST /__fake/subscriptions, GET /__fake/meter_events (every
accepted `billing.meter_event`, in arrival order), POST /__fake/portal/default, POST /__fake/restricted_keys
({"permissions": {"customer": "write", "price": "read", ...}} -> {"key": "rk_test_..."}; the resources are
keys.py's), POST /__fake/reset. See control.py.
  POST /__fake/fail   {"count": 1, "status": 500, "method": "POST" (optional: any method), and at most one of
                      "path" (the exact path), "path_regex" (a Python regex the WHOLE path must match) or
                      "path_prefix" (the path starts with it; the default, "/v1", fails any request)}: the next
                      `count` /v1 requests matching it answer `status` with Stripe's error body (402 card_error,
                      429 rate_limit, 5xx api_error) and change nothing; 429 and 5xx are not stored under the
                      idempotency key. Paths never include the query string. A prefix also matches every longer
                      path: "/v1/subscription_schedules" fails the create AND every update and release, and
                      "/v1/subscription_schedules/sub_sched_X" the update AND its /release. So, to fail only:
                        any schedule's update  {"method": "POST", "path_regex": "/v1/subscription_schedules/[^/]+"}
                        one schedule's update  {"method": "POST", "path": "/v1/subscription_schedules/sub_sched_X"}
                        any release            {"method": "POST",
                                                "path_regex": "/v1/subscription_schedules/[^/]+/release"}
                        one release            {"method": "POST",
                                                "path": "/v1/subscription_schedules/sub_sched_X/release"}
                        the create             {"method": "POST", "path": "/v1/subscription_schedules"}
  POST /__fake/portal/default  saves the Dashboard's portal settings: creates the account's default
                      configuration (`is_default: true`; invoice history, payment method update, customer email
                      and address update, cancel at period end; no plan switching) the first time, updates it
                      after; the body may override fields in the API's shape as JSON ({"features":
                      {"subscription_update": {"enabled": true, "products": [{"product", "prices": [...]}]}},
                      "metadata": {...}, "default_return_url": "..."}). Answers the configuration.

Stateful like Stripe (one state machine behind the API, the pages and the clock):
  hosted Checkout     GET|POST /checkout/{session id}: the line items, the total, a card input `#card`
                      (4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined at once; 4000 0000 0000 0341
                      attaches but every charge fails), buttons `#pay`, `#decline`, `#back` (303 to cancel_url).
                      Paying creates what Stripe creates (subscription + paid `subscription_create` invoice +
                      payment intent, or a succeeded payment intent) and answers 303 to success_url.
  billing portal      GET|POST /portal/{portal session id}: the live subscription, `button[data-price=<lookup
                      key>]` per other recurring price the session's configuration offers (its
                      `subscription_update` products and prices; none when disabled; prorated switch), `#cancel`
                      (when `subscription_cancel` is enabled) / `#resume`, `#card-failing` / `#card-ok` (new
                      default card; when `payment_method_update` is enabled), `#pay-invoice` (an open invoice),
                      `a#return`.
  Sessions' `url` point at those pages with --hosted-pages (or FAKE_STRIPE_HOSTED_PAGES=1); without it they keep
  the checkout.stripe.com / billing.stripe.com shapes the Rust tests check (the pages are served either way).
  events              every state change is an Event (GET /v1/events, /v1/events/{id}, GET /__fake/events),
                      delivered like `stripe listen` to each target of POST /__fake/listen {"url", "secret"}:
                      a worker per target, in order (--delivery-workers N: N at once, as Stripe sends them;
                      --chaos: each twice, each copy up to --chaos-window seconds late, 0.3 by default),
                      signed `Stripe-Signature: t=..,v1=..`, non-2xx or
                      connection errors retried after 1, 2, 4 ... (max 30) s x --retry-scale, --max-attempts (8)
                      in all; every attempt is logged to stderr and listed at GET /__fake/deliveries.
  test clock          GET /__fake/clock; POST /__fake/clock/advance {"days", "seconds"} moves `now()` and runs
                      what falls due, in time order: trial_will_end (3 days before), renewals (a
                      `subscription_cycle` invoice charged to the card), dunning retries (--retry-days after each
                      failed attempt, then --dunning-final), period-end cancellations, session expiry.
  also                GET /v1/invoices, /v1/invoices/{id}, POST /v1/invoices/{id}/pay, GET /v1/payment_intents/{id},
                      GET /v1/payment_methods/{id}.

The code, by area (scripts/standins/stripe/):
  state.py            ids, the clock's time, Stripe's errors, STATE (behind LOCK), the idempotency store, object shapes
  settings.py         the command line's settings and the constants
  forms.py            form decoding, parameter checks, list answers with cursors, `expand[]`
  resources/          the /v1 resources, one module per area (customers, products, prices, meters, subscriptions,
                      schedules, invoices, previews, payments, checkout_sessions, portal, webhook_endpoints)
  events.py           events and their delivery to the POST /__fake/listen targets
  checkout.py         what paying a hosted Checkout session creates
  clock.py            the test clock
  pages.py            the hosted pages' HTML and actions
  api.py              the /v1 routes, authentication, idempotency, injected failures
  keys.py             restricted keys: each resource's permission, Stripe's 403 for a missing one
  control.py          the control API (/__fake/...)
  server.py           the HTTP handler and the command line
"""
