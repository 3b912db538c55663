"""A local fake of Clerk's Backend API and sign-in, for tests and `make dev` only (never point production at it).

    python3 scripts/fake_clerk.py --port 0 [--latency-ms N] [--webhook-url URL --webhook-secret whsec_...]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.clerk.com (CLERK_API_BASE): JSON bodies,
`Authorization: Bearer sk_test_...`, user objects shaped like Clerk's, and Clerk's error shape
`{"errors": [{"message", "long_message", "code", "meta"}], "clerk_trace_id"}`.

Covered: GET /v1/users (`email_address`, repeatable: the users with one of those addresses, newest first),
POST /v1/users (`email_address`, `first_name`, `last_name`…; 422 `form_identifier_exists` for a taken address),
GET /v1/users/{id}, PATCH /v1/users/{id}/metadata (deep merge of public_metadata,
private_metadata and unsafe_metadata: nested objects merge recursively, a key set to null is removed,
anything else - arrays included - replaces). Unknown users answer 404 `resource_not_found`, as Clerk does:
users exist only once created through the control API. State lives in memory behind one lock.

Organizations (created, with their members and invitations, through the control API only):
GET /v1/organizations/{id or slug} (`members_count` and `pending_invitations_count` only with
`include_members_count=true`, as Clerk), PATCH /v1/organizations/{id}/metadata (public_metadata and
private_metadata, the same deep merge), GET /v1/organizations/{id}/memberships (`user_id` with `+`/`-`, `role`,
`email_address`, `username` repeatable, `query`; `order_by` created_at, email_address, first_name, last_name,
username or phone_number, `+` or `-`, default `-created_at`) and GET /v1/organizations/{id}/invitations
(`status` repeatable, `email_address`; `order_by` created_at or email_address). Both lists take `limit`
(1-500, default 10) and `offset` (>= 0), anything else answering 422 `form_param_format_invalid` naming the
parameter, and answer `{"data": [...], "total_count"}`, `total_count` counting every match whatever the page.
Memberships carry the role's permissions: Clerk's defaults (`org:admin` every `org:sys_*` system permission,
`org:member` `org:sys_memberships:read` and `org:sys_billing:read`) or a custom role's given ones.
The Backend API also writes them as Clerk does: POST /v1/organizations (`name`, `created_by` becomes its admin,
`slug`), POST /v1/organizations/{id}/memberships (`user_id`, `role`; 422 `already_a_member_in_organization`),
PATCH and DELETE /v1/organizations/{id}/memberships/{user id}.

Webhooks (Svix-signed, to --webhook-url, each in the background and retried with backoff, in Clerk's payload
shapes — see fixtures/clerk/): what the Backend API and the Frontend-like routes write sends `user.created`,
`organization.created`, `organizationMembership.created|updated|deleted`, as Clerk does for its dashboard's and
API's changes; the sign-in page's sign-ups send `user.created`. The control API sends none: it is the test's
hand, setting up state the webhooks are not about.

Sign-in, as a Clerk instance's Frontend API would do it for the demo app (no Clerk account needed):
  GET /.well-known/jwks.json, GET /v1/jwks   the RSA key made at start, as Clerk publishes it (kid, RS256, sig)
  GET /sign-in?redirect_url=URL             a plain form: email, first and last name
  POST /sign-in                             finds the user with that email, or creates one and sends Clerk's
                                            `user.created` webhook (Svix-signed) to --webhook-url in the
                                            background, retrying with backoff; then 303 to
                                            `URL#__session=<session token>`
Frontend-like routes for the signed-in page (frontend.py: what ClerkJS asks for the organization switcher;
authenticated by the session token, with CORS): GET /v1/me, GET /v1/me/organization_memberships, POST
/v1/organizations (the caller its admin), POST /v1/client/sessions/{sid}/touch (`active_organization_id`: only
an organization the user is a member of; answers the session with a fresh `last_active_token`) and POST
/v1/client/sessions/{sid}/tokens.
A session token is shaped like Clerk's: RS256, header `kid`; claims `sub`, `iss` (this fake's base URL, the
CLERK_ISSUER to give billing-api), `azp` (the origin of the redirect URL), `sid`, `iat`, `nbf` and `exp` (24 h,
for the demo; Clerk's live 60 s and are refreshed by its SDK). A session the control API makes with an active
organization also carries Clerk's v2 organization claims: `v` (2), `o` (`id`, `rol`, `slg`, and `per`/`fpm`
with `fea` for custom permissions only: system permissions are never in a token).

Control API for tests (no auth, JSON): POST /__fake/users, GET /__fake/users/{id}, POST /__fake/organizations,
GET|PATCH|DELETE /__fake/organizations/{id}, POST /__fake/organizations/{id}/memberships,
PATCH|DELETE /__fake/organizations/{id}/memberships/{userId}, POST /__fake/organizations/{id}/invitations,
DELETE /__fake/organizations/{id}/invitations/{invitationId}, POST /__fake/sessions (`orgId`), POST /__fake/fail,
GET /__fake/requests, GET /__fake/deliveries (every webhook attempt), POST /__fake/reset. See control.py. It
sends no webhooks.

The code (scripts/standins/clerk/): state.py (ids, errors, STATE behind LOCK, users' shape), organizations.py
(organizations', memberships' and invitations' shapes, roles and permissions, the v2 organization claims),
settings.py (the command line's settings), api.py (the Backend API), frontend.py (the Frontend-like routes),
control.py (the control API), signin.py (keys, session tokens, the sign-in page, sending webhooks), server.py
(the HTTP handler, CORS for the Frontend-like routes, the webhooks a request caused, the command line).
"""
